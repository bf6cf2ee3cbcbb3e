"""On-site appointments through the API, independent of the version: parse what the caller asked, run the same
commands and queries as every other channel, return views. ``v1_appointments`` presents them.

An appointment's ETag names its own version (``"a12345-1-v2"``), so ``If-Match`` on a reschedule or a cancel maps
onto the appointment's optimistic check; the cross-ticket list pages with an opaque keyset cursor (start, ticket,
number), stable while appointments are booked.
"""

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
from psa_chatops.handlers import appointments as use
from psa_chatops.handlers.appointment_ports import AppointmentFilter
from psa_chatops.handlers.appointments import AppointmentView


def etag(view: AppointmentView) -> str:
    a = view.appointment
    return f'"a{a.ticket_number}-{a.id}-v{a.version}"'


def expected_version(call: Call, number: int, appointment_id: int) -> int | None:
    header = call.request.headers.get("If-Match")
    if header is None:
        return None
    tag = header.strip().removeprefix("W/")
    if tag == "*":
        return None
    prefix = f'"a{number}-{appointment_id}-v'
    if not (tag.startswith(prefix) and tag.endswith('"') and tag[len(prefix) : -1].isdigit()):
        raise ProblemError(412, "precondition-failed", detail="If-Match must be an ETag this API returned")
    return int(tag[len(prefix) : -1])


async def schedule(call: Call, number: int, body: Any) -> AppointmentView:
    command = c.ScheduleAppointment(
        number=number,
        technician_id=body.technician_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        location=body.location,
        title=body.title,
        notes=body.notes,
    )
    view: AppointmentView = await call.bus.handle(command, call.context)
    return view


async def reschedule(call: Call, number: int, appointment_id: int, changes: dict[str, Any]) -> AppointmentView:
    command = c.RescheduleAppointment(
        number=number,
        appointment_id=appointment_id,
        expected_version=expected_version(call, number, appointment_id),
        **changes,
    )
    view: AppointmentView = await call.bus.handle(command, call.context)
    return view


async def cancel(call: Call, number: int, appointment_id: int, reason: str) -> AppointmentView:
    command = c.CancelAppointment(
        number=number,
        appointment_id=appointment_id,
        reason=reason,
        expected_version=expected_version(call, number, appointment_id),
    )
    view: AppointmentView = await call.bus.handle(command, call.context)
    return view


async def of_ticket(call: Call, number: int) -> list[AppointmentView]:
    views: list[AppointmentView] = await call.bus.read(
        lambda uow: use.ticket_appointments(number, uow=uow), call.context
    )
    return views


async def one(call: Call, number: int, appointment_id: int) -> AppointmentView:
    view: AppointmentView = await call.bus.read(
        lambda uow: use.ticket_appointment(number, appointment_id, uow=uow), call.context
    )
    return view


@dataclass(frozen=True)
class Page:
    items: list[AppointmentView]
    next_cursor: str | None


async def search(
    call: Call,
    *,
    technician_id: str | None,
    customer_id: str | None,
    starts_from: datetime | None,
    starts_before: datetime | None,
    limit: int,
    cursor: str | None,
) -> Page:
    use.ensure_period(starts_from, starts_before)
    query = AppointmentFilter(
        customer_ids=[customer_id] if customer_id else None,
        technician_id=technician_id,
        starts_from=starts_from,
        starts_before=starts_before,
        after=decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    found: list[AppointmentView] = await call.bus.read(lambda uow: use.find_appointments(query, uow=uow), call.context)
    shown = found[:limit]
    more = len(found) > limit
    return Page(shown, encode_cursor(shown[-1]) if more and shown else None)


def encode_cursor(last: AppointmentView) -> str:
    a = last.appointment
    raw = json.dumps([a.starts_at.isoformat(), a.ticket_number, a.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int, int]:
    """Opaque to clients; a damaged one is a clear 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        starts_at, number, seq = json.loads(raw)
        moment = datetime.fromisoformat(starts_at)
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ProblemError(400, "invalid-parameter", detail="cursor: not a cursor this API returned") from exc
    if not (isinstance(number, int) and isinstance(seq, int)) or moment.tzinfo is None:
        raise ProblemError(400, "invalid-parameter", detail="cursor: not a cursor this API returned")
    return moment, number, seq
