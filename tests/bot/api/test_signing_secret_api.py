"""An API key's request-signing secret over REST v1: asked for when the key is created, rotated and removed by an
admin, each shown once and taking effect at once; reads show only whether a key signs."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from psa_chatops.bot.api import keys as api_keys
from tests.bot.api.conftest import Api
from tests.bot.api.test_admin_api import create_key
from tests.bot.api.test_directory_api import PROBLEM, V1, get
from tests.bot.api.test_signing import ALERTS, DOCUMENT, body_of, problem_type, signed
from tests.conftest import FrozenClock

SOC_KEY = {"name": "SOC forwarder", "scopes": ["alerts:write"], "customer_ids": None}


def secret_path(key_id: str) -> str:
    return f"{V1}/api-keys/{key_id}/signing-secret"


async def send_alert(api: Api, clock: FrozenClock, key: str, secret: str | None, alert_id: str) -> Any:
    """POST one new alert as ``key``: signed with ``secret``, or unsigned when it is None. Its own threat type, so
    it is not correlated with the test's earlier alerts: every accepted one opens a ticket (201)."""
    body = body_of({**DOCUMENT, "alert_id": alert_id, "threat_type": f"ransomware {alert_id}"})
    if secret is None:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    else:
        headers = signed(key, secret, body, int(clock.now().timestamp()))
    return await api.client.post(ALERTS, data=body, headers=headers)


async def rotate(api: Api, admin: dict[str, str], key_id: str) -> dict[str, Any]:
    response = await api.client.post(secret_path(key_id), headers=admin)
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    rotated: dict[str, Any] = await response.json()
    return rotated


async def test_a_key_created_with_a_signing_secret_must_sign(api: Api, clock: FrozenClock) -> None:
    admin = await api.auth("admin")
    created, key = await create_key(api, admin, **SOC_KEY, signing_secret=True)
    secret = created["signing_secret"]

    signed_alert = await send_alert(api, clock, key, secret, "RC-1")
    unsigned = await send_alert(api, clock, key, None, "RC-2")

    assert isinstance(secret, str)
    assert len(secret) >= 43  # 256 random bits, URL-safe
    assert created["signing"] is True
    assert signed_alert.status == 201, await signed_alert.text()
    assert unsigned.status == 401
    assert await problem_type(unsigned) == "signature-required"


async def test_a_key_created_without_one_has_none(api: Api, clock: FrozenClock) -> None:
    admin = await api.auth("admin")
    created, key = await create_key(api, admin, **SOC_KEY)

    unsigned = await send_alert(api, clock, key, None, "RC-1")

    assert (created["signing"], created["signing_secret"]) == (False, None)
    assert unsigned.status == 201


async def test_reads_show_whether_a_key_signs_but_never_the_secret(api: Api) -> None:
    admin = await api.auth("admin")
    created, _ = await create_key(api, admin, **SOC_KEY, signing_secret=True)
    rotated = await rotate(api, admin, created["id"])

    one = await api.client.get(f"{V1}/api-keys/{created['id']}", headers=admin)
    listing = await api.client.get(f"{V1}/api-keys", headers=admin)

    for response in (one, listing):
        raw = await response.text()
        assert created["signing_secret"] not in raw
        assert rotated["signing_secret"] not in raw
        assert "signing_secret" not in raw
    assert (await one.json())["signing"] is True
    listed = {k["id"]: k["signing"] for k in (await listing.json())["items"]}
    assert listed[created["id"]] is True
    assert set(listed.values()) == {True, False}  # the test's own admin key does not sign


async def test_rotating_refuses_the_old_secret_at_once(api: Api, clock: FrozenClock) -> None:
    admin = await api.auth("admin")
    created, key = await create_key(api, admin, **SOC_KEY, signing_secret=True)
    old = created["signing_secret"]
    assert (await send_alert(api, clock, key, old, "RC-1")).status == 201  # the key is now in the verified-key cache

    rotated = await rotate(api, admin, created["id"])
    stale = await send_alert(api, clock, key, old, "RC-2")
    fresh = await send_alert(api, clock, key, rotated["signing_secret"], "RC-3")

    assert rotated["signing_secret"] != old
    assert (rotated["id"], rotated["signing"], rotated["status"]) == (created["id"], True, "active")
    assert "key" not in rotated  # the API key itself is not shown again
    assert stale.status == 401
    assert await problem_type(stale) == "invalid-signature"
    assert fresh.status == 201, await fresh.text()


async def test_rotating_gives_a_key_without_a_secret_one(api: Api, clock: FrozenClock) -> None:
    admin = await api.auth("admin")
    created, key = await create_key(api, admin, **SOC_KEY)
    assert (await send_alert(api, clock, key, None, "RC-1")).status == 201

    rotated = await rotate(api, admin, created["id"])
    unsigned = await send_alert(api, clock, key, None, "RC-2")
    fresh = await send_alert(api, clock, key, rotated["signing_secret"], "RC-3")

    assert (unsigned.status, fresh.status) == (401, 201)


async def test_removing_the_secret_lets_unsigned_requests_in_again(api: Api, clock: FrozenClock) -> None:
    admin = await api.auth("admin")
    created, key = await create_key(api, admin, **SOC_KEY, signing_secret=True)
    assert (await send_alert(api, clock, key, None, "RC-1")).status == 401  # and the key is in the cache

    removed = await api.client.delete(secret_path(created["id"]), headers=admin)
    unsigned = await send_alert(api, clock, key, None, "RC-2")
    again = await api.client.delete(secret_path(created["id"]), headers=admin)

    assert removed.status == 204
    assert await removed.read() == b""
    assert unsigned.status == 201, await unsigned.text()
    assert (await get(api, f"/api-keys/{created['id']}", admin))["signing"] is False
    assert again.status == 204  # nothing left to remove: still the state asked for


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_an_unknown_key_is_a_404(api: Api, method: str) -> None:
    admin = await api.auth("admin")

    response = await api.client.request(method, secret_path("nosuchkey1"), headers=admin)

    assert response.status == 404
    assert response.content_type == PROBLEM
    problem = await response.json()
    assert problem["type"].endswith("/not-found")
    assert "nosuchkey1" in problem["detail"]


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_only_an_admin_who_sees_every_customer_may_change_a_secret(api: Api, method: str) -> None:
    admin = await api.auth("admin")
    created, _ = await create_key(api, admin, **SOC_KEY, signing_secret=True)
    everything_else = await api.auth()  # every scope but admin
    scoped_admin = await api.auth("admin", customers=["CUST-789"])

    refused = await api.client.request(method, secret_path(created["id"]), headers=everything_else)
    limited = await api.client.request(method, secret_path(created["id"]), headers=scoped_admin)

    assert refused.status == 403
    assert (await refused.json())["type"].endswith("/insufficient-scope")
    assert limited.status == 403
    assert limited.content_type == PROBLEM
    assert (await get(api, f"/api-keys/{created['id']}", admin))["signing"] is True  # unchanged


async def test_changes_are_audited_and_no_secret_is_logged(
    api: Api, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = await api.auth("admin")
    created, key = await create_key(api, admin, **SOC_KEY, signing_secret=True)
    rotated = await rotate(api, admin, created["id"])
    assert (await send_alert(api, clock, key, rotated["signing_secret"], "RC-1")).status == 201
    assert (await api.client.delete(secret_path(created["id"]), headers=admin)).status == 204

    entries = await api.app[api_keys.AUDIT].entries(resource=f"api-key:{created['id']}")

    assert [(e.method, e.route, e.status) for e in entries] == [
        ("DELETE", "/api/v1/api-keys/{id}/signing-secret", 204),
        ("POST", "/api/v1/api-keys/{id}/signing-secret", 200),
        ("POST", "/api/v1/api-keys", 201),
    ]
    assert {e.actor for e in entries} == {created["created_by"]}  # the admin key that made the changes
    for secret in (created["signing_secret"], rotated["signing_secret"]):
        assert secret not in caplog.text
        assert all(secret not in repr(e) for e in entries)


async def test_the_openapi_document_describes_the_secret_operations(api: Api) -> None:
    document = await (await api.client.get(f"{V1}/openapi.json")).json()

    operations = document["paths"]["/api-keys/{id}/signing-secret"]
    schemas = document["components"]["schemas"]

    assert operations["post"]["operationId"] == "rotateApiKeySigningSecret"
    assert operations["delete"]["operationId"] == "deleteApiKeySigningSecret"
    assert {"200", "404"} <= set(operations["post"]["responses"])
    assert {"204", "403", "404"} <= set(operations["delete"]["responses"])
    assert "signing_secret" in operations["post"]["description"]
    assert schemas["ApiKeyCreate"]["properties"]["signing_secret"]["type"] == "boolean"
    assert "signing" in schemas["ApiKey"]["required"]
    assert "signing_secret" not in schemas["ApiKey"]["properties"]
