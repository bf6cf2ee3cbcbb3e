"""Sandbox developer tokens: free keys for the demo data, only in sandbox mode, a few per hour per address."""

from __future__ import annotations

from psa_chatops.bot.api import keys as api_keys
from tests.bot.api.conftest import Api, MakeApi
from tests.bot.api.test_directory_api import V1

URL = f"{V1}/sandbox/tokens"


async def test_a_token_without_signing_up(api: Api) -> None:
    response = await api.client.post(URL)
    assert response.status == 201, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    token = await response.json()
    assert token["key"].startswith(f"psa_{token['id']}_")
    assert token["scopes"] == sorted(
        ["tickets:read", "tickets:write", "directory:read", "routing:read", "alerts:write"]
    )
    assert token["expires_at"] == "2026-11-24T09:00:00Z"
    assert token["docs"] == "/docs"
    auth = {"Authorization": f"Bearer {token['key']}"}
    tickets = await api.client.get(f"{V1}/tickets", headers=auth)
    assert tickets.status == 200
    opened = await api.client.post(f"{V1}/tickets", json={"title": "Try", "customer_id": "CUST-789"}, headers=auth)
    assert opened.status == 201
    assert (await api.client.post(f"{V1}/customers", json={"id": "X", "name": "x"}, headers=auth)).status == 403
    assert (await api.client.get(f"{V1}/api-keys", headers=auth)).status == 403
    record = await api.app[api_keys.API_KEYS].get(token["id"])
    assert record is not None
    assert (record.sandbox, record.name, record.created_by) == (True, "sandbox developer token", "sandbox:127.0.0.1")
    entries = await api.app[api_keys.AUDIT].entries(resource=f"api-key:{token['id']}")
    assert [(e.actor, e.method, e.status) for e in entries] == [("anonymous", "POST", 201)]


async def test_not_offered_outside_the_sandbox(make_api: MakeApi) -> None:
    api = await make_api(sandbox=False)
    response = await api.client.post(URL)
    assert response.status == 404
    assert (await response.json())["type"].endswith("/not-found")


async def test_rate_limited_per_address(make_api: MakeApi) -> None:
    api = await make_api(sandbox_tokens_per_hour=2)
    assert [(await api.client.post(URL)).status for _ in range(2)] == [201, 201]
    refused = await api.client.post(URL, headers={"Accept-Language": "de"})
    assert refused.status == 429
    problem = await refused.json()
    assert problem["type"].endswith("/rate-limited")
    assert "2 Sandbox-Tokens" in problem["detail"]
    assert int(refused.headers["Retry-After"]) > 60  # one token back after 30 minutes
    assert refused.headers["RateLimit-Remaining"] == "0"


async def test_an_invalid_key_is_still_refused(api: Api) -> None:
    response = await api.client.post(URL, headers={"Authorization": "Bearer psa_notakey00_" + "x" * 40})
    assert response.status == 401
