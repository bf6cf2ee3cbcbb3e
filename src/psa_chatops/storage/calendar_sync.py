"""Maintenance windows in calendars: outbox rows for the Microsoft 365 sync, the ``calendar_events`` mirror and the
customers' iCalendar feed tokens (``calendar_feeds``).

A window change writes an outbox row (``MaintenanceWindowChanged``, destination ``calendar:<mailbox or group>``) in
the same transaction as the window itself (``enqueue_window_sync``, called by the window functions of
``directory_writer``). The notifier does not replay the row's snapshot: it reads the window as it is now
(``load_window``) and makes the calendar match it, so rows delivered late, twice or out of order (outbox rows
without a ticket are not ordered) all end in the same calendar. ``calendar_events`` remembers the Graph event id
per (source, calendar) and a hash of what was last written, so an unchanged window is not written again.

Scheduled on-site appointments are meant to share this table (source ``appointment:<id>``); they do not exist in
the domain yet.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core.directory import Asset, Customer, MaintenanceWindow
from psa_chatops.storage import mappers as m
from psa_chatops.storage import tables as t
from psa_chatops.storage.directory import read_version
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

CALENDAR_KIND = "calendar"
WINDOW_EVENT_TYPE = "MaintenanceWindowChanged"
Action = Literal["upsert", "delete"]
T = TypeVar("T")

OUTBOX = t.table_of(t.OutboxRow)
EVENTS = t.table_of(t.CalendarEventRow)
FEEDS = t.table_of(t.CalendarFeedRow)
_WINDOWS = t.table_of(t.MaintenanceWindowRow)
_CUSTOMERS = t.table_of(t.CustomerRow)
_ASSETS = t.table_of(t.AssetRow)
_NAMESPACE = uuid.UUID("5b0d6a55-2f0e-4c43-9a7e-3c1f0c6f2d41")


def window_source(window_id: str) -> str:
    return f"maintenance_window:{window_id}"


def window_id_of(source: str) -> str | None:
    kind, _, key = source.partition(":")
    return key if kind == "maintenance_window" and key else None


def destination_for(calendar: str) -> str:
    return f"{CALENDAR_KIND}:{calendar or 'default'}"


def window_payload(window: MaintenanceWindow) -> dict[str, Any]:
    return {
        "id": window.id,
        "customer_id": window.customer_id,
        "title": window.title,
        "starts_at": window.starts_at.isoformat(),
        "ends_at": window.ends_at.isoformat(),
        "asset_ids": list(window.asset_ids),
    }


async def enqueue_window_sync(
    conn: SqlConnection, window: MaintenanceWindow, action: Action, now: datetime, *, calendar: str
) -> str:
    """One outbox row for this change, in the caller's transaction; returns its idempotency key.

    The key is unique per change: it names the directory version the write produced (every directory write bumps
    it in its transaction, so call this after the write), the window and the calendar.
    """
    version = await read_version(conn)
    destination = destination_for(calendar)
    key = str(uuid.uuid5(_NAMESPACE, f"{window_source(window.id)}|{version}|{action}|{destination}"))
    row = {
        "idempotency_key": key,
        "destination": destination,
        "event_type": WINDOW_EVENT_TYPE,
        "ticket_number": None,
        "payload": {"window": window_payload(window), "action": action},
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    await conn.execute(insert(OUTBOX).values(**row))
    return key


# --- what a calendar entry shows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowView:
    """A window with what its calendar entry names: the customer and the assets it covers."""

    window: MaintenanceWindow
    customer: Customer | None
    assets: tuple[Asset, ...]


async def _views(conn: SqlConnection, windows: list[MaintenanceWindow]) -> list[WindowView]:
    customer_ids = sorted({w.customer_id for w in windows})
    asset_ids = sorted({a for w in windows for a in w.asset_ids})
    customers = {
        r.id: m.customer_from_row(r)
        for r in (await conn.execute(select(_CUSTOMERS).where(_CUSTOMERS.c.id.in_(customer_ids)))).all()
    }
    assets = {
        r.id: m.asset_from_row(r)
        for r in (await conn.execute(select(_ASSETS).where(_ASSETS.c.id.in_(asset_ids)))).all()
    }
    return [
        WindowView(w, customers.get(w.customer_id), tuple(assets[a] for a in w.asset_ids if a in assets))
        for w in windows
    ]


async def load_window(engine: AsyncEngine, window_id: str) -> WindowView | None:
    """The window as it is now, or None when it was deleted."""
    async with read_connection(engine) as conn:
        row = (await conn.execute(select(_WINDOWS).where(_WINDOWS.c.id == window_id))).first()
        if row is None:
            return None
        return (await _views(conn, [m.window_from_row(row)]))[0]


async def customer_windows(conn: SqlConnection, customer_id: str) -> list[WindowView]:
    """Every window of one customer, earliest first (the iCalendar feed)."""
    query = select(_WINDOWS).where(_WINDOWS.c.customer_id == customer_id).order_by(_WINDOWS.c.starts_at, _WINDOWS.c.id)
    return await _views(conn, [m.window_from_row(r) for r in (await conn.execute(query)).all()])


async def find_customer(conn: SqlConnection, customer_id: str) -> Customer | None:
    row = (await conn.execute(select(_CUSTOMERS).where(_CUSTOMERS.c.id == customer_id))).first()
    return None if row is None else m.customer_from_row(row)


# --- calendar_events ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncedEvent:
    source: str
    calendar: str
    graph_event_id: str | None
    synced_hash: str | None
    deleted: bool


class CalendarEventStore:
    """The Graph event behind each (source, calendar); writes are short transactions (the writer thread on SQLite)."""

    def __init__(self, engine: AsyncEngine, *, writer: SqliteWriter | None = None) -> None:
        self._engine, self._writer = engine, writer

    async def _in_tx(self, work: Callable[[SqlConnection], Coroutine[Any, Any, T]]) -> T:
        return await in_transaction(self._engine, self._writer, work)

    async def get(self, source: str, calendar: str) -> SyncedEvent | None:
        query = select(EVENTS).where(EVENTS.c.source == source, EVENTS.c.calendar == calendar)
        async with read_connection(self._engine) as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return SyncedEvent(row.source, row.calendar, row.graph_event_id, row.synced_hash, bool(row.deleted))

    async def put(
        self,
        source: str,
        calendar: str,
        *,
        graph_event_id: str | None,
        synced_hash: str | None,
        deleted: bool,
        now: datetime,
    ) -> None:
        values = {"graph_event_id": graph_event_id, "synced_hash": synced_hash, "deleted": deleted, "updated_at": now}

        async def work(conn: SqlConnection) -> None:
            where = (EVENTS.c.source == source, EVENTS.c.calendar == calendar)
            changed = await conn.execute(update(EVENTS).where(*where).values(**values))
            if changed.rowcount == 0:
                await conn.execute(insert(EVENTS).values(source=source, calendar=calendar, **values))

        await self._in_tx(work)


# --- calendar_feeds -------------------------------------------------------------------------------------------------


def feed_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_feed_token() -> str:
    return secrets.token_urlsafe(32)


async def create_feed(conn: SqlConnection, customer_id: str, *, created_by: str, now: datetime) -> str:
    """A new feed for the customer; returns the token, which is stored only as its hash."""
    token = new_feed_token()
    await conn.execute(
        insert(FEEDS).values(
            token_hash=feed_token_hash(token), customer_id=customer_id, created_by=created_by, created_at=now
        )
    )
    return token


async def revoke_feed(conn: SqlConnection, token: str, *, now: datetime) -> bool:
    stmt = (
        update(FEEDS)
        .where(FEEDS.c.token_hash == feed_token_hash(token), FEEDS.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool((await conn.execute(stmt)).rowcount)


@dataclass(frozen=True)
class Feed:
    customer_id: str
    created_at: datetime


async def active_feed(conn: SqlConnection, token: str) -> Feed | None:
    """The feed this token opens, or None (unknown or revoked: the caller cannot tell which)."""
    query = select(FEEDS.c.customer_id, FEEDS.c.created_at).where(
        FEEDS.c.token_hash == feed_token_hash(token), FEEDS.c.revoked_at.is_(None)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else Feed(row.customer_id, row.created_at)
