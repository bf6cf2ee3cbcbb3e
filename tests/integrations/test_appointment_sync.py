"""On-site appointments -> Microsoft 365 calendar on SQLite and PostgreSQL: the bus commits the ticket event, the
projection and the outbox row together; the real dispatcher makes a loopback Microsoft Graph match, idempotently."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import build_bus
from psa_chatops.bot.lifecycle import build_dispatcher
from psa_chatops.bot.settings import Settings
from psa_chatops.core import commands as c
from psa_chatops.handlers.ports import Delivery
from psa_chatops.handlers.views import TicketView
from psa_chatops.integrations.errors import PermanentDeliveryError
from psa_chatops.storage.appointments import appointment_source
from psa_chatops.storage.calendar_sync import CalendarEventStore
from psa_chatops.storage.outbox import OutboxStore
from tests.conftest import ContextFor, FrozenClock
from tests.fakes.graph import CLIENT_ID, CLIENT_SECRET, TENANT, FakeGraph, start_fake_graph, tls_files

GROUP = "grp-einsatz"
START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


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


def settings_for(graph: FakeGraph) -> Settings:
    return Settings(
        graph_tenant_id=TENANT,
        graph_client_id=CLIENT_ID,
        graph_client_secret=CLIENT_SECRET,
        graph_calendar_group=GROUP,
        graph_api_url=graph.api_url,
        graph_authority_url=graph.authority_url,
    )


async def test_book_move_cancel_and_replays_change_nothing(
    db: AsyncEngine, clock: FrozenClock, context_for: ContextFor, graph: FakeGraph, session: aiohttp.ClientSession
) -> None:
    bus = build_bus(db, clock, calendar=GROUP)
    dispatcher = build_dispatcher(settings_for(graph), OutboxStore(db), session, clock, engine=db)
    dora = await context_for("dora")
    ticket: TicketView = await bus.handle(c.OpenTicket(title="Switch", customer_id="CUST-789"), dora)
    end = START + timedelta(hours=1)
    visit = c.ScheduleAppointment(
        number=ticket.number, technician_id="tom", starts_at=START, ends_at=end, location="Werk 2"
    )
    await bus.handle(visit, dora)
    await dispatcher.drain()
    (created,) = graph.state.of("create")
    assert created.path == f"/v1.0/groups/{GROUP}/events"
    assert created.body["subject"] == "On-site: Switch (Müller Maschinenbau GmbH)"
    assert created.body["attendees"][0]["emailAddress"]["address"] == "tom@msp.example"
    (event_id,) = graph.state.events

    await bus.handle(c.RescheduleAppointment(number=ticket.number, appointment_id=1, technician_id="dora"), dora)
    await dispatcher.drain()
    assert graph.state.events[event_id]["attendees"][0]["emailAddress"]["address"] == "dora@msp.example"

    rows = await dispatcher.store.rows(limit=10)
    await dispatcher.store.replay(ids=[r.id for r in rows], now=clock.now())  # every row again: nothing changes
    await dispatcher.drain()
    assert [c.kind for c in graph.state.calls if c.kind in ("create", "update", "delete")] == ["create", "update"]

    await bus.handle(c.CancelAppointment(number=ticket.number, appointment_id=1), dora)
    await dispatcher.drain()
    assert graph.state.events == {}
    synced = await CalendarEventStore(db).get(appointment_source(ticket.number, 1), GROUP)
    assert synced is not None
    assert synced.deleted


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
async def test_a_row_naming_nothing_is_permanent(
    db: AsyncEngine, clock: FrozenClock, graph: FakeGraph, session: aiohttp.ClientSession
) -> None:
    dispatcher = build_dispatcher(settings_for(graph), OutboxStore(db), session, clock, engine=db)
    notifier = dispatcher.notifiers.for_destination(f"calendar:{GROUP}")
    payload = {"appointment": {"ticket_number": "12000", "id": 1}, "action": "upsert"}
    with pytest.raises(PermanentDeliveryError, match="no maintenance window or appointment"):
        await notifier.deliver(Delivery(1, "k", f"calendar:{GROUP}", "AppointmentChanged", payload))
