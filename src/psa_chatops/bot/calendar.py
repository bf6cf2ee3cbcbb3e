"""Maintenance windows as calendars: the customers' iCalendar feed and the wiring of the Microsoft 365 sync.

``GET /calendar/{token}.ics`` answers one customer's maintenance windows and scheduled on-site appointments as
``text/calendar`` for customers who do not use Microsoft 365 (Outlook, Google Calendar and Apple Calendar subscribe
to such a URL). The token is random (``psa calendar feed --customer CUST-789`` prints the URL once); only its SHA-256
is stored. An unknown and a revoked token get the same bare 404. Each window is one VEVENT with a stable UID, times
in UTC and the assets in the description, in the customer's language; so is each appointment, with its address as
LOCATION, the ticket and the technician (never the technicians' notes; cancelled ones drop out). The ``ETag`` is
the body's hash, so an unchanged feed answers 304.

The Microsoft 365 sync runs through the outbox: ``configured_calendar`` says where window changes go (None: the sync
is off and no rows are written), ``calendar_notifier`` builds the notifier the dispatcher registers.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
import icalendar
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot import keys
from psa_chatops.bot.settings import Settings
from psa_chatops.core.directory import Customer
from psa_chatops.core.errors import N_
from psa_chatops.i18n import translate
from psa_chatops.integrations.calendar_appointments import appointment_description, appointment_summary
from psa_chatops.integrations.calendar_graph import (
    GraphCalendarNotifier,
    MsalTokenProvider,
    description_of,
    summary_of,
)
from psa_chatops.storage import calendar_sync
from psa_chatops.storage import mappers as m
from psa_chatops.storage.appointments import AppointmentEntry, customer_entries
from psa_chatops.storage.calendar_sync import CalendarEventStore, WindowView
from psa_chatops.storage.directory_writer import bump_version
from psa_chatops.storage.engine import create_engine, read_connection
from psa_chatops.storage.migrations import upgrade
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import MaintenanceWindowRow, SqlConnection, table_of

FEED_PATH = "/calendar/{token}.ics"
PRODID = "-//psa-chatops//maintenance windows//EN"
WINDOWS = table_of(MaintenanceWindowRow)
T = TypeVar("T")


# --- the Microsoft 365 sync -----------------------------------------------------------------------------------------


def _has_credentials(settings: Settings) -> bool:
    return bool(settings.graph_tenant_id and settings.graph_client_id and settings.graph_client_secret)


def configured_calendar(settings: Settings) -> str | None:
    """The mailbox (or else the group) whose calendar gets the windows, when the sync can run (credentials
    complete, or sandbox mode, which records instead of calling Graph); None when it is off."""
    calendar = settings.graph_calendar_user or settings.graph_calendar_group
    if calendar and (_has_credentials(settings) or settings.sandbox):
        return calendar
    return None


def calendar_notifier(
    settings: Settings, session: aiohttp.ClientSession, *, engine: AsyncEngine | None, writer: SqliteWriter | None
) -> GraphCalendarNotifier | None:
    """The Graph notifier for ``calendar:`` rows, or None when the sync is not configured."""
    tenant, client, secret = settings.graph_tenant_id, settings.graph_client_id, settings.graph_client_secret
    if configured_calendar(settings) is None or not (tenant and client and secret):
        return None
    if engine is None:
        raise ValueError("the calendar sync needs the database engine (calendar_events)")
    tokens = MsalTokenProvider(
        authority_url=settings.graph_authority_url,
        tenant_id=tenant,
        client_id=client,
        client_secret=secret.get_secret_value(),
        timeout=settings.webhook_timeout_seconds,
    )
    user = settings.graph_calendar_user
    return GraphCalendarNotifier(
        session,
        CalendarEventStore(engine, writer=writer),
        engine=engine,
        tokens=tokens,
        api_url=settings.graph_api_url,
        user=user,
        group=None if user else settings.graph_calendar_group,
        locale=settings.default_locale,
        timeout=settings.webhook_timeout_seconds,
    )


# --- the iCalendar feed ---------------------------------------------------------------------------------------------


def feed_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}{FEED_PATH.format(token=token)}"


def window_uid(window_id: str) -> str:
    """Stable per window, so a subscribed calendar updates the entry instead of adding another."""
    return f"maintenance-window-{window_id}@psa-chatops"


def appointment_uid(number: int, appointment_id: int) -> str:
    return f"appointment-{number}-{appointment_id}@psa-chatops"


def _appointment_event(entry: AppointmentEntry, *, stamp: datetime, locale: str) -> icalendar.Event:
    a = entry.appointment
    event = icalendar.Event()
    event.add("uid", appointment_uid(a.ticket_number, a.id))
    event.add("dtstamp", stamp)
    event.add("dtstart", _utc(a.starts_at))
    event.add("dtend", _utc(a.ends_at))
    event.add("summary", appointment_summary(entry, locale, with_customer=False))
    event.add("description", appointment_description(entry, locale, with_notes=False))
    event.add("location", a.location)
    event.add("sequence", a.version - 1)  # a moved visit replaces the entry in subscribed calendars
    event.add("transp", "OPAQUE")
    return event


def render_feed(
    customer: Customer | None,
    windows: list[WindowView],
    *,
    stamp: datetime,
    locale: str,
    appointments: Sequence[AppointmentEntry] = (),
) -> bytes:
    """The feed; ``stamp`` (DTSTAMP, the feed's creation) is fixed so the body changes only with the windows and
    appointments."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    name = translate(N_("Maintenance windows"), locale)
    cal.add("x-wr-calname", f"{name}: {customer.name}" if customer else name)
    for view in windows:
        event = icalendar.Event()
        event.add("uid", window_uid(view.window.id))
        event.add("dtstamp", stamp)
        event.add("dtstart", view.window.starts_at)
        event.add("dtend", view.window.ends_at)
        event.add("summary", summary_of(view, locale, with_customer=False))
        event.add("description", description_of(view, locale))
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    for entry in appointments:
        cal.add_component(_appointment_event(entry, stamp=stamp, locale=locale))
    body: bytes = cal.to_ical()
    return body


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


async def calendar_feed(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    async with read_connection(request.config_dict[keys.ENGINE]) as conn:
        feed = await calendar_sync.active_feed(conn, token) if 20 <= len(token) <= 200 else None
        if feed is None:
            raise web.HTTPNotFound()  # unknown or revoked: the same answer, nothing to tell them apart
        windows = await calendar_sync.customer_windows(conn, feed.customer_id)
        appointments = await customer_entries(conn, feed.customer_id)
        customer = await calendar_sync.find_customer(conn, feed.customer_id)
    locale = customer.locale if customer else request.config_dict[keys.SETTINGS].default_locale
    body = render_feed(customer, windows, stamp=_utc(feed.created_at), locale=locale, appointments=appointments)
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=300", "X-Robots-Tag": "noindex"}
    asked = {t.strip().removeprefix("W/") for t in request.headers.get("If-None-Match", "").split(",")}
    if etag in asked or "*" in asked:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="text/calendar", charset="utf-8", headers=headers)


def add_calendar(app: web.Application) -> None:
    app.router.add_get(FEED_PATH, calendar_feed)


# --- ``psa calendar`` -----------------------------------------------------------------------------------------------


async def _with_engine(settings: Settings, work: Callable[[SqlConnection], Coroutine[Any, Any, T]]) -> T:
    engine = await asyncio.to_thread(create_engine, settings.database_url)  # may create the SQLite folder
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            return await work(conn)
    finally:
        await engine.dispose()


async def create_feed(settings: Settings, customer_id: str, *, created_by: str, now: datetime) -> str | None:
    """A new feed token for the customer, or None when there is no such customer."""

    async def work(conn: SqlConnection) -> str | None:
        if await calendar_sync.find_customer(conn, customer_id) is None:
            return None
        return await calendar_sync.create_feed(conn, customer_id, created_by=created_by, now=now)

    return await _with_engine(settings, work)


def token_of(feed: str) -> str:
    """The token of a feed URL (``.../calendar/<token>.ics``), or the argument itself."""
    return feed.rstrip("/").rsplit("/", 1)[-1].removesuffix(".ics")


async def revoke_feed(settings: Settings, feed: str, *, now: datetime) -> bool:
    return await _with_engine(settings, lambda conn: calendar_sync.revoke_feed(conn, token_of(feed), now=now))


async def queue_all_windows(settings: Settings, *, now: datetime) -> int:
    """An upsert row for every window (the first sync after configuring the calendar); already synced, unchanged
    windows cost the notifier one database read each, no Graph call."""
    calendar = configured_calendar(settings)
    if calendar is None:
        return 0

    async def work(conn: SqlConnection) -> int:
        await bump_version(conn)  # a fresh change number: running this twice queues twice, never collides
        windows = [m.window_from_row(r) for r in (await conn.execute(select(WINDOWS))).all()]
        for window in windows:
            await calendar_sync.enqueue_window_sync(conn, window, "upsert", now, calendar=calendar)
        return len(windows)

    return await _with_engine(settings, work)
