"""Tickets over REST v1: create, read, change, notes, history, with idempotency, ETags and cursor pages."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from psa_chatops.bot import keys
from tests.bot.api.conftest import Api

PROBLEM = "application/problem+json"


async def create(api: Api, headers: dict[str, str], **fields: object) -> dict[str, object]:
    body = {"title": "Drucker druckt nicht", "customer_id": "CUST-789", **fields}
    response = await api.client.post("/api/v1/tickets", json=body, headers=headers)
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def test_create_then_get_with_etag_and_location(api: Api) -> None:
    auth = await api.auth()
    response = await api.client.post(
        "/api/v1/tickets", json={"title": "VPN down", "customer_id": "CUST-789", "priority": "high"}, headers=auth
    )
    assert response.status == 201
    ticket = await response.json()
    assert response.headers["Location"] == f"/api/v1/tickets/{ticket['number']}"
    assert ticket["priority"] == "high"
    assert ticket["source"] == "api"
    assert ticket["customer_name"] == "Müller Maschinenbau GmbH"
    etag = response.headers["ETag"]
    got = await api.client.get(f"/api/v1/tickets/{ticket['number']}", headers=auth)
    assert got.status == 200
    assert got.headers["ETag"] == etag
    assert (await got.json())["title"] == "VPN down"
    unchanged = await api.client.get(f"/api/v1/tickets/{ticket['number']}", headers={**auth, "If-None-Match": etag})
    assert unchanged.status == 304


async def test_validation_errors_are_precise_problems(api: Api) -> None:
    auth = await api.auth()
    response = await api.client.post("/api/v1/tickets", json={"title": "", "priority": "urgent"}, headers=auth)
    assert response.status == 422
    assert response.content_type == PROBLEM
    problem = await response.json()
    assert problem["type"] == "https://psa-chatops.dev/problems/validation-error"
    locations = {e["loc"] for e in problem["errors"]}
    assert {"body.title", "body.priority", "body.customer_id"} <= locations
    bad_json = await api.client.post(
        "/api/v1/tickets", data=b"{not json", headers={**auth, "Content-Type": "application/json"}
    )
    assert bad_json.status == 400
    assert (await bad_json.json())["type"].endswith("/malformed-json")
    not_json = await api.client.post("/api/v1/tickets", data=b"title=x", headers={**auth, "Content-Type": "text/plain"})
    assert not_json.status == 415
    unknown = await api.client.post(
        "/api/v1/tickets", json={"title": "x", "customer_id": "CUST-789", "colour": "red"}, headers=auth
    )
    assert unknown.status == 422
    bad_param = await api.client.get("/api/v1/tickets?limit=0", headers=auth)
    assert bad_param.status == 400
    assert (await bad_param.json())["errors"][0]["loc"] == "query.limit"


async def test_domain_errors_are_translated_problems(api: Api) -> None:
    auth = await api.auth()
    missing = await api.client.get("/api/v1/tickets/99999", headers={**auth, "Accept-Language": "de"})
    assert missing.status == 404
    problem = await missing.json()
    assert problem["type"].endswith("/not-found")
    assert "existiert nicht" in problem["detail"]


async def test_idempotency_key_replays_the_first_response(api: Api) -> None:
    auth = await api.auth()
    body = {"title": "Server room hot", "customer_id": "CUST-789"}
    headers = {**auth, "Idempotency-Key": "abc-1"}
    first = await api.client.post("/api/v1/tickets", json=body, headers=headers)
    second = await api.client.post("/api/v1/tickets", json=body, headers=headers)
    assert first.status == second.status == 201
    assert (await first.json())["number"] == (await second.json())["number"]
    assert second.headers["Idempotent-Replayed"] == "true"
    other = await api.client.post("/api/v1/tickets", json={**body, "title": "else"}, headers=headers)
    assert other.status == 422
    assert (await other.json())["type"].endswith("/idempotency-key-reused")
    async with api.app[keys.ENGINE].connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM tickets WHERE title = 'Server room hot'"))).scalar()
    assert count == 1


async def test_concurrent_retries_with_one_key_open_one_ticket(api: Api) -> None:
    auth = await api.auth()
    headers = {**auth, "Idempotency-Key": "storm"}
    body = {"title": "Storm", "customer_id": "CUST-789"}
    responses = await asyncio.gather(
        *(api.client.post("/api/v1/tickets", json=body, headers=headers) for _ in range(8))
    )
    statuses = sorted(r.status for r in responses)
    assert set(statuses) <= {201, 409}
    numbers = {(await r.json())["number"] for r in responses if r.status == 201}
    assert len(numbers) == 1


async def test_patch_with_if_match_maps_to_optimistic_concurrency(api: Api) -> None:
    auth = await api.auth()
    ticket = await create(api, auth)
    url = f"/api/v1/tickets/{ticket['number']}"
    etag = (await api.client.get(url, headers=auth)).headers["ETag"]
    changed = await api.client.patch(url, json={"status": "in_progress"}, headers={**auth, "If-Match": etag})
    assert changed.status == 200, await changed.text()
    assert (await changed.json())["status"] == "in_progress"
    stale = await api.client.patch(url, json={"priority": "low"}, headers={**auth, "If-Match": etag})
    assert stale.status == 412
    assert (await stale.json())["type"].endswith("/precondition-failed")
    fresh = await api.client.patch(url, json={"priority": "low"}, headers={**auth, "If-Match": changed.headers["ETag"]})
    assert fresh.status == 200


async def test_patch_several_fields_at_once_and_invalid_transition(api: Api) -> None:
    auth = await api.auth()
    ticket = await create(api, auth)
    url = f"/api/v1/tickets/{ticket['number']}"
    both = await api.client.patch(url, json={"priority": "critical", "assignee_id": "tom"}, headers=auth)
    body = await both.json()
    assert (body["priority"], body["assignee_id"]) == ("critical", "tom")
    invalid = await api.client.patch(url, json={"status": "new"}, headers=auth)
    assert invalid.status == 422


async def test_notes_and_event_history(api: Api) -> None:
    auth = await api.auth()
    ticket = await create(api, auth)
    url = f"/api/v1/tickets/{ticket['number']}"
    note = await api.client.post(f"{url}/notes", json={"body": "Toner getauscht", "visibility": "public"}, headers=auth)
    assert note.status == 201
    notes = await (await api.client.get(f"{url}/notes", headers=auth)).json()
    assert [n["body"] for n in notes["items"]] == ["Toner getauscht"]
    events = await (await api.client.get(f"{url}/events", headers=auth)).json()
    types = [e["type"] for e in events["items"]]
    assert types[0] == "TicketOpened"
    assert "NoteAdded" in types
    assert all(e["actor"].startswith("apikey:") for e in events["items"])


async def test_reads_are_cached_and_writes_invalidate(api: Api) -> None:
    auth = await api.auth()
    ticket = await create(api, auth)
    url = f"/api/v1/tickets/{ticket['number']}"
    assert (await api.client.get(url, headers=auth)).headers["X-Cache"] == "miss"
    assert (await api.client.get(url, headers=auth)).headers["X-Cache"] == "hit"
    await api.client.post(f"{url}/notes", json={"body": "changed"}, headers=auth)
    after = await api.client.get(url, headers=auth)
    assert after.headers["X-Cache"] == "miss"
    assert [n["body"] for n in (await after.json())["recent_notes"]] == ["changed"]


async def test_cursor_pages_are_stable_while_tickets_are_opened(api: Api) -> None:
    auth = await api.auth()
    opened = [(await create(api, auth, title=f"T{i}"))["number"] for i in range(7)]
    seen: list[int] = []
    url = "/api/v1/tickets?limit=3"
    while url:
        response = await api.client.get(url, headers=auth)
        page = await response.json()
        seen += [t["number"] for t in page["items"]]
        await create(api, auth, title="inserted meanwhile")  # newer tickets must not shift later pages
        link = next_link(response.headers.getall("Link", []))
        url = link or ""
        assert (page["next_cursor"] is None) == (link is None)
    assert seen == sorted(opened, reverse=True)
    assert len(seen) == len(set(seen))


def next_link(links: list[str]) -> str | None:
    for link in links:
        target, _, rel = link.partition(";")
        if rel.strip() == 'rel="next"':
            return target.strip().lstrip("<").rstrip(">")
    return None


async def test_v1_ticket_routes_point_to_their_v2_successor(api: Api) -> None:
    auth = await api.auth()
    ticket = await create(api, auth)
    v1 = await api.client.get(f"/api/v1/tickets/{ticket['number']}", headers=auth)
    assert v1.headers["Deprecation"].startswith("@")
    assert v1.headers["Sunset"].endswith("GMT")
    assert f'</api/v2/tickets/{ticket["number"]}>; rel="successor-version"' in v1.headers.getall("Link")
    events = await api.client.get(f"/api/v1/tickets/{ticket['number']}/events", headers=auth)
    assert "Deprecation" not in events.headers  # v2 did not change it


async def test_v2_embeds_related_records_and_uses_iso_durations(api: Api) -> None:
    auth = await api.auth()
    created = await api.client.post(
        "/api/v2/tickets",
        json={"title": "Monitor flackert", "customer_id": "CUST-789", "asset_id": "WS-CLIENT-042", "priority": "high"},
        headers=auth,
    )
    assert created.status == 201
    assert created.headers["Location"] == f"/api/v2/tickets/{(await created.json())['number']}"
    body = await created.json()
    assert body["customer"] == {"id": "CUST-789", "name": "Müller Maschinenbau GmbH"}
    assert body["asset"] == {"id": "WS-CLIENT-042", "name": "WS-CLIENT-042"}
    assert body["assignee"] is None
    first = next(s for s in body["sla"] if s["target"] == "first_response")
    assert first["allowed"] == "PT1H"  # high priority: one business hour
    assert first["used"] == "PT0S"
    assert body["_links"]["self"] == f"/api/v2/tickets/{body['number']}"
    assert "Deprecation" not in created.headers
    listed = await (await api.client.get("/api/v2/tickets", headers=auth)).json()
    assert listed["items"][0]["customer"]["id"] == "CUST-789"
    same = await (await api.client.get(f"/api/v1/tickets/{body['number']}", headers=auth)).json()
    assert same["customer_id"] == "CUST-789"  # one ticket, two presentations


async def test_list_filters_and_sort(api: Api) -> None:
    auth = await api.auth()
    await create(api, auth, title="low one", priority="low")
    await create(api, auth, title="high one", priority="high")
    await create(api, auth, title="other customer", customer_id="CUST-100")
    highs = await (await api.client.get("/api/v1/tickets?priority=high", headers=auth)).json()
    assert [t["title"] for t in highs["items"]] == ["high one"]
    both = await (await api.client.get("/api/v1/tickets?priority=high&priority=low&sort=number", headers=auth)).json()
    assert [t["title"] for t in both["items"]] == ["low one", "high one"]
    mine = await (await api.client.get("/api/v1/tickets?customer_id=CUST-100", headers=auth)).json()
    assert mine["total"] == 1
    found = await (await api.client.get("/api/v1/tickets?q=OTHER", headers=auth)).json()
    assert [t["title"] for t in found["items"]] == ["other customer"]


async def test_v2_sla_policies_use_iso_durations(api: Api) -> None:
    auth = await api.auth("directory:read")
    v2 = await api.client.get("/api/v2/sla-policies/standard", headers=auth)
    assert v2.status == 200
    policy = await v2.json()
    assert policy["targets"]["high"] == {"first_response": "PT1H", "resolution": "PT8H"}
    assert policy["targets"]["critical"]["first_response"] == "PT30M"
    v1 = await api.client.get("/api/v1/sla-policies/standard", headers=auth)
    assert (await v1.json())["targets"]["high"]["first_response_seconds"] == 3600
    assert '</api/v2/sla-policies/standard>; rel="successor-version"' in v1.headers.getall("Link")
    listed = await (await api.client.get("/api/v2/sla-policies", headers=auth)).json()
    assert listed["items"][0]["targets"]["low"]["resolution"] == "PT40H"
