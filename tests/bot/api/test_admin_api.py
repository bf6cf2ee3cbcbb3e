"""Admin resources over REST v1: deliveries (list, inspect, replay) and API keys (create once, list without
secrets, revoke at once)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from psa_chatops.bot import keys
from psa_chatops.bot.api import keys as api_keys
from tests.bot.api.conftest import Api
from tests.bot.api.test_directory_api import V1, get, locations, post, walk

HOOK = "webhook:http://127.0.0.1:9/hook"


async def open_routed_tickets(api: Api, count: int) -> dict[str, str]:
    """A rule for every event to a loopback webhook, then ``count`` tickets: one pending delivery each."""
    auth = await api.auth("routing:write", "tickets:write")
    await post(api, "/routing-rules", {"destination": HOOK, "categories": ["new"]}, auth)
    for i in range(count):
        await post(api, "/tickets", {"title": f"Routed {i}", "customer_id": "CUST-789"}, auth)
    return auth


async def set_status(api: Api, delivery_id: int, status: str, error: str | None = None) -> None:
    async with api.app[keys.ENGINE].begin() as conn:
        await conn.execute(
            text("UPDATE outbox SET status = :s, attempts = 5, last_error = :e WHERE id = :id"),
            {"s": status, "e": error, "id": delivery_id},
        )


# --- deliveries ----------------------------------------------------------------------------------------------------


async def test_deliveries_list_and_inspect(api: Api) -> None:
    await open_routed_tickets(api, 3)
    admin = await api.auth("admin")
    listed = await get(api, "/deliveries", admin)
    ids = [d["id"] for d in listed["items"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert len(ids) == 3
    first = listed["items"][0]
    assert (first["status"], first["destination"], first["event_type"]) == ("pending", HOOK, "TicketOpened")
    assert "payload" not in first
    detail = await get(api, f"/deliveries/{first['id']}", admin)
    assert detail["payload"]["type"] == "TicketOpened"
    assert detail["payload"]["ticket"]["number"] == first["ticket_number"]
    assert detail["idempotency_key"]
    assert (detail["attempts"], detail["last_error"], detail["delivered_at"]) == (0, None, None)
    assert await walk(api, f"{V1}/deliveries?limit=2", admin) == [str(i) for i in ids]
    of_ticket = await get(api, f"/deliveries?ticket_number={first['ticket_number']}", admin)
    assert [d["id"] for d in of_ticket["items"]] == [first["id"]]
    assert (await get(api, "/deliveries?status=dead", admin))["items"] == []
    await get(api, "/deliveries?status=lost", admin, status=400)
    await get(api, "/deliveries/999999", admin, status=404)


async def test_deliveries_are_admin_only(api: Api) -> None:
    everything_else = await api.auth()  # every scope but admin
    for method, path in (("GET", "/deliveries"), ("GET", "/deliveries/1"), ("POST", "/deliveries/1/replay")):
        response = await api.client.request(method, f"{V1}{path}", headers=everything_else)
        assert response.status == 403, path
        assert (await response.json())["type"].endswith("/insufficient-scope")
    scoped_admin = await api.auth("admin", customers=["CUST-100"])
    assert (await api.client.get(f"{V1}/deliveries", headers=scoped_admin)).status == 403


async def test_replay_one_dead_delivery(api: Api) -> None:
    await open_routed_tickets(api, 2)
    admin = await api.auth("admin")
    newest, older = (await get(api, "/deliveries", admin))["items"]
    await set_status(api, older["id"], "dead", "HTTP 410 from the receiver")
    dead = await get(api, "/deliveries?status=dead", admin)
    assert [d["id"] for d in dead["items"]] == [older["id"]]
    assert dead["items"][0]["last_error"] == "HTTP 410 from the receiver"
    replayed = await post(api, f"/deliveries/{older['id']}/replay", {}, admin, status=200)
    assert (replayed["status"], replayed["attempts"]) == ("pending", 0)
    pending = await post(api, f"/deliveries/{newest['id']}/replay", {}, admin, status=409)
    assert pending["type"].endswith("/conflict")
    await post(api, "/deliveries/424242/replay", {}, admin, status=404)
    entries = await api.app[api_keys.AUDIT].entries(resource=f"delivery:{older['id']}")
    assert [(e.method, e.status) for e in entries] == [("POST", 200)]


async def test_replay_every_dead_delivery(api: Api) -> None:
    await open_routed_tickets(api, 3)
    admin = await api.auth("admin")
    rows = (await get(api, "/deliveries", admin))["items"]
    for row in rows[:2]:
        await set_status(api, row["id"], "dead")
    assert await post(api, "/deliveries/replay", {"status": "dead"}, admin, status=200) == {"replayed": 2}
    assert await post(api, "/deliveries/replay", {"status": "dead"}, admin, status=200) == {"replayed": 0}
    assert len((await get(api, "/deliveries?status=pending", admin))["items"]) == 3
    wrong = await post(api, "/deliveries/replay", {"status": "pending"}, admin, status=422)
    assert locations(wrong) == {"body.status"}


# --- API keys ------------------------------------------------------------------------------------------------------

NEW_KEY = {"name": "RMM integration", "scopes": ["tickets:read", "directory:read"], "customer_ids": ["CUST-789"]}


async def create_key(api: Api, admin: dict[str, str], **fields: Any) -> tuple[dict[str, Any], str]:
    response = await api.client.post(f"{V1}/api-keys", json={**NEW_KEY, **fields}, headers=admin)
    assert response.status == 201, await response.text()
    created = await response.json()
    assert response.headers["Location"] == f"{V1}/api-keys/{created['id']}"
    assert response.headers["Cache-Control"] == "no-store"
    return created, created["key"]


async def test_a_new_key_is_shown_once_and_works(api: Api) -> None:
    admin = await api.auth("admin")
    created, secret = await create_key(api, admin)
    assert secret.startswith(f"psa_{created['id']}_")
    assert (created["status"], created["scopes"], created["customer_ids"]) == (
        "active",
        ["directory:read", "tickets:read"],
        ["CUST-789"],
    )
    assert created["created_by"].startswith("apikey:")
    listing = await api.client.get(f"{V1}/api-keys", headers=admin)
    raw = await listing.text()
    assert secret not in raw
    assert "secret" not in raw
    assert "hash" not in raw
    assert created["id"] in [k["id"] for k in (await listing.json())["items"]]
    one = await get(api, f"/api-keys/{created['id']}", admin)
    assert "key" not in one
    assert one["name"] == "RMM integration"
    as_new_key = {"Authorization": f"Bearer {secret}"}
    tickets = await api.client.get(f"{V1}/tickets", headers=as_new_key)
    assert tickets.status == 200
    await get(api, "/customers/CUST-100", as_new_key, status=404)  # limited to CUST-789
    assert (await api.client.post(f"{V1}/tickets", json={}, headers=as_new_key)).status == 403


async def test_revoking_a_key_refuses_it_at_once(api: Api) -> None:
    admin = await api.auth("admin")
    created, secret = await create_key(api, admin, customer_ids=None)
    as_new_key = {"Authorization": f"Bearer {secret}"}
    assert (await api.client.get(f"{V1}/tickets", headers=as_new_key)).status == 200  # now in the key cache
    revoked = await api.client.delete(f"{V1}/api-keys/{created['id']}", headers=admin)
    assert revoked.status == 204
    refused = await api.client.get(f"{V1}/tickets", headers=as_new_key)
    assert refused.status == 401
    assert (await refused.json())["type"].endswith("/invalid-credentials")
    shown = await get(api, f"/api-keys/{created['id']}", admin)
    assert (shown["status"], shown["revoked_at"]) == ("revoked", "2026-11-23T09:00:00Z")
    assert (await api.client.delete(f"{V1}/api-keys/nope", headers=admin)).status == 404
    entries = await api.app[api_keys.AUDIT].entries(resource=f"api-key:{created['id']}")
    assert [(e.method, e.status) for e in entries] == [("DELETE", 204), ("POST", 201)]


async def test_key_requests_are_validated(api: Api) -> None:
    admin = await api.auth("admin")
    body = {
        "name": "bad",
        "scopes": ["tickets:read", "tickets:delete", "god"],
        "allowed_networks": ["10.0.0.0/8", "10.0.0.300/8"],
        "customer_ids": ["NOPE"],
        "expires_at": "2020-01-01T00:00:00Z",
    }
    response = await api.client.post(f"{V1}/api-keys", json=body, headers={**admin, "Accept-Language": "de"})
    assert response.status == 422
    problem = await response.json()
    assert locations(problem) == {"body.scopes", "body.allowed_networks.1", "body.customer_ids", "body.expires_at"}
    scopes = next(e for e in problem["errors"] if e["loc"] == "body.scopes")
    assert "god, tickets:delete" in scopes["msg"]
    assert "Unbekannte Scopes" in scopes["msg"]
    empty = await api.client.post(f"{V1}/api-keys", json={"name": "x", "scopes": []}, headers=admin)
    assert empty.status == 422
    limited, secret = await create_key(api, admin, allowed_networks=["203.0.113.0/24"], customer_ids=None)
    assert limited["allowed_networks"] == ["203.0.113.0/24"]
    outside = await api.client.get(f"{V1}/tickets", headers={"Authorization": f"Bearer {secret}"})
    assert outside.status == 403  # the test client is 127.0.0.1


async def test_keys_are_admin_only_and_paged(api: Api) -> None:
    not_admin = await api.auth()
    assert (await api.client.get(f"{V1}/api-keys", headers=not_admin)).status == 403
    assert (await api.client.post(f"{V1}/api-keys", json=NEW_KEY, headers=not_admin)).status == 403
    scoped_admin = await api.auth("admin", customers=["CUST-789"])
    assert (await api.client.post(f"{V1}/api-keys", json=NEW_KEY, headers=scoped_admin)).status == 403
    admin = await api.auth("admin")
    for _ in range(3):
        await create_key(api, admin)
    seen = await walk(api, f"{V1}/api-keys?limit=2", admin)
    assert len(seen) == len(set(seen)) == 6  # 3 created + the three test keys
    assert seen == sorted(seen)
