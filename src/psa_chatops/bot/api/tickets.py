"""Tickets through the API, independent of the version: parse what the caller asked, run the same commands and
queries as every chat channel, return views. ``v1`` and ``v2`` present the views in their own schemas."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psa_chatops.bot.api.operations import Call
from psa_chatops.bot.api.problems import ProblemError
from psa_chatops.core import commands as c
from psa_chatops.core.priorities import Priority
from psa_chatops.core.tickets_state import Source
from psa_chatops.handlers import queries
from psa_chatops.handlers.ports import RecordedEvent, TicketFilter
from psa_chatops.handlers.views import TicketSummaryView, TicketView


def ticket_etag(view: TicketView) -> str:
    """Strong, and it names the version, so ``If-Match`` maps straight onto optimistic concurrency."""
    return f'"t{view.number}-v{view.version}"'


def expected_version(call: Call, number: int) -> int | None:
    header = call.request.headers.get("If-Match")
    if header is None:
        return None
    tag = header.strip().removeprefix("W/")
    if tag == "*":  # any current representation: the ticket exists, which the handler checks anyway
        return None
    prefix = f'"t{number}-v'
    if not (tag.startswith(prefix) and tag.endswith('"') and tag[len(prefix) : -1].isdigit()):
        raise ProblemError(412, "precondition-failed", detail="If-Match must be an ETag this API returned")
    return int(tag[len(prefix) : -1])


def tags(number: int) -> tuple[str, ...]:
    return (f"ticket:{number}",)


async def get(call: Call, number: int) -> TicketView:
    view: TicketView = await call.bus.read(
        lambda uow: queries.show_ticket(number, uow=uow, now=call.now()), call.context
    )
    return view


async def create(call: Call, body: Any) -> TicketView:
    command = c.OpenTicket(
        title=body.title,
        customer_id=body.customer_id,
        description=body.description,
        priority=Priority(body.priority),
        source=Source.API,
        contact_id=body.contact_id,
        asset_id=body.asset_id,
        assignee_id=body.assignee_id,
        tags=tuple(body.tags),
    )
    view: TicketView = await call.bus.handle(command, call.context)
    return view


async def update(
    call: Call, number: int, *, status: Any, priority: Any, assignee_id: str | None, resolution: Any
) -> TicketView:
    command = c.UpdateTicket(
        number=number,
        status=status,
        priority=priority,
        assignee_id=assignee_id,
        resolution=resolution,
        expected_version=expected_version(call, number),
    )
    view: TicketView = await call.bus.handle(command, call.context)
    return view


async def add_note(call: Call, number: int, body: Any) -> TicketView:
    view: TicketView = await call.bus.handle(
        c.AddNote(number=number, body=body.body, visibility=body.visibility), call.context
    )
    return view


async def escalate(call: Call, number: int, body: Any) -> TicketView:
    command = c.EscalateTicket(
        number=number,
        reason=body.reason,
        raise_priority=body.raise_priority,
        notify_dispatchers=body.notify_dispatchers,
    )
    view: TicketView = await call.bus.handle(command, call.context)
    return view


async def history(call: Call, number: int) -> list[RecordedEvent]:
    events: list[RecordedEvent] = await call.bus.read(lambda uow: queries.ticket_history(number, uow=uow), call.context)
    return events


@dataclass(frozen=True)
class Page:
    items: tuple[TicketSummaryView, ...]
    total: int
    next_cursor: str | None


async def search(call: Call, params: Any) -> Page:
    after = decode_cursor(params.cursor, params.sort) if params.cursor else None
    query = TicketFilter(
        customer_ids=[params.customer_id] if params.customer_id else None,
        statuses=[s.value for s in _many(params.status)] or None,
        priorities=[p.value for p in _many(params.priority)] or None,
        assignee_id=params.assignee_id,
        text=params.q,
        open_only=params.open,
        sort=params.sort,
        after=after,
        limit=params.limit,
    )
    listing = await call.bus.read(
        lambda uow: queries.list_tickets(query, uow=uow, now=call.now(), title="tickets"), call.context
    )
    items = listing.tickets
    more = len(items) == params.limit
    cursor = encode_cursor(params.sort, items[-1]) if more and items else None
    return Page(items, listing.total, cursor)


def _many(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def encode_cursor(sort: str, last: TicketSummaryView) -> str:
    name = sort.lstrip("-")
    value: Any = last.number if name == "number" else getattr(last, name)
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([sort, value, last.number], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    """Opaque to clients; a cursor from another sort order or a damaged one is a clear 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, number = json.loads(raw)
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ProblemError(400, "invalid-parameter", detail="cursor: not a cursor this API returned") from exc
    if cursor_sort != sort or not isinstance(number, int):
        raise ProblemError(400, "invalid-parameter", detail="cursor: it belongs to another sort order")
    if sort.lstrip("-") != "number":
        try:
            value = datetime.fromisoformat(value)
        except (TypeError, ValueError) as exc:
            raise ProblemError(400, "invalid-parameter", detail="cursor: not a cursor this API returned") from exc
    return value, number
