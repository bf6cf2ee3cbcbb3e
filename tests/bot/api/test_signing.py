"""Request signing (seed 9.1): keys with a signing secret must sign POSTs and ``/security`` requests; valid,
missing, stale, replayed and wrongly keyed signatures; the documented worked example; the replay guards."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest
from redis.exceptions import RedisError

from psa_chatops.bot import keys
from psa_chatops.bot.api import keys as api_keys
from psa_chatops.bot.api import signing
from psa_chatops.bot.api.redis_client import make_redis_client
from psa_chatops.storage.api_keys import new_signing_secret
from tests.bot.api.conftest import Api
from tests.conftest import FrozenClock

ALERTS = "/api/v1/security/alerts"
DOCUMENT = {
    "provider": "RocketCyber",
    "alert_id": "RC-2025-1234",
    "severity": "high",
    "threat_type": "ransomware",
    "affected_asset": "WS-CLIENT-042",
    "customer_id": "CUST-789",
}
REDIS_URL = os.environ.get("PSA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def signed_key(api: Api, secret: str, *scopes: str) -> str:
    created = await api.app[api_keys.API_KEYS].create(
        name="soc",
        scopes=list(scopes or ("alerts:write", "tickets:read")),
        created_by="technician:alice",
        now=api.app[keys.CLOCK].now(),
        signing_secret=secret,
    )
    key: str = created.secret
    return key


def signed(key: str, secret: str, body: bytes, timestamp: int, **extra: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "X-PSA-Timestamp": str(timestamp),
        "X-PSA-Signature": signing.sign(secret, timestamp, body),
        **extra,
    }


def body_of(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


async def problem_type(response: Any) -> str:
    body = await response.json()
    return str(body["type"].rsplit("/", 1)[1])


def test_the_worked_example_in_the_docs_is_right() -> None:
    assert signing.sign(signing.WORKED_SECRET, signing.WORKED_TIMESTAMP, signing.WORKED_BODY) == (
        "v1=e91a6f05e611191627b0c8fc017f03992bd264c735ab448cf6ca111041f19a71"
    )
    assert signing.WORKED_SIGNATURE in signing.describe()


async def test_the_openapi_description_explains_signing(api: Api) -> None:
    document = await (await api.client.get("/api/v1/openapi.json")).json()

    assert signing.WORKED_SIGNATURE in document["info"]["description"]
    assert "signature-replayed" in json.dumps(document["components"]["schemas"]["Problem"])


async def test_a_valid_signature_passes(api: Api, clock: FrozenClock) -> None:
    secret = new_signing_secret()
    key, body = await signed_key(api, secret), body_of(DOCUMENT)

    response = await api.client.post(ALERTS, data=body, headers=signed(key, secret, body, int(clock.now().timestamp())))

    assert response.status == 201, await response.text()


async def test_a_timestamp_within_the_tolerance_passes(api: Api, clock: FrozenClock) -> None:
    secret = new_signing_secret()
    key, body = await signed_key(api, secret), body_of(DOCUMENT)
    stamp = int(clock.now().timestamp()) - 300

    response = await api.client.post(ALERTS, data=body, headers=signed(key, secret, body, stamp))

    assert response.status == 201


@pytest.mark.parametrize("skew", [-301, 301])
async def test_a_stale_or_future_signature_is_refused(api: Api, clock: FrozenClock, skew: int) -> None:
    secret = new_signing_secret()
    key, body = await signed_key(api, secret), body_of(DOCUMENT)

    response = await api.client.post(
        ALERTS, data=body, headers=signed(key, secret, body, int(clock.now().timestamp()) + skew)
    )

    assert response.status == 401
    assert await problem_type(response) == "signature-expired"


async def test_a_replayed_signature_is_refused(api: Api, clock: FrozenClock) -> None:
    secret = new_signing_secret()
    key, body = await signed_key(api, secret), body_of(DOCUMENT)
    headers = signed(key, secret, body, int(clock.now().timestamp()))

    first = await api.client.post(ALERTS, data=body, headers=headers)
    clock.advance(seconds=10)
    replay = await api.client.post(ALERTS, data=body, headers=headers)
    fresh = await api.client.post(ALERTS, data=body, headers=signed(key, secret, body, int(clock.now().timestamp())))

    assert first.status == 201
    assert replay.status == 401
    assert await problem_type(replay) == "signature-replayed"
    assert fresh.status == 200  # a new signature of the same alert: a duplicate, answered normally


async def test_a_wrong_secret_or_a_changed_body_is_refused(api: Api, clock: FrozenClock) -> None:
    secret = new_signing_secret()
    key, body = await signed_key(api, secret), body_of(DOCUMENT)
    now = int(clock.now().timestamp())

    wrong = await api.client.post(ALERTS, data=body, headers=signed(key, new_signing_secret(), body, now))
    tampered = body_of({**DOCUMENT, "severity": "low"})
    changed = await api.client.post(ALERTS, data=tampered, headers=signed(key, secret, body, now))
    garbage = await api.client.post(
        ALERTS, data=body, headers={**signed(key, secret, body, now), "X-PSA-Signature": "v1=zz"}
    )

    for response in (wrong, changed, garbage):
        assert response.status == 401
        assert await problem_type(response) == "invalid-signature"


async def test_missing_headers_are_refused_and_a_bad_timestamp_too(api: Api, clock: FrozenClock) -> None:
    secret = new_signing_secret()
    key, body = await signed_key(api, secret, "alerts:write", "tickets:read"), body_of(DOCUMENT)
    plain = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    missing = await api.client.post(ALERTS, data=body, headers=plain)
    read = await api.client.get(ALERTS, headers=plain)  # every request under /security must be signed
    stamp = await api.client.post(
        ALERTS, data=body, headers=signed(key, secret, body, 0, **{"X-PSA-Timestamp": "soon"})
    )

    assert missing.status == 401
    assert await problem_type(missing) == "signature-required"
    assert read.status == 401
    assert await problem_type(read) == "signature-required"
    assert stamp.status == 401
    assert await problem_type(stamp) == "invalid-signature"


async def test_other_reads_of_a_signing_key_need_no_signature(api: Api) -> None:
    key = await signed_key(api, new_signing_secret())

    response = await api.client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {key}"})

    assert response.status == 200


async def test_keys_without_a_secret_need_no_signature(api: Api) -> None:
    response = await api.client.post(ALERTS, json=DOCUMENT, headers=await api.auth("alerts:write"))

    assert response.status == 201


async def test_a_signed_get_under_security_passes(api: Api, clock: FrozenClock) -> None:
    secret = new_signing_secret()
    key = await signed_key(api, secret, "alerts:read")

    response = await api.client.get(ALERTS, headers=signed(key, secret, b"", int(clock.now().timestamp())))

    assert response.status == 200


async def test_the_secret_is_never_in_a_records_repr(api: Api) -> None:
    secret = new_signing_secret()
    key = await signed_key(api, secret)
    record = await api.app[api_keys.API_KEYS].authenticate(key)

    assert record is not None
    assert record.signing_secret == secret
    assert secret not in repr(record)


async def test_rotating_the_secret_takes_the_old_one_out(api: Api, clock: FrozenClock) -> None:
    store = api.app[api_keys.API_KEYS]
    old, new = new_signing_secret(), new_signing_secret()
    key = await signed_key(api, old)
    record = await store.authenticate(key)
    assert record is not None

    assert await store.set_signing_secret(record.id, new)
    api.app[api_keys.DEPS].key_cache.clear()  # the gateway trusts a verified key for 30 s
    body, now = body_of(DOCUMENT), int(clock.now().timestamp())
    stale = await api.client.post(ALERTS, data=body, headers=signed(key, old, body, now))
    fresh = await api.client.post(ALERTS, data=body, headers=signed(key, new, body, now))

    assert (stale.status, fresh.status) == (401, 201)


async def test_the_memory_guard_forgets_after_the_ttl() -> None:
    guard = signing.MemoryReplayGuard(max_entries=2)

    assert await guard.first_use("a", ttl=600, now=0.0)
    assert not await guard.first_use("a", ttl=600, now=599.0)
    assert await guard.first_use("a", ttl=600, now=601.0)
    for name in "bcd":
        assert await guard.first_use(name, ttl=600, now=700.0)
    await guard.close()


async def test_replicas_share_the_redis_guard() -> None:
    client = make_redis_client(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (start it with `redis-server --daemonize yes`): {exc}")
    prefix = f"psa:test:{uuid.uuid4().hex}:"
    one = signing.RedisReplayGuard(client, prefix)
    two = signing.RedisReplayGuard(make_redis_client(REDIS_URL), prefix)
    try:
        assert await one.first_use("k:sig", ttl=600, now=0.0)
        assert not await two.first_use("k:sig", ttl=600, now=0.0)
    finally:
        await one.close()
        await two.close()


async def test_the_redis_guard_falls_back_to_memory_when_redis_is_down(closed_port: int) -> None:
    guard = signing.RedisReplayGuard(make_redis_client(f"redis://127.0.0.1:{closed_port}/0"))
    try:
        assert await guard.first_use("k:sig", ttl=600, now=0.0)
        assert not await guard.first_use("k:sig", ttl=600, now=1.0)
    finally:
        await guard.close()
