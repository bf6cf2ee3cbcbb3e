"""On-site appointments end to end: booked, moved and cancelled over REST, synced by the real dispatcher to a
loopback Microsoft Graph (location, the technician invited), and served in the customer's iCalendar feed."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import icalendar
import pytest
from pytest_aiohttp import AiohttpServer

from psa_chatops.bot import keys
from psa_chatops.bot.lifecycle import build_dispatcher
from psa_chatops.bot.worker import Dispatcher
from psa_chatops.storage import calendar_sync
from psa_chatops.storage.appointments import appointment_source
from psa_chatops.storage.calendar_sync import CalendarEventStore
from psa_chatops.storage.outbox import OutboxStore
from tests.bot.api.conftest import Api, MakeApi
from tests.conftest import FrozenClock
from tests.fakes.graph import CLIENT_ID, CLIENT_SECRET, TENANT, FakeGraph, start_fake_graph, tls_files

MAILBOX = "einsatz@msp.example"
VISIT = {
    "technician_id": "tom",
    "starts_at": "2026-11-24T10:00:00+01:00",
    "ends_at": "2026-11-24T12:00:00+01:00",
    "location": "Industriestr. 5, 70565 Stuttgart",
    "title": "Netzteil tauschen",
    "notes": "Schlüssel beim Empfang; Kunde ist ungeduldig",
}


@pytest.fixture
async def graph(aiohttp_server: AiohttpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGraph:
    fake = await start_fake_graph(aiohttp_server, tls_files(tmp_path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_file))  # msal's requests session trusts the fake
    return fake


@pytest.fixture
async def session(graph: FakeGraph) -> AsyncIterator[aiohttp.ClientSession]:
    context: ssl.SSLContext = graph.client_ssl
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as s:
        yield s


async def graph_api(make_api: MakeApi, graph: FakeGraph) -> Api:
    return await make_api(
        sandbox=False,
        graph_tenant_id=TENANT,
        graph_client_id=CLIENT_ID,
        graph_client_secret=CLIENT_SECRET,
        graph_calendar_user=MAILBOX,
        graph_api_url=graph.api_url,
        graph_authority_url=graph.authority_url,
        default_locale="de",
    )


def dispatcher_of(api: Api, session: aiohttp.ClientSession, clock: FrozenClock) -> Dispatcher:
    engine = api.app[keys.ENGINE]
    return build_dispatcher(api.app[keys.SETTINGS], OutboxStore(engine), session, clock, engine=engine)


async def open_ticket(api: Api, auth: dict[str, str]) -> int:
    response = await api.client.post(
        "/api/v1/tickets", json={"title": "Server startet nicht", "customer_id": "CUST-789"}, headers=auth
    )
    assert response.status == 201, await response.text()
    number: int = (await response.json())["number"]
    return number


async def call(api: Api, method: str, path: str, auth: dict[str, str], status: int, **kwargs: Any) -> Any:
    response = await api.client.request(method, f"/api/v1{path}", headers=auth, **kwargs)
    assert response.status == status, await response.text()
    return await response.json() if response.content_type == "application/json" else None


async def test_book_move_cancel_sync_to_the_microsoft_365_calendar(
    make_api: MakeApi, graph: FakeGraph, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    api = await graph_api(make_api, graph)
    auth = await api.auth("tickets:read", "tickets:write")
    dispatcher = dispatcher_of(api, session, clock)
    number = await open_ticket(api, auth)

    await call(api, "POST", f"/tickets/{number}/appointments", auth, 201, json=VISIT)
    assert await dispatcher.drain() == 1
    (created,) = graph.state.of("create")
    assert created.path == f"/v1.0/users/{MAILBOX}/events"
    body = created.body
    assert body["subject"] == "Vor-Ort-Termin: Netzteil tauschen (Müller Maschinenbau GmbH)"
    assert body["start"] == {"dateTime": "2026-11-24T09:00:00", "timeZone": "UTC"}
    assert body["end"] == {"dateTime": "2026-11-24T11:00:00", "timeZone": "UTC"}
    assert body["location"] == {"displayName": "Industriestr. 5, 70565 Stuttgart"}
    assert body["attendees"] == [
        {"type": "required", "emailAddress": {"address": "tom@msp.example", "name": "Tom Technician"}}
    ]
    assert f"Ticket #{number}: Server startet nicht" in body["body"]["content"]
    assert "Schlüssel beim Empfang" in body["body"]["content"]  # the technicians' own calendar shows the notes
    (event_id,) = graph.state.events

    moved = {"starts_at": "2026-11-24T14:00:00+01:00"}
    await call(api, "PATCH", f"/tickets/{number}/appointments/1", auth, 200, json=moved)
    assert await dispatcher.drain() == 1
    (updated,) = graph.state.of("update")
    assert updated.path.endswith(f"/events/{event_id}")
    assert graph.state.events[event_id]["end"]["dateTime"] == "2026-11-24T15:00:00"

    await call(api, "DELETE", f"/tickets/{number}/appointments/1?reason=erledigt", auth, 204)
    assert await dispatcher.drain() == 1
    (deleted,) = graph.state.of("delete")
    assert deleted.path.endswith(f"/events/{event_id}")
    assert graph.state.events == {}
    synced = await CalendarEventStore(api.app[keys.ENGINE]).get(appointment_source(number, 1), MAILBOX)
    assert synced is not None
    assert synced.deleted
    assert len(graph.state.of("create")) == 1


async def test_the_customer_feed_lists_scheduled_appointments_without_notes(
    make_api: MakeApi, clock: FrozenClock
) -> None:
    api = await make_api()
    auth = await api.auth("tickets:read", "tickets:write")
    number = await open_ticket(api, auth)
    await call(api, "POST", f"/tickets/{number}/appointments", auth, 201, json=VISIT)
    async with api.app[keys.ENGINE].begin() as conn:
        token = await calendar_sync.create_feed(conn, "CUST-789", created_by="test", now=clock.now())
        other = await calendar_sync.create_feed(conn, "CUST-100", created_by="test", now=clock.now())

    response = await api.client.get(f"/calendar/{token}.ics")
    assert response.status == 200
    feed = icalendar.Calendar.from_ical(await response.read())
    [event] = feed.walk("VEVENT")
    assert str(event["uid"]) == f"appointment-{number}-1@psa-chatops"
    assert str(event["summary"]) == "Vor-Ort-Termin: Netzteil tauschen"
    assert str(event["location"]) == "Industriestr. 5, 70565 Stuttgart"
    assert "Tom Technician" in str(event["description"])
    assert "Schlüssel" not in str(event["description"])  # notes are the technicians' own
    assert event.decoded("dtstart").isoformat() == "2026-11-24T09:00:00+00:00"
    etag = response.headers["ETag"]

    empty = icalendar.Calendar.from_ical(await (await api.client.get(f"/calendar/{other}.ics")).read())
    assert empty.walk("VEVENT") == []

    await call(api, "PATCH", f"/tickets/{number}/appointments/1", auth, 200, json={"location": "Werk 2"})
    moved = await api.client.get(f"/calendar/{token}.ics", headers={"If-None-Match": etag})
    assert moved.status == 200
    [event] = icalendar.Calendar.from_ical(await moved.read()).walk("VEVENT")
    assert (str(event["location"]), int(str(event["sequence"]))) == ("Werk 2", 1)

    await call(api, "DELETE", f"/tickets/{number}/appointments/1", auth, 204)
    gone = icalendar.Calendar.from_ical(await (await api.client.get(f"/calendar/{token}.ics")).read())
    assert gone.walk("VEVENT") == []
