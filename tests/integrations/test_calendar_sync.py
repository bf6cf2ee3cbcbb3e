"""Maintenance windows -> Microsoft 365 calendar: the outbox row commits with the window, the real dispatcher
delivers it to a loopback Microsoft Graph (msal tokens from the fake's token endpoint)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.calendar import calendar_notifier, configured_calendar
from psa_chatops.bot.lifecycle import build_dispatcher
from psa_chatops.bot.settings import Settings
from psa_chatops.bot.worker import Dispatcher
from psa_chatops.core.directory import MaintenanceWindow
from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.calendar_graph import GraphCalendarNotifier
from psa_chatops.integrations.errors import PermanentDeliveryError, RateLimitedError
from psa_chatops.integrations.resilience import BreakerBoard, BreakerPolicy
from psa_chatops.storage import directory_writer as writer
from psa_chatops.storage import tables as t
from psa_chatops.storage.calendar_sync import CalendarEventStore, window_source
from psa_chatops.storage.outbox import OutboxStore
from tests.conftest import FrozenClock
from tests.fakes.graph import CLIENT_ID, CLIENT_SECRET, TENANT, FakeGraph, start_fake_graph, tls_files

MAILBOX = "wartung@msp.example"
DEST = f"calendar:{MAILBOX}"
MW = MaintenanceWindow(
    "MW-1",
    "CUST-789",
    "Firmware-Update Switches",
    datetime(2026, 11, 28, 19, 0, tzinfo=UTC),
    datetime(2026, 11, 28, 23, 0, tzinfo=UTC),
    ("WS-CLIENT-042",),
)
OUTBOX = t.table_of(t.OutboxRow)


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, ssl.SSLContext, ssl.SSLContext]:
    return tls_files(tmp_path)


@pytest.fixture
async def graph(
    aiohttp_server: AiohttpServer, tls: tuple[Path, ssl.SSLContext, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> FakeGraph:
    fake = await start_fake_graph(aiohttp_server, tls)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_file))  # msal's requests session trusts the fake
    return fake


@pytest.fixture
async def session(graph: FakeGraph) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=graph.client_ssl)) as s:
        yield s


def graph_settings(graph: FakeGraph, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "graph_tenant_id": TENANT,
        "graph_client_id": CLIENT_ID,
        "graph_client_secret": CLIENT_SECRET,
        "graph_calendar_user": MAILBOX,
        "graph_api_url": graph.api_url,
        "graph_authority_url": graph.authority_url,
        "default_locale": "de",
        "breaker_failure_threshold": 2,
    }
    return Settings(**{**values, **overrides})


def dispatcher_for(
    settings: Settings, engine: AsyncEngine, session: aiohttp.ClientSession, clock: FrozenClock
) -> Dispatcher:
    return build_dispatcher(settings, OutboxStore(engine), session, clock, engine=engine)


async def add(
    engine: AsyncEngine, window: MaintenanceWindow, clock: FrozenClock, calendar: str | None = MAILBOX
) -> None:
    async with engine.begin() as conn:
        await writer.insert_window(conn, window, calendar=calendar, now=clock.now())


async def change(engine: AsyncEngine, window: MaintenanceWindow, clock: FrozenClock) -> None:
    async with engine.begin() as conn:
        assert await writer.update_window(conn, window, calendar=MAILBOX, now=clock.now())


async def remove(engine: AsyncEngine, window_id: str, clock: FrozenClock) -> None:
    async with engine.begin() as conn:
        assert await writer.delete_window(conn, window_id, calendar=MAILBOX, now=clock.now())


async def outbox(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(OUTBOX).order_by(OUTBOX.c.id))).all())


# --- the outbox row ------------------------------------------------------------------------------------------------


async def test_a_window_write_queues_its_sync_in_the_same_transaction(db: AsyncEngine, clock: FrozenClock) -> None:
    await add(db, MW, clock)
    (row,) = await outbox(db)
    assert (row.destination, row.event_type, row.ticket_number, row.status) == (
        DEST,
        "MaintenanceWindowChanged",
        None,
        "pending",
    )
    assert row.payload["action"] == "upsert"
    assert row.payload["window"]["id"] == "MW-1"

    async def rolled_back() -> None:
        async with db.begin() as conn:
            await writer.insert_window(conn, replace(MW, id="MW-2"), calendar=MAILBOX, now=clock.now())
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await rolled_back()
    assert len(await outbox(db)) == 1  # neither the window nor its row

    await change(db, replace(MW, title="Neu"), clock)
    await change(db, replace(MW, title="Neu"), clock)  # the same change twice, same instant: two rows, two keys
    await remove(db, "MW-1", clock)
    rows = await outbox(db)
    assert [r.payload["action"] for r in rows] == ["upsert", "upsert", "upsert", "delete"]
    assert len({r.idempotency_key for r in rows}) == 4


async def test_no_calendar_no_row(db: AsyncEngine, clock: FrozenClock) -> None:
    await add(db, MW, clock, calendar=None)
    assert await outbox(db) == []
    assert configured_calendar(Settings(graph_calendar_user=MAILBOX)) is None  # no credentials
    assert configured_calendar(Settings(graph_calendar_group="g-1", sandbox=True)) == "g-1"


# --- delivery to Microsoft Graph ------------------------------------------------------------------------------------


async def test_create_update_delete_through_the_dispatcher(
    db: AsyncEngine, clock: FrozenClock, graph: FakeGraph, session: aiohttp.ClientSession
) -> None:
    dispatcher = dispatcher_for(graph_settings(graph), db, session, clock)
    await add(db, MW, clock)
    assert await dispatcher.drain() == 1
    (created,) = graph.state.of("create")
    assert created.path == f"/v1.0/users/{MAILBOX}/events"
    assert created.body["subject"] == "Wartungsfenster: Firmware-Update Switches (Müller Maschinenbau GmbH)"
    assert created.body["start"] == {"dateTime": "2026-11-28T19:00:00", "timeZone": "UTC"}
    assert created.body["end"] == {"dateTime": "2026-11-28T23:00:00", "timeZone": "UTC"}
    assert "WS-CLIENT-042" in created.body["body"]["content"]
    assert created.body["transactionId"]
    (event_id,) = graph.state.events
    synced = await CalendarEventStore(db).get(window_source("MW-1"), MAILBOX)
    assert synced is not None
    assert synced.graph_event_id == event_id

    later = replace(MW, ends_at=MW.ends_at + timedelta(hours=2))
    await change(db, later, clock)
    assert await dispatcher.drain() == 1
    (updated,) = graph.state.of("update")
    assert updated.path.endswith(f"/events/{event_id}")
    assert graph.state.events[event_id]["end"]["dateTime"] == "2026-11-29T01:00:00"

    await remove(db, "MW-1", clock)
    assert await dispatcher.drain() == 1
    (deleted,) = graph.state.of("delete")
    assert deleted.path.endswith(f"/events/{event_id}")
    assert graph.state.events == {}
    synced = await CalendarEventStore(db).get(window_source("MW-1"), MAILBOX)
    assert synced is not None
    assert synced.deleted
    assert {r.status for r in await outbox(db)} == {"delivered"}
    assert len(graph.state.of("token")) == 1  # fetched once, then msal's cache
    assert len(graph.state.of("openid")) == 1


async def test_redelivery_creates_nothing_new(
    db: AsyncEngine, clock: FrozenClock, graph: FakeGraph, session: aiohttp.ClientSession
) -> None:
    dispatcher = dispatcher_for(graph_settings(graph), db, session, clock)
    await add(db, MW, clock)
    await dispatcher.drain()
    (row,) = await outbox(db)
    await dispatcher.store.replay(ids=[row.id], now=clock.now())
    await dispatcher.drain()
    assert len(graph.state.of("create")) == 1
    assert graph.state.of("update") == []

    # the answer to the POST was lost (crash before calendar_events was written): the retried POST carries the
    # same transactionId, and Graph answers the event it booked the first time
    async with db.begin() as conn:
        await conn.execute(t.table_of(t.CalendarEventRow).delete())
    await dispatcher.store.replay(ids=[row.id], now=clock.now())
    await dispatcher.drain()
    first, second = graph.state.of("create")
    assert first.body["transactionId"] == second.body["transactionId"]
    assert len(graph.state.events) == 1


async def test_429_is_rate_limited_with_retry_after(
    db: AsyncEngine, clock: FrozenClock, graph: FakeGraph, session: aiohttp.ClientSession
) -> None:
    dispatcher = dispatcher_for(graph_settings(graph), db, session, clock)
    await add(db, MW, clock)
    graph.state.fail_next(1, status=429, retry_after=120)
    assert await dispatcher.run_once() == 1
    (row,) = await outbox(db)
    assert row.status == "pending"
    assert "429" in row.last_error
    assert row.next_attempt_at.replace(tzinfo=UTC) >= clock.now() + timedelta(seconds=120)
    assert await dispatcher.run_once() == 0  # not before Retry-After
    clock.advance(seconds=121)
    assert await dispatcher.drain() == 1
    assert len(graph.state.events) == 1


async def test_503_with_retry_after_raises_rate_limited(
    db: AsyncEngine, clock: FrozenClock, graph: FakeGraph, session: aiohttp.ClientSession
) -> None:
    notifier = calendar_notifier(graph_settings(graph), session, engine=db, writer=None)
    assert isinstance(notifier, GraphCalendarNotifier)
    await add(db, MW, clock)
    delivery = Delivery(1, "k", DEST, "MaintenanceWindowChanged", {"window": {"id": "MW-1"}, "action": "upsert"})
    for status in (503, 504):
        graph.state.fail_next(1, status=status, retry_after=7)
        with pytest.raises(RateLimitedError) as raised:
            await notifier.deliver(delivery)
        assert raised.value.retry_after == 7
    graph.state.fail_next(1, status=400, retry_after=None)
    with pytest.raises(PermanentDeliveryError):
        await notifier.deliver(delivery)
    await notifier.deliver(delivery)
    assert len(graph.state.events) == 1


async def test_outage_opens_the_breaker_and_delivers_later(
    db: AsyncEngine, clock: FrozenClock, graph: FakeGraph, session: aiohttp.ClientSession
) -> None:
    mono = [1000.0]
    dispatcher = dispatcher_for(graph_settings(graph), db, session, clock)
    dispatcher.breakers = BreakerBoard(BreakerPolicy(failure_threshold=2, reset_timeout=30.0), now=lambda: mono[0])
    await add(db, MW, clock)
    graph.state.down()
    for _ in range(2):
        assert await dispatcher.run_once() == 1
        clock.advance(seconds=700)
    assert dispatcher.breakers.state(DEST) == "open"
    assert await dispatcher.run_once() == 1  # deferred without a call, without burning an attempt
    (row,) = await outbox(db)
    assert (row.status, row.attempts, row.last_error) == ("pending", 2, "circuit breaker open")
    graph.state.up()
    mono[0] += 31
    clock.advance(seconds=700)
    assert await dispatcher.drain() == 1
    assert dispatcher.breakers.state(DEST) == "closed"
    assert len(graph.state.events) == 1
    assert (await outbox(db))[0].status == "delivered"


async def test_a_401_fetches_a_fresh_token_once(
    db: AsyncEngine, clock: FrozenClock, graph: FakeGraph, session: aiohttp.ClientSession
) -> None:
    dispatcher = dispatcher_for(graph_settings(graph), db, session, clock)
    await add(db, MW, clock)
    await dispatcher.drain()
    graph.state.expire_tokens()
    await change(db, replace(MW, title="Neu"), clock)
    await dispatcher.drain()
    assert len(graph.state.of("token")) == 2
    assert [c.kind for c in graph.state.calls if c.kind in ("create", "update")] == ["create", "update", "update"]
    assert {r.status for r in await outbox(db)} == {"delivered"}


async def test_a_refused_client_secret_dead_letters(
    db: AsyncEngine, clock: FrozenClock, graph: FakeGraph, session: aiohttp.ClientSession
) -> None:
    dispatcher = dispatcher_for(graph_settings(graph, graph_client_secret="wrong"), db, session, clock)
    await add(db, MW, clock)
    await dispatcher.drain()
    (row,) = await outbox(db)
    assert row.status == "dead"
    assert "invalid_client" in row.last_error
    assert graph.state.of("create") == []


async def test_group_calendar_and_a_window_deleted_in_outlook(
    db: AsyncEngine, clock: FrozenClock, graph: FakeGraph, session: aiohttp.ClientSession
) -> None:
    settings = graph_settings(graph, graph_calendar_user=None, graph_calendar_group="grp-42")
    dispatcher = dispatcher_for(settings, db, session, clock)
    async with db.begin() as conn:
        await writer.insert_window(conn, MW, calendar="grp-42", now=clock.now())
    await dispatcher.drain()
    (created,) = graph.state.of("create")
    assert created.path == "/v1.0/groups/grp-42/events"
    graph.state.events.clear()  # someone deleted it in Outlook
    async with db.begin() as conn:
        await writer.update_window(conn, replace(MW, title="Neu"), calendar="grp-42", now=clock.now())
    await dispatcher.drain()
    assert [c.kind for c in graph.state.calls if c.kind in ("create", "update")] == ["create", "update", "create"]
    assert len(graph.state.events) == 1


async def test_sandbox_records_instead_of_calling_graph(
    db: AsyncEngine, clock: FrozenClock, graph: FakeGraph, session: aiohttp.ClientSession
) -> None:
    dispatcher = dispatcher_for(Settings(sandbox=True, graph_calendar_user=MAILBOX), db, session, clock)
    await add(db, MW, clock)
    await dispatcher.drain()
    assert [d.destination for d in dispatcher.notifiers.recorder.deliveries()] == [DEST]
    assert (await outbox(db))[0].status == "recorded"
    assert graph.state.calls == []


async def test_build_dispatcher_registers_the_calendar_only_when_configured(
    sqlite_engine: AsyncEngine, clock: FrozenClock, graph: FakeGraph, session: aiohttp.ClientSession
) -> None:
    assert "calendar" in dispatcher_for(graph_settings(graph), sqlite_engine, session, clock).notifiers.kinds()
    assert "calendar" not in dispatcher_for(Settings(), sqlite_engine, session, clock).notifiers.kinds()
    with pytest.raises(ValueError, match="engine"):
        build_dispatcher(graph_settings(graph), OutboxStore(sqlite_engine), session, clock)
