"""Routing rules over REST v1: round trips, destination checks, customer scopes, one enabled rule per destination,
and rules that take effect for the very next ticket (the directory version is bumped by every write)."""

from __future__ import annotations

from typing import Any

import pytest

from psa_chatops.bot import keys
from psa_chatops.bot.api import keys as api_keys
from tests.bot.api.conftest import Api
from tests.bot.api.test_directory_api import V1, get, locations, patch, post, walk

READ, WRITE = "routing:read", "routing:write"
SLACK = {"destination": "slack:C0123ABCD", "categories": ["new", "sla"]}


async def outbox_destinations(api: Api) -> list[str]:
    rows = await api.app[keys.DISPATCHER].store.page(limit=200)
    return [r.destination for r in rows]


async def test_rule_round_trip(api: Api) -> None:
    auth = await api.auth(WRITE)
    response = await api.client.post(f"{V1}/routing-rules", json=SLACK, headers=auth)
    assert response.status == 201, await response.text()
    rule = await response.json()
    assert response.headers["Location"] == f"{V1}/routing-rules/{rule['id']}"
    assert rule["categories"] == ["new", "sla"]
    assert (rule["customer_id"], rule["min_priority"], rule["dispatchers"], rule["enabled"]) == (
        None,
        None,
        False,
        True,
    )
    assert rule["created_by"].startswith("apikey:")
    url = f"/routing-rules/{rule['id']}"
    assert await get(api, url, auth) == rule
    changed = await patch(api, url, {"min_priority": "high", "customer_id": "CUST-789", "enabled": False}, auth)
    assert (changed["min_priority"], changed["customer_id"], changed["enabled"]) == ("high", "CUST-789", False)
    assert changed["destination"] == SLACK["destination"]
    cleared = await patch(api, url, {"min_priority": None}, auth)
    assert cleared["min_priority"] is None
    deleted = await api.client.delete(f"{V1}{url}", headers=auth)
    assert deleted.status == 204
    await get(api, url, auth, status=404)
    assert (await api.client.delete(f"{V1}{url}", headers=auth)).status == 404


@pytest.mark.parametrize(
    "destination",
    [
        "slack:general",
        "slack:",
        "teams:has space",
        "webhook:http://example.com/hook",
        "webhook:ftp://example.com/hook",
        "webhook:https://user:pw@example.com/hook",
        "email:not-an-address",
        "sms:+491701234567",
        "no-kind-at-all",
    ],
)
async def test_bad_destinations_are_refused(api: Api, destination: str) -> None:
    auth = await api.auth(WRITE)
    problem = await post(api, "/routing-rules", {**SLACK, "destination": destination}, auth, status=422)
    assert locations(problem) == {"body.destination"}


@pytest.mark.parametrize(
    "destination",
    [
        "slack:G0PRIVATE1",
        "teams:19:psa-critical@thread.tacv2",
        "webhook:https://hooks.example.com/psa?x=1",
        "webhook:http://127.0.0.1:9/hook",
        "webhook:http://localhost:8081/hook",
        "webhook:http://[::1]:9/hook",
        "email:ops@msp.example",
    ],
)
async def test_good_destinations_are_accepted(api: Api, destination: str) -> None:
    auth = await api.auth(WRITE)
    await post(api, "/routing-rules", {**SLACK, "destination": destination}, auth)


async def test_rule_validation(api: Api) -> None:
    auth = await api.auth(WRITE)
    nothing = await post(api, "/routing-rules", {**SLACK, "categories": []}, auth, status=422)
    assert locations(nothing) == {"body.categories"}
    await post(api, "/routing-rules", {**SLACK, "categories": [], "dispatchers": True}, auth)
    schema = await post(api, "/routing-rules", {**SLACK, "categories": ["gossip"], "min_priority": "x"}, auth, 422)
    assert {"body.categories.0", "body.min_priority"} <= locations(schema)
    unknown = await post(api, "/routing-rules", {**SLACK, "customer_id": "NOPE"}, auth, status=422)
    assert locations(unknown) == {"body.customer_id"}
    null = await api.client.patch(f"{V1}/routing-rules/1", json={"enabled": None}, headers=auth)
    assert null.status == 422


async def test_one_enabled_rule_per_destination(api: Api) -> None:
    auth = await api.auth(WRITE)
    first = await post(api, "/routing-rules", SLACK, auth)
    clash = await post(api, "/routing-rules", {**SLACK, "categories": ["note"]}, auth, status=409)
    assert "slack:C0123ABCD" in clash["detail"]
    paused = await post(api, "/routing-rules", {**SLACK, "categories": ["note"], "enabled": False}, auth)
    await patch(api, f"/routing-rules/{paused['id']}", {"enabled": True}, auth, status=409)
    await patch(api, f"/routing-rules/{first['id']}", {"enabled": False}, auth)
    await patch(api, f"/routing-rules/{paused['id']}", {"enabled": True}, auth)
    await patch(api, f"/routing-rules/{paused['id']}", {"categories": ["note", "status"]}, auth)  # itself: no clash


async def test_rules_take_effect_for_the_next_ticket(api: Api) -> None:
    auth = await api.auth(WRITE, "tickets:write")
    ticket = {"title": "Printer", "customer_id": "CUST-789"}
    await post(api, "/tickets", ticket, auth)
    assert await outbox_destinations(api) == []
    rule = await post(
        api, "/routing-rules", {"destination": "webhook:http://127.0.0.1:9/hook", "categories": ["new"]}, auth
    )
    await post(api, "/tickets", ticket, auth)
    assert await outbox_destinations(api) == ["webhook:http://127.0.0.1:9/hook"]
    await patch(api, f"/routing-rules/{rule['id']}", {"customer_id": "CUST-100"}, auth)
    await post(api, "/tickets", ticket, auth)
    assert len(await outbox_destinations(api)) == 1
    await patch(api, f"/routing-rules/{rule['id']}", {"customer_id": None}, auth)
    await post(api, "/tickets", ticket, auth)
    assert len(await outbox_destinations(api)) == 2
    await api.client.delete(f"{V1}/routing-rules/{rule['id']}", headers=auth)
    await post(api, "/tickets", ticket, auth)
    assert len(await outbox_destinations(api)) == 2


async def test_customer_scoped_keys_route_only_their_customers(api: Api) -> None:
    unscoped = await api.auth(WRITE)
    everyone = await post(api, "/routing-rules", SLACK, unscoped)
    other = await post(
        api, "/routing-rules", {**SLACK, "destination": "slack:C0ACME001", "customer_id": "CUST-789"}, unscoped
    )
    scoped = await api.auth(WRITE, customers=["CUST-100"])
    refused = await post(api, "/routing-rules", {**SLACK, "destination": "slack:C0GLOBEX1"}, scoped, status=403)
    assert refused["type"].endswith("/forbidden")
    await post(
        api, "/routing-rules", {**SLACK, "destination": "slack:C0GLOBEX1", "customer_id": "CUST-789"}, scoped, 422
    )
    mine = await post(
        api, "/routing-rules", {**SLACK, "destination": "slack:C0GLOBEX1", "customer_id": "CUST-100"}, scoped
    )
    listed = await get(api, "/routing-rules", scoped)
    assert [r["id"] for r in listed["items"]] == [mine["id"]]
    for hidden in (everyone, other):
        await get(api, f"/routing-rules/{hidden['id']}", scoped, status=404)
        await patch(api, f"/routing-rules/{hidden['id']}", {"enabled": False}, scoped, status=404)
        assert (await api.client.delete(f"{V1}/routing-rules/{hidden['id']}", headers=scoped)).status == 404
    widened = await patch(api, f"/routing-rules/{mine['id']}", {"customer_id": None}, scoped, status=403)
    assert widened["type"].endswith("/forbidden")


async def test_routing_scopes(api: Api) -> None:
    reader = await api.auth(READ)
    assert (await api.client.get(f"{V1}/routing-rules", headers=reader)).status == 200
    assert (await api.client.post(f"{V1}/routing-rules", json=SLACK, headers=reader)).status == 403
    directory = await api.auth("directory:write")
    refused = await api.client.get(f"{V1}/routing-rules", headers=directory)
    assert refused.status == 403
    assert (await refused.json())["type"].endswith("/insufficient-scope")


async def test_rule_pages_filters_cache_and_audit(api: Api) -> None:
    auth = await api.auth(WRITE)
    created: list[dict[str, Any]] = []
    for i in range(5):
        body = {**SLACK, "destination": f"slack:C0PAGE00{i}", "enabled": i % 2 == 0}
        created.append(await post(api, "/routing-rules", body, auth))
    seen = await walk(api, f"{V1}/routing-rules?limit=2", auth)
    assert seen == [str(r["id"]) for r in created]
    enabled = await get(api, "/routing-rules?enabled=true", auth)
    assert [r["destination"] for r in enabled["items"]] == ["slack:C0PAGE000", "slack:C0PAGE002", "slack:C0PAGE004"]
    assert [r["id"] for r in (await get(api, "/routing-rules?q=PAGE003", auth))["items"]] == [created[3]["id"]]
    url = f"{V1}/routing-rules/{created[0]['id']}"
    assert (await api.client.get(url, headers=auth)).headers["X-Cache"] == "miss"
    assert (await api.client.get(url, headers=auth)).headers["X-Cache"] == "hit"
    await patch(api, f"/routing-rules/{created[0]['id']}", {"categories": ["escalation"]}, auth)
    after = await api.client.get(url, headers=auth)
    assert (after.headers["X-Cache"], (await after.json())["categories"]) == ("miss", ["escalation"])
    entries = await api.app[api_keys.AUDIT].entries(resource=f"routing-rule:{created[0]['id']}")
    assert [(e.method, e.status) for e in entries] == [("PATCH", 200), ("POST", 201)]
