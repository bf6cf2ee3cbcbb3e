"""The API gateway: the authorisation matrix, OAuth2 tokens, rate limits (memory and Redis), body limits, audit."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from psa_chatops.bot import keys
from psa_chatops.bot.api import keys as api_keys
from tests.bot.api.conftest import Api, MakeApi
from tests.conftest import FrozenClock

TICKET = {"title": "Drucker", "customer_id": "CUST-789"}


async def open_ticket(api: Api, customer: str = "CUST-789") -> int:
    response = await api.client.post(
        "/api/v1/tickets", json={**TICKET, "customer_id": customer}, headers=await api.auth()
    )
    assert response.status == 201
    return int((await response.json())["number"])


async def test_no_credentials_is_401_with_a_challenge(api: Api) -> None:
    response = await api.client.get("/api/v1/tickets")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await response.json())["type"].endswith("/unauthorized")


async def test_wrong_or_revoked_key_is_401(api: Api) -> None:
    fake = "psa_abcdefghij_" + "x" * 43
    assert (await api.client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {fake}"})).status == 401
    assert (await api.client.get("/api/v1/tickets", headers={"Authorization": "Basic Zm9vOmJhcg=="})).status == 401
    key = await api.key("tickets:read")
    key_id = key.split("_")[1]
    assert (await api.client.get("/api/v1/tickets", headers={"X-API-Key": key})).status == 200
    await api.app[api_keys.API_KEYS].revoke(key_id, now=api.app[keys.CLOCK].now())
    api.app[api_keys.DEPS].key_cache.clear()  # what the admin API does after a revoke in this process
    assert (await api.client.get("/api/v1/tickets", headers={"X-API-Key": key})).status == 401


async def test_missing_scope_is_403(api: Api) -> None:
    read_only = await api.auth("tickets:read")
    response = await api.client.post("/api/v1/tickets", json=TICKET, headers=read_only)
    assert response.status == 403
    problem = await response.json()
    assert problem["type"].endswith("/insufficient-scope")
    assert "tickets:write" in problem["detail"]
    assert (await api.client.get("/api/v1/tickets", headers=await api.auth("tickets:write"))).status == 200


async def test_customer_scoped_key_cannot_see_other_customers(api: Api) -> None:
    theirs = await open_ticket(api, "CUST-100")
    ours = await open_ticket(api, "CUST-789")
    scoped = await api.auth("tickets:read", "tickets:write", customers=["CUST-789"])
    assert (await api.client.get(f"/api/v1/tickets/{ours}", headers=scoped)).status == 200
    assert (await api.client.get(f"/api/v1/tickets/{theirs}", headers=scoped)).status == 404
    listed = await (await api.client.get("/api/v1/tickets", headers=scoped)).json()
    assert {t["customer_id"] for t in listed["items"]} == {"CUST-789"}
    refused = await api.client.post("/api/v1/tickets", json={**TICKET, "customer_id": "CUST-100"}, headers=scoped)
    assert refused.status == 403


async def test_ip_allow_list(api: Api) -> None:
    outside = await api.key("tickets:read", networks=["10.0.0.0/8"])
    inside = await api.key("tickets:read", networks=["127.0.0.0/8", "::1/128"])
    denied = await api.client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {outside}"})
    assert denied.status == 403
    assert (await denied.json())["type"].endswith("/ip-not-allowed")
    assert (await api.client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {inside}"})).status == 200


async def token(api: Api, key: str, **form: str) -> Any:
    data = {"grant_type": "client_credentials", "client_id": key.split("_")[1], "client_secret": key, **form}
    return await api.client.post("/oauth/token", data=data)


async def test_oauth2_client_credentials_issue_a_working_jwt(api: Api) -> None:
    key = await api.key("tickets:read", "tickets:write")
    response = await token(api, key, scope="tickets:read")
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    issued = await response.json()
    assert issued["token_type"] == "Bearer"
    assert issued["scope"] == "tickets:read"
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    assert (await api.client.get("/api/v1/tickets", headers=bearer)).status == 200
    assert (await api.client.post("/api/v1/tickets", json=TICKET, headers=bearer)).status == 403  # narrowed scope
    jwks = await (await api.client.get("/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(issued["access_token"])["kid"]
    assert kid in {k["kid"] for k in jwks["keys"]}


async def test_oauth2_refuses_bad_clients_and_scopes(api: Api) -> None:
    key = await api.key("tickets:read")
    assert (await token(api, key, client_secret=key[:-1] + "x")).status == 401
    assert (await (await token(api, key, scope="admin")).json())["error"] == "invalid_scope"
    assert (await (await token(api, key, grant_type="password")).json())["error"] == "unsupported_grant_type"


async def test_expired_and_foreign_jwts_are_401(api: Api, clock: FrozenClock) -> None:
    key = await api.key("tickets:read")
    issued = await (await token(api, key)).json()
    clock.advance(hours=1)
    expired = await api.client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert expired.status == 401
    assert (await expired.json())["detail"] == "token expired"
    claims = jwt.decode(issued["access_token"], options={"verify_signature": False})
    claims["exp"] = int(clock.now().timestamp()) + 600
    foreign = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "x"})
    forged = await api.client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {foreign}"})
    assert forged.status == 401


async def test_rate_limit_headers_and_429(make_api: MakeApi) -> None:
    api = await make_api(api_burst_per_key=3, api_rate_per_key=0.01)
    auth = await api.auth("tickets:read")
    statuses = []
    for _ in range(4):
        response = await api.client.get("/api/v1/tickets", headers=auth)
        statuses.append(response.status)
        assert "RateLimit-Limit" in response.headers
        assert "RateLimit-Remaining" in response.headers
    assert statuses == [200, 200, 200, 429]
    assert int(response.headers["Retry-After"]) >= 1
    assert (await response.json())["type"].endswith("/rate-limited")
    other = await api.client.get("/api/v1/tickets", headers=await api.auth("tickets:read"))
    assert other.status == 200  # per key, not global


async def test_rate_limit_by_ip_applies_before_authentication(make_api: MakeApi) -> None:
    api = await make_api(api_burst_per_ip=2, api_rate_per_ip=0.01)
    statuses = [(await api.client.get("/api/v1/tickets")).status for _ in range(3)]
    assert statuses == [401, 401, 429]


async def test_rate_limits_are_shared_through_redis(make_api: MakeApi, redis_url: str) -> None:
    """Two replicas (two apps on one database) spend the same bucket."""
    first = await make_api(api_burst_per_key=2, api_rate_per_key=0.01, redis_url=redis_url)
    second = await make_api(api_burst_per_key=2, api_rate_per_key=0.01, redis_url=redis_url)
    auth = {"Authorization": f"Bearer {await first.key('tickets:read')}"}
    replicas = [first, second, first]
    assert [(await r.client.get("/api/v1/tickets", headers=auth)).status for r in replicas] == [200, 200, 429]


async def test_body_limit_and_content_type(make_api: MakeApi) -> None:
    api = await make_api(api_max_body_bytes=1024)
    auth = await api.auth()
    big = await api.client.post("/api/v1/tickets", json={**TICKET, "description": "x" * 4096}, headers=auth)
    assert big.status == 413
    assert big.content_type == "application/problem+json"


async def test_writes_and_refusals_land_in_the_audit_log(api: Api) -> None:
    auth = await api.auth()
    number = await open_ticket(api)
    await api.client.post("/api/v1/tickets", json=TICKET)  # refused: no key
    await api.client.patch(f"/api/v1/tickets/{number}", json={"status": "in_progress"}, headers=auth)
    entries = await api.app[api_keys.AUDIT].entries(limit=10)
    seen = [(e.method, e.status, e.resource) for e in reversed(entries)]
    assert len(seen) == 3  # one line per request: a command's line is written with its change, not twice
    assert seen[0] == ("POST", 201, f"ticket:{number}")
    assert ("POST", 401, None) in seen
    assert seen[-1] == ("PATCH", 200, f"ticket:{number}")
    assert all(e.request_id for e in entries)
    assert entries[0].actor.startswith("apikey:")


async def test_request_log_line_has_the_key_and_no_secret(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    key = await api.key("tickets:read")
    with caplog.at_level(logging.INFO, logger="psa_chatops.access"):
        await api.client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {key}"})
    line = next(r for r in caplog.records if r.name == "psa_chatops.access" and "/api/v1/tickets" in r.getMessage())
    assert line.actor == f"apikey:{key.split('_')[1]}"  # type: ignore[attr-defined]
    assert line.status == 200  # type: ignore[attr-defined]
    assert key not in caplog.text


@pytest.fixture
def redis_url() -> str:
    import os
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", 6379)) != 0:
            if os.environ.get("CI"):
                pytest.fail("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
            pytest.skip("Redis is not running on 127.0.0.1:6379")
    return f"redis://127.0.0.1:6379/0?client_name=psa-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def idp_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def test_tokens_of_an_external_identity_provider_are_accepted(
    make_api: MakeApi, aiohttp_server: Any, idp_key: Any, clock: FrozenClock
) -> None:
    """An Entra-ID-like issuer on loopback: its JWKS is fetched, its `scp` claim becomes our scopes."""
    from aiohttp import web
    from jwt.algorithms import RSAAlgorithm

    jwk = json.loads(RSAAlgorithm.to_jwk(idp_key.public_key()))

    async def keys_document(_request: web.Request) -> web.Response:
        return web.json_response({"keys": [{**jwk, "kid": "k1", "use": "sig"}]})

    jwks_app = web.Application()
    jwks_app.router.add_get("/keys", keys_document)
    idp = await aiohttp_server(jwks_app)
    issuer = "https://login.example/tenant/v2.0"
    api = await make_api(
        jwt_external_issuer=issuer, jwt_external_jwks_url=str(idp.make_url("/keys")), jwt_external_audience="api://psa"
    )
    now = int(clock.now().timestamp())
    claims = {"iss": issuer, "aud": "api://psa", "sub": "app-123", "iat": now, "exp": now + 600, "scp": "tickets:read"}
    token = jwt.encode(claims, idp_key, algorithm="RS256", headers={"kid": "k1"})
    ok = await api.client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"})
    assert ok.status == 200
    refused = await api.client.post("/api/v1/tickets", json=TICKET, headers={"Authorization": f"Bearer {token}"})
    assert refused.status == 403
    wrong = jwt.encode({**claims, "aud": "other"}, idp_key, algorithm="RS256", headers={"kid": "k1"})
    assert (await api.client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {wrong}"})).status == 401
