"""The directory over REST v1: customers, contacts, technicians, assets, maintenance windows and SLA policies —
round trips, validation (422 naming the fields), customer scopes (404 outside them), scopes (403), cursor pages,
the response cache, the audit log, the directory cache, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from psa_chatops.bot.api import keys as api_keys
from tests.bot.api.conftest import Api, MakeApi

V1 = "/api/v1"
PROBLEM = "application/problem+json"
READ, WRITE = "directory:read", "directory:write"


async def post(api: Api, path: str, body: dict[str, Any], headers: dict[str, str], status: int = 201) -> Any:
    response = await api.client.post(f"{V1}{path}", json=body, headers=headers)
    assert response.status == status, await response.text()
    return await response.json()


async def patch(api: Api, path: str, body: dict[str, Any], headers: dict[str, str], status: int = 200) -> Any:
    response = await api.client.patch(f"{V1}{path}", json=body, headers=headers)
    assert response.status == status, await response.text()
    return await response.json()


async def get(api: Api, path: str, headers: dict[str, str], status: int = 200) -> Any:
    response = await api.client.get(f"{V1}{path}", headers=headers)
    assert response.status == status, await response.text()
    return await response.json()


def locations(problem: dict[str, Any]) -> set[str]:
    return {e["loc"] for e in problem.get("errors", [])}


async def walk(api: Api, url: str, headers: dict[str, str]) -> list[str]:
    """Every id of a collection, following ``Link: rel=next`` and checking it agrees with ``next_cursor``."""
    seen: list[str] = []
    while url:
        response = await api.client.get(url, headers=headers)
        assert response.status == 200, await response.text()
        page = await response.json()
        seen += [str(item["id"]) for item in page["items"]]
        link = response.headers.get("Link")
        assert (page["next_cursor"] is None) == (link is None)
        url = link.split(">")[0].lstrip("<") if link else ""
    return seen


CUSTOMER = {
    "id": "CUST-NEW",
    "name": "Neu GmbH",
    "email_domains": ["Neu.example"],
    "timezone": "Europe/Vienna",
    "weekly_hours": {"monday": [{"opens": "07:30", "closes": "12:00"}, {"opens": "13:00", "closes": "00:00"}]},
    "holidays": ["2026-12-24"],
    "locale": "de",
}


# --- the OpenAPI document ------------------------------------------------------------------------------------------


async def test_openapi_document_is_valid_and_lists_every_resource(api: Api) -> None:
    response = await api.client.get(f"{V1}/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)
    for path in ("/customers", "/contacts/{id}", "/technicians", "/assets", "/maintenance-windows/{id}"):
        assert path in document["paths"]
    for path in ("/sla-policies", "/routing-rules/{id}", "/deliveries/{id}/replay", "/api-keys/{id}"):
        assert path in document["paths"]
    token = document["paths"]["/sandbox/tokens"]["post"]
    assert token["security"] == []
    assert document["paths"]["/sla-policies"]["post"]["x-required-scopes"] == ["admin"]
    patch_body = document["components"]["schemas"]["CustomerUpdate"]["properties"]["name"]
    assert "anyOf" not in patch_body  # null is refused, and the document says so


# --- customers -----------------------------------------------------------------------------------------------------


async def test_customer_round_trip(api: Api) -> None:
    auth = await api.auth(READ, WRITE)
    response = await api.client.post(f"{V1}/customers", json=CUSTOMER, headers=auth)
    assert response.status == 201, await response.text()
    assert response.headers["Location"] == f"{V1}/customers/CUST-NEW"
    created = await response.json()
    assert created["email_domains"] == ["neu.example"]
    assert created["sla_policy_id"] == "standard"
    assert created["weekly_hours"]["monday"] == CUSTOMER["weekly_hours"]["monday"]  # type: ignore[index]
    assert created["weekly_hours"]["tuesday"] == []
    assert await get(api, "/customers/CUST-NEW", auth) == created
    changed = await patch(api, "/customers/CUST-NEW", {"name": "Neu AG", "timezone": "UTC"}, auth)
    assert (changed["name"], changed["timezone"], changed["holidays"]) == ("Neu AG", "UTC", ["2026-12-24"])
    assert changed["weekly_hours"] == created["weekly_hours"]
    default_hours = await post(api, "/customers", {"id": "CUST-DEF", "name": "Default"}, auth)
    assert default_hours["weekly_hours"]["friday"] == [{"opens": "08:00", "closes": "17:00"}]
    assert default_hours["weekly_hours"]["sunday"] == []
    listed = await get(api, "/customers?q=neu", auth)
    assert [c["id"] for c in listed["items"]] == ["CUST-NEW"]


async def test_customer_validation_names_each_field(api: Api) -> None:
    auth = await api.auth(WRITE)
    bad = {
        **CUSTOMER,
        "timezone": "Mars/Olympus",
        "email_domains": ["ok.example", "bad_domain.example"],
        "sla_policy_id": "gold",
        "weekly_hours": {"monday": [{"opens": "17:00", "closes": "08:00"}]},
    }
    response = await api.client.post(f"{V1}/customers", json=bad, headers={**auth, "Accept-Language": "de"})
    assert response.status == 422
    assert response.content_type == PROBLEM
    problem = await response.json()
    assert problem["type"].endswith("/validation-error")
    assert locations(problem) == {
        "body.timezone",
        "body.email_domains.1",
        "body.sla_policy_id",
        "body.weekly_hours.monday",
    }
    assert "Zeitzone" in problem["detail"]
    schema = await api.client.post(f"{V1}/customers", json={"id": "bad id!", "name": "", "x": 1}, headers=auth)
    assert schema.status == 422
    assert {"body.id", "body.name", "body.x"} <= locations(await schema.json())
    null = await api.client.patch(f"{V1}/customers/CUST-789", json={"name": None}, headers=auth)
    assert null.status == 422
    assert locations(await null.json()) == {"body.name"}


async def test_duplicate_id_is_a_conflict(api: Api) -> None:
    auth = await api.auth(WRITE)
    response = await api.client.post(
        f"{V1}/customers", json={"id": "CUST-789", "name": "again"}, headers={**auth, "Accept-Language": "de"}
    )
    assert response.status == 409
    problem = await response.json()
    assert problem["type"].endswith("/conflict")
    assert "CUST-789" in problem["detail"]
    assert "vergeben" in problem["detail"]


async def test_unknown_ids_are_404_in_the_callers_language(api: Api) -> None:
    auth = await api.auth(READ)
    for path in ("customers", "contacts", "technicians", "assets", "maintenance-windows", "sla-policies"):
        response = await api.client.get(f"{V1}/{path}/nope", headers={**auth, "Accept-Language": "de"})
        assert response.status == 404, path
        problem = await response.json()
        assert problem["type"].endswith("/not-found")
        assert "existiert nicht" in problem["detail"]


async def test_scopes_are_enforced(api: Api) -> None:
    tickets_only = await api.auth("tickets:read")
    refused = await api.client.get(f"{V1}/customers", headers=tickets_only)
    assert refused.status == 403
    assert (await refused.json())["type"].endswith("/insufficient-scope")
    reader = await api.auth(READ)
    assert (await api.client.get(f"{V1}/technicians", headers=reader)).status == 200
    for path, body in (("/customers", {"id": "X1", "name": "x"}), ("/assets", {})):
        response = await api.client.post(f"{V1}{path}", json=body, headers=reader)
        assert response.status == 403
    no_auth = await api.client.get(f"{V1}/customers")
    assert no_auth.status == 401
    writer = await api.auth(WRITE)  # write implies read
    assert (await api.client.get(f"{V1}/customers/CUST-789", headers=writer)).status == 200


async def test_a_customer_scoped_key_sees_and_changes_only_its_customers(api: Api) -> None:
    scoped = await api.auth(READ, WRITE, customers=["CUST-100"])
    listed = await get(api, "/customers", scoped)
    assert [c["id"] for c in listed["items"]] == ["CUST-100"]
    await get(api, "/customers/CUST-789", scoped, status=404)
    await get(api, "/contacts/c-1", scoped, status=404)
    await get(api, "/assets/WS-CLIENT-042", scoped, status=404)
    assert (await get(api, "/contacts", scoped))["items"] == []
    await patch(api, "/customers/CUST-789", {"name": "taken over"}, scoped, status=404)
    await patch(api, "/customers/CUST-100", {"name": "Globex plc"}, scoped)
    outside = await post(api, "/customers", {"id": "CUST-OTHER", "name": "x"}, scoped, status=403)
    assert outside["type"].endswith("/forbidden")
    contact = {"id": "c-x", "customer_id": "CUST-789", "name": "X", "email": "x@globex.co.uk"}
    refused = await post(api, "/contacts", contact, scoped, status=422)
    assert locations(refused) == {"body.customer_id"}
    await post(api, "/contacts", {**contact, "customer_id": "CUST-100"}, scoped)
    moved = await patch(api, "/contacts/c-x", {"customer_id": "CUST-789"}, scoped, status=422)
    assert locations(moved) == {"body.customer_id"}
    assert (await get(api, "/technicians", scoped))["items"]  # reference data: readable
    tech = {"id": "eve", "name": "Eve", "email": "eve@msp.example"}
    assert (await post(api, "/technicians", tech, scoped, status=403))["type"].endswith("/forbidden")
    await patch(api, "/technicians/tom", {"name": "Thomas"}, scoped, status=403)
    scoped_admin = await api.auth("admin", customers=["CUST-100"])
    await patch(api, "/sla-policies/standard", {"name": "Mine"}, scoped_admin, status=403)


async def test_cursor_pages_visit_every_customer_once(api: Api) -> None:
    auth = await api.auth(WRITE)
    for i in range(7):
        await post(api, "/customers", {"id": f"P-{i}", "name": f"Paged {i}"}, auth)
    seen = await walk(api, f"{V1}/customers?limit=2", auth)
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 9  # 7 new + the two seeded
    assert await walk(api, f"{V1}/customers?limit=9", auth) == seen  # an exact last page has no next link
    damaged = await api.client.get(f"{V1}/customers?cursor=!!!", headers=auth)
    assert damaged.status == 400
    assert locations(await damaged.json()) == {"query.cursor"}
    first = await get(api, "/customers?limit=1", auth)
    foreign = await api.client.get(f"{V1}/contacts?cursor={first['next_cursor']}", headers=auth)
    assert foreign.status == 400
    too_many = await api.client.get(f"{V1}/customers?limit=201", headers=auth)
    assert too_many.status == 400


async def test_writes_invalidate_cached_reads(api: Api) -> None:
    auth = await api.auth(WRITE)
    url = f"{V1}/customers/CUST-100"
    assert (await api.client.get(url, headers=auth)).headers["X-Cache"] == "miss"
    assert (await api.client.get(url, headers=auth)).headers["X-Cache"] == "hit"
    assert (await api.client.get(f"{V1}/customers", headers=auth)).headers["X-Cache"] == "miss"
    assert (await api.client.get(f"{V1}/customers", headers=auth)).headers["X-Cache"] == "hit"
    await patch(api, "/customers/CUST-100", {"name": "Globex Renamed"}, auth)
    after = await api.client.get(url, headers=auth)
    assert after.headers["X-Cache"] == "miss"
    assert (await after.json())["name"] == "Globex Renamed"
    listed = await api.client.get(f"{V1}/customers", headers=auth)
    assert "Globex Renamed" in [c["name"] for c in (await listed.json())["items"]]


async def test_writes_are_audited(api: Api) -> None:
    auth = await api.auth(WRITE)
    await post(api, "/customers", {"id": "CUST-AUD", "name": "Audited"}, auth)
    await patch(api, "/customers/CUST-AUD", {"locale": "en"}, auth)
    entries = await api.app[api_keys.AUDIT].entries(resource="customer:CUST-AUD")
    assert [(e.method, e.status) for e in entries] == [("PATCH", 200), ("POST", 201)]
    assert entries[0].actor.startswith("apikey:")
    assert entries[0].route == "/api/v1/customers/{id}"


async def test_directory_writes_reach_the_ticket_commands(api: Api) -> None:
    """Commands read the directory through a per-process cache; the version bump makes them see API writes."""
    auth = await api.auth()
    await post(api, "/customers", {"id": "CUST-T", "name": "Before"}, auth)
    ticket = await post(api, "/tickets", {"title": "first", "customer_id": "CUST-T"}, auth)
    assert ticket["customer_name"] == "Before"
    await patch(api, "/customers/CUST-T", {"name": "After"}, auth)
    again = await post(api, "/tickets", {"title": "second", "customer_id": "CUST-T"}, auth)
    assert again["customer_name"] == "After"
    await post(api, "/assets", {"id": "SRV-T", "customer_id": "CUST-T", "name": "srv", "hostname": "srv.t"}, auth)
    with_asset = await post(api, "/tickets", {"title": "third", "customer_id": "CUST-T", "asset_id": "SRV-T"}, auth)
    assert with_asset["asset_id"] == "SRV-T"


# --- contacts ------------------------------------------------------------------------------------------------------


async def test_contacts(api: Api) -> None:
    auth = await api.auth(WRITE)
    body = {"id": "c-2", "customer_id": "CUST-100", "name": "Gina", "email": "gina@globex.co.uk", "phone": "+44 1"}
    created = await post(api, "/contacts", body, auth)
    assert created == {**body, "locale": "de"}
    cleared = await patch(api, "/contacts/c-2", {"phone": None, "locale": "en"}, auth)
    assert (cleared["phone"], cleared["locale"], cleared["name"]) == (None, "en", "Gina")
    taken = await post(api, "/contacts", {**body, "id": "c-3", "email": "petra@mueller-mb.de"}, auth, status=409)
    assert "petra@mueller-mb.de" in taken["detail"]
    await patch(api, "/contacts/c-2", {"email": "petra@mueller-mb.de"}, auth, status=409)
    bad = await post(api, "/contacts", {**body, "id": "c-4", "email": "a@localhost", "customer_id": "X"}, auth, 422)
    assert locations(bad) == {"body.email", "body.customer_id"}
    mine = await get(api, "/contacts?customer_id=CUST-100", auth)
    assert [c["id"] for c in mine["items"]] == ["c-2"]
    found = await get(api, "/contacts?q=PETRA", auth)
    assert [c["id"] for c in found["items"]] == ["c-1"]


# --- technicians ---------------------------------------------------------------------------------------------------


async def test_technicians(api: Api) -> None:
    auth = await api.auth(WRITE)
    body = {
        "id": "eve",
        "name": "Eve",
        "email": "eve@msp.example",
        "customer_scope": ["CUST-100"],
        "role": "dispatcher",
    }
    created = await post(api, "/technicians", body, auth)
    assert (created["customer_scope"], created["timezone"], created["locale"]) == (["CUST-100"], "Europe/Berlin", "en")
    unscoped = await patch(api, "/technicians/eve", {"customer_scope": None, "timezone": "Europe/London"}, auth)
    assert (unscoped["customer_scope"], unscoped["timezone"]) == (None, "Europe/London")
    bad = {**body, "id": "bad", "email": "bad@msp.example", "customer_scope": ["NOPE"], "timezone": "Nowhere"}
    problem = await post(api, "/technicians", bad, auth, status=422)
    assert locations(problem) == {"body.customer_scope", "body.timezone"}
    await post(api, "/technicians", {**body, "id": "eve2"}, auth, status=409)  # e-mail taken
    dispatchers = await get(api, "/technicians?role=dispatcher", auth)
    assert [t["id"] for t in dispatchers["items"]] == ["dora", "eve"]
    assert len(await walk(api, f"{V1}/technicians?limit=1", auth)) == 5


# --- assets --------------------------------------------------------------------------------------------------------


async def test_assets(api: Api) -> None:
    auth = await api.auth(WRITE)
    body = {"id": "SRV-1", "customer_id": "CUST-100", "name": "File server", "hostname": "fs1.globex.local"}
    created = await post(api, "/assets", {**body, "type": "server"}, auth)
    assert created["type"] == "server"
    moved = await patch(api, "/assets/SRV-1", {"customer_id": "CUST-789", "hostname": "fs1.mueller.local"}, auth)
    assert (moved["customer_id"], moved["hostname"], moved["name"]) == ("CUST-789", "fs1.mueller.local", "File server")
    servers = await get(api, "/assets?type=server", auth)
    assert [a["id"] for a in servers["items"]] == ["SRV-1"]
    by_host = await get(api, "/assets?q=fs1.MUELLER", auth)
    assert [a["id"] for a in by_host["items"]] == ["SRV-1"]
    of_customer = await get(api, "/assets?customer_id=CUST-789", auth)
    assert [a["id"] for a in of_customer["items"]] == ["SRV-1", "WS-CLIENT-042"]
    await post(api, "/assets", {**body, "id": "SRV-2", "customer_id": "NOPE"}, auth, status=422)
    await patch(api, "/assets/SRV-1", {"customer_id": "NOPE"}, auth, status=422)
    await patch(api, "/assets/NOPE", {"name": "x"}, auth, status=404)


# --- maintenance windows -------------------------------------------------------------------------------------------


async def test_maintenance_windows(api: Api) -> None:
    auth = await api.auth(WRITE)
    await post(api, "/assets", {"id": "G-1", "customer_id": "CUST-100", "name": "g", "hostname": "g1"}, auth)
    body = {
        "id": "MW-1",
        "customer_id": "CUST-789",
        "title": "Firmware",
        "starts_at": "2026-12-05T22:00:00+01:00",
        "ends_at": "2026-12-06T02:00:00+01:00",
        "asset_ids": ["WS-CLIENT-042"],
    }
    created = await post(api, "/maintenance-windows", body, auth)
    assert created["starts_at"] == "2026-12-05T21:00:00Z"
    assert created["asset_ids"] == ["WS-CLIENT-042"]
    later = await patch(api, "/maintenance-windows/MW-1", {"ends_at": "2026-12-06T04:00:00+01:00"}, auth)
    assert later["ends_at"] == "2026-12-06T03:00:00Z"
    backwards = await patch(api, "/maintenance-windows/MW-1", {"ends_at": "2026-12-05T20:00:00Z"}, auth, 422)
    assert locations(backwards) == {"body.ends_at"}
    foreign = await post(api, "/maintenance-windows", {**body, "id": "MW-2", "asset_ids": ["G-1", "NOPE"]}, auth, 422)
    assert [e["loc"] for e in foreign["errors"]] == ["body.asset_ids", "body.asset_ids"]
    assert "CUST-100" in foreign["errors"][0]["msg"]
    naive = await post(api, "/maintenance-windows", {**body, "id": "MW-3", "starts_at": "2026-12-05T22:00"}, auth, 422)
    assert locations(naive) == {"body.starts_at"}
    assert (await get(api, "/maintenance-windows?customer_id=CUST-789", auth))["items"][0]["id"] == "MW-1"
    scoped = await api.auth(READ, customers=["CUST-100"])
    await get(api, "/maintenance-windows/MW-1", scoped, status=404)


# --- SLA policies --------------------------------------------------------------------------------------------------

TARGETS = {
    "critical": {"first_response_seconds": 900, "resolution_seconds": 7200},
    "high": {"first_response_seconds": 1800, "resolution_seconds": 14400},
    "medium": {"first_response_seconds": 3600, "resolution_seconds": 28800},
    "low": {"first_response_seconds": 7200, "resolution_seconds": 86400},
}


async def test_sla_policies(api: Api) -> None:
    reader = await api.auth(READ)
    standard = await get(api, "/sla-policies/standard", reader)
    assert standard["targets"]["critical"] == {"first_response_seconds": 1800, "resolution_seconds": 14400}
    assert standard["around_the_clock"] == ["critical"]
    body = {"id": "premium", "name": "Premium", "targets": TARGETS, "around_the_clock": ["high", "critical"]}
    refused = await api.client.post(f"{V1}/sla-policies", json=body, headers=await api.auth(WRITE))
    assert refused.status == 403
    admin = await api.auth("admin")
    created = await post(api, "/sla-policies", body, admin)
    assert created["around_the_clock"] == ["critical", "high"]
    changes = {"targets": {"low": TARGETS["medium"]}, "around_the_clock": []}
    changed = await patch(api, "/sla-policies/premium", changes, admin)
    assert changed["targets"]["low"] == TARGETS["medium"]
    assert changed["around_the_clock"] == []
    assert (await patch(api, "/sla-policies/premium", {"around_the_clock": ["low"]}, admin))["name"] == "Premium"
    assert changed["targets"]["critical"] == TARGETS["critical"]
    inverted = {"first_response_seconds": 7200, "resolution_seconds": 3600}
    problem = await patch(api, "/sla-policies/premium", {"targets": {"high": inverted}}, admin, status=422)
    assert locations(problem) == {"body.targets.high"}
    missing = await post(
        api, "/sla-policies", {**body, "id": "partial", "targets": {"low": TARGETS["low"]}}, admin, 422
    )
    assert {"body.targets.critical", "body.targets.high", "body.targets.medium"} <= locations(missing)
    assert [p["id"] for p in (await get(api, "/sla-policies", reader))["items"]] == ["premium", "standard"]
    writer = await api.auth(WRITE)
    moved = await patch(api, "/customers/CUST-100", {"sla_policy_id": "premium"}, writer)
    assert moved["sla_policy_id"] == "premium"


@pytest.mark.parametrize("path", ["/customers", "/contacts", "/technicians", "/assets", "/maintenance-windows"])
async def test_every_collection_refuses_unknown_filters(api: Api, path: str) -> None:
    auth = await api.auth(READ)
    response = await api.client.get(f"{V1}{path}?colour=red", headers=auth)
    assert response.status == 400
    assert locations(await response.json()) == {"query.colour"}


async def test_business_hours_must_leave_the_sla_clock_room(api: Api) -> None:
    """The SLA clock gives up on a due time beyond three years: such a calendar would fail every new ticket."""
    auth = await api.auth("admin")
    closed = await patch(api, "/customers/CUST-100", {"weekly_hours": {}}, auth, status=422)
    assert locations(closed) == {"body.weekly_hours"}
    assert "CUST-100" in closed["detail"]
    overlap = {"monday": [{"opens": "08:00", "closes": "12:00"}, {"opens": "11:00", "closes": "00:00"}]}
    assert locations(await patch(api, "/customers/CUST-100", {"weekly_hours": overlap}, auth, 422)) == {
        "body.weekly_hours.monday"
    }
    one_hour = {"monday": [{"opens": "08:00", "closes": "09:00"}]}
    await patch(api, "/customers/CUST-100", {"weekly_hours": one_hour}, auth)
    await post(api, "/tickets", {"title": "slow", "customer_id": "CUST-100", "priority": "low"}, auth)
    year = {"first_response_seconds": 3600, "resolution_seconds": 365 * 86_400}
    refused = await patch(api, "/sla-policies/standard", {"targets": {"low": year}}, auth, status=422)
    assert locations(refused) == {"body.targets"}
    assert [e["msg"].split()[5] for e in refused["errors"]] == ["CUST-100", "CUST-789"]
    await patch(api, "/sla-policies/standard", {"around_the_clock": ["low"], "targets": {"low": year}}, auth)


async def test_window_writes_queue_their_calendar_sync_in_the_same_transaction(make_api: MakeApi) -> None:
    """With a calendar configured (the sandbox records instead of calling Graph), every window write through the
    API leaves exactly one outbox row for the calendar, committed with the window."""
    from sqlalchemy import text

    from psa_chatops.bot import keys

    api = await make_api(graph_calendar_user="ops@msp.example")
    auth = await api.auth(WRITE)
    body = {
        "id": "MW-9",
        "customer_id": "CUST-789",
        "title": "Patch day",
        "starts_at": "2026-12-05T22:00:00+01:00",
        "ends_at": "2026-12-06T02:00:00+01:00",
        "asset_ids": [],
    }
    await post(api, "/maintenance-windows", body, auth)
    await patch(api, "/maintenance-windows/MW-9", {"title": "Patch day (moved)"}, auth)
    await post(api, "/maintenance-windows", {**body, "id": "MW-10", "ends_at": "2026-12-05T20:00:00Z"}, auth, 422)
    async with api.app[keys.ENGINE].connect() as conn:
        rows = (
            await conn.execute(text("SELECT destination, event_type FROM outbox WHERE destination LIKE 'calendar:%'"))
        ).all()
    assert [tuple(r) for r in rows] == [("calendar:ops@msp.example", "MaintenanceWindowChanged")] * 2
