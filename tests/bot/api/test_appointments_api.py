"""``/api/v1/tickets/{number}/appointments`` and ``/api/v1/appointments``: the v1 conventions (problem+json, ETag
and If-Match on the appointment's version, Idempotency-Key, cursor pages, scopes and customer limits)."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.bot.api.conftest import Api, MakeApi

V1 = "/api/v1"
PROBLEMS = "https://psa-chatops.dev/problems/"
VISIT = {
    "technician_id": "tom",
    "starts_at": "2026-11-24T10:00:00+01:00",
    "ends_at": "2026-11-24T12:00:00+01:00",
    "location": "Industriestr. 5, 70565 Stuttgart",
}


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api()


async def request(api: Api, method: str, path: str, auth: dict[str, str], status: int, **kwargs: Any) -> Any:
    response = await api.client.request(method, f"{V1}{path}", headers=auth | kwargs.pop("headers", {}), **kwargs)
    assert response.status == status, await response.text()
    return response


async def body(api: Api, method: str, path: str, auth: dict[str, str], status: int, **kwargs: Any) -> Any:
    return await (await request(api, method, path, auth, status, **kwargs)).json()


async def open_ticket(api: Api, auth: dict[str, str], customer_id: str = "CUST-789") -> int:
    created = await body(api, "POST", "/tickets", auth, 201, json={"title": "Rack", "customer_id": customer_id})
    number: int = created["number"]
    return number


async def test_book_read_move_and_cancel(api: Api) -> None:
    auth = await api.auth("tickets:read", "tickets:write")
    number = await open_ticket(api, auth)
    created = await request(api, "POST", f"/tickets/{number}/appointments", auth, 201, json=VISIT)
    assert created.headers["Location"] == f"{V1}/tickets/{number}/appointments/1"
    assert created.headers["ETag"] == f'"a{number}-1-v1"'
    booked = await created.json()
    assert {k: booked[k] for k in ("id", "ticket_number", "technician", "starts_at", "title", "status")} == {
        "id": 1,
        "ticket_number": number,
        "technician": "Tom Technician",
        "starts_at": "2026-11-24T09:00:00Z",
        "title": "Rack",  # no title: the ticket's
        "status": "scheduled",
    }
    assert booked["created_by"].startswith("apikey:")

    one = await request(api, "GET", f"/tickets/{number}/appointments/1", auth, 200)
    await request(
        api, "GET", f"/tickets/{number}/appointments/1", auth, 304, headers={"If-None-Match": one.headers["ETag"]}
    )

    moved = await request(
        api, "PATCH", f"/tickets/{number}/appointments/1", auth, 200,
        json={"starts_at": "2026-11-24T13:00:00+01:00", "notes": "ladder"}, headers={"If-Match": f'"a{number}-1-v1"'},
    )  # fmt: skip
    assert ((await moved.json())["ends_at"], moved.headers["ETag"]) == ("2026-11-24T14:00:00Z", f'"a{number}-1-v2"')
    stale = await body(
        api, "PATCH", f"/tickets/{number}/appointments/1", auth, 412, json={"title": "x"},
        headers={"If-Match": f'"a{number}-1-v1"'},
    )  # fmt: skip
    assert stale["type"] == PROBLEMS + "precondition-failed"
    foreign = {"If-Match": f'"t{number}-v1"'}  # a ticket's ETag is not an appointment's
    await request(api, "DELETE", f"/tickets/{number}/appointments/1", auth, 412, headers=foreign)

    await request(api, "DELETE", f"/tickets/{number}/appointments/1?reason=fixed+remotely", auth, 204)
    again = await body(api, "DELETE", f"/tickets/{number}/appointments/1", auth, 409)
    assert "cancelled" in again["detail"]
    listed = await body(api, "GET", f"/tickets/{number}/appointments", auth, 200)
    assert [(a["id"], a["status"], a["cancel_reason"]) for a in listed["items"]] == [(1, "cancelled", "fixed remotely")]

    history = await body(api, "GET", f"/tickets/{number}/events", auth, 200)
    types = [e["type"] for e in history["items"]]
    assert types[-3:] == ["AppointmentScheduled", "AppointmentRescheduled", "AppointmentCancelled"]
    assert history["items"][-1]["data"] == {"appointment_id": 1, "reason": "fixed remotely"}


async def test_requests_are_validated_precisely(api: Api) -> None:
    auth = await api.auth("tickets:read", "tickets:write")
    number = await open_ticket(api, auth)
    path = f"/tickets/{number}/appointments"
    naive = await body(api, "POST", path, auth, 422, json={**VISIT, "starts_at": "2026-11-24T10:00:00"})
    assert {e["loc"] for e in naive["errors"]} == {"body.starts_at"}
    extra = await body(api, "POST", path, auth, 422, json={**VISIT, "room": "3"})
    assert {e["loc"] for e in extra["errors"]} == {"body.room"}
    missing = await body(api, "POST", path, auth, 422, json={k: v for k, v in VISIT.items() if k != "location"})
    assert {e["loc"] for e in missing["errors"]} == {"body.location"}
    backwards = await body(
        api, "POST", path, {**auth, "Accept-Language": "de"}, 422, json={**VISIT, "ends_at": VISIT["starts_at"]}
    )
    assert backwards["detail"] == "Ein Termin muss nach seinem Beginn enden."
    await request(api, "GET", f"/tickets/{number}/appointments/0", auth, 400)
    await request(api, "PATCH", f"/tickets/{number}/appointments/1", auth, 404, json={"title": "x"})
    await request(api, "POST", "/tickets/99999/appointments", auth, 404, json=VISIT)
    await request(api, "GET", "/appointments?from=2026-11-24T10:00:00", auth, 400)
    window = "/appointments?from=2026-11-25T00:00:00Z&to=2026-11-24T00:00:00Z"
    await request(api, "GET", window, auth, 422)
    await request(api, "GET", "/appointments?cursor=bm9wZQ", auth, 400)


async def test_idempotency_key_books_once(api: Api) -> None:
    auth = await api.auth("tickets:read", "tickets:write")
    number = await open_ticket(api, auth)
    key = {"Idempotency-Key": "visit-1"}
    first = await body(api, "POST", f"/tickets/{number}/appointments", auth, 201, json=VISIT, headers=key)
    second = await body(api, "POST", f"/tickets/{number}/appointments", auth, 201, json=VISIT, headers=key)
    assert first == second
    moved = {**VISIT, "starts_at": "2026-11-24T15:00:00+01:00", "ends_at": "2026-11-24T16:00:00+01:00"}
    await request(api, "POST", f"/tickets/{number}/appointments", auth, 422, json=moved, headers=key)
    assert len((await body(api, "GET", f"/tickets/{number}/appointments", auth, 200))["items"]) == 1


async def test_a_technicians_calendar_pages_across_tickets(api: Api) -> None:
    auth = await api.auth("tickets:read", "tickets:write")
    first, second = await open_ticket(api, auth), await open_ticket(api, auth)
    for number, day in ((first, 24), (second, 25), (first, 26)):
        visit = {**VISIT, "starts_at": f"2026-11-{day}T10:00:00+01:00", "ends_at": f"2026-11-{day}T11:00:00+01:00"}
        await request(api, "POST", f"/tickets/{number}/appointments", auth, 201, json=visit)
    await request(api, "POST", f"/tickets/{second}/appointments", auth, 201, json={**VISIT, "technician_id": "dora"})

    page = await request(api, "GET", "/appointments?technician=tom&limit=2", auth, 200)
    data = await page.json()
    assert [(a["ticket_number"], a["starts_at"][:10]) for a in data["items"]] == [
        (first, "2026-11-24"),
        (second, "2026-11-25"),
    ]
    assert 'rel="next"' in page.headers["Link"]
    rest = await body(api, "GET", f"/appointments?technician=tom&limit=2&cursor={data['next_cursor']}", auth, 200)
    assert [(a["ticket_number"], a["starts_at"][:10]) for a in rest["items"]] == [(first, "2026-11-26")]
    assert rest["next_cursor"] is None
    window = await body(api, "GET", "/appointments?from=2026-11-24T00:00:00Z&to=2026-11-25T00:00:00Z", auth, 200)
    assert sorted(a["technician_id"] for a in window["items"]) == ["dora", "tom"]


async def test_scopes_and_customer_limits(api: Api) -> None:
    writer = await api.auth("tickets:read", "tickets:write")
    number = await open_ticket(api, writer)
    reader = await api.auth("tickets:read")
    await request(api, "POST", f"/tickets/{number}/appointments", reader, 403, json=VISIT)
    await request(api, "POST", f"/tickets/{number}/appointments", writer, 201, json=VISIT)
    await request(api, "GET", f"/tickets/{number}/appointments", reader, 200)
    await request(api, "DELETE", f"/tickets/{number}/appointments/1", reader, 403)
    globex = await api.auth("tickets:read", "tickets:write", customers=["CUST-100"])
    await request(api, "GET", f"/tickets/{number}/appointments", globex, 404)
    await request(api, "DELETE", f"/tickets/{number}/appointments/1", globex, 404)
    assert (await body(api, "GET", "/appointments", globex, 200))["items"] == []
    assert len((await body(api, "GET", "/appointments", reader, 200))["items"]) == 1


async def test_the_openapi_document_describes_them(api: Api) -> None:
    document = await (await api.client.get(f"{V1}/openapi.json")).json()
    validate(document)
    paths = document["paths"]
    assert set(paths["/tickets/{number}/appointments/{id}"]) >= {"get", "patch", "delete"}
    names = {p["name"] for p in paths["/appointments"]["get"]["parameters"]}
    assert {"technician", "from", "to", "cursor", "limit"} <= names
    assert "If-Match" in {p["name"] for p in paths["/tickets/{number}/appointments/{id}"]["delete"]["parameters"]}
    assert "Idempotency-Key" in {p["name"] for p in paths["/tickets/{number}/appointments"]["post"]["parameters"]}
