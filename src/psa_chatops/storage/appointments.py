"""The ``appointments`` projection and the calendar sync rows of appointment changes.

``record`` runs in the unit of work's transaction right after the ticket's events were appended: it folds the
``Appointment*`` events into their rows (``core.appointments.apply``) and, when a Microsoft 365 calendar is
configured, writes one outbox row per change (``AppointmentChanged``, destination ``calendar:<mailbox or group>``,
like the maintenance windows' rows of ``calendar_sync``). The notifier reads the appointment as it is now, so
late, repeated or reordered rows end in the same calendar; a cancelled appointment is removed from it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core import appointments as core
from psa_chatops.core import events as ev
from psa_chatops.core.appointments import Appointment, AppointmentStatus
from psa_chatops.core.directory import Customer, Technician
from psa_chatops.core.errors import N_, NotFoundError
from psa_chatops.core.tickets import Ticket
from psa_chatops.handlers.appointment_ports import AppointmentFilter
from psa_chatops.storage import mappers as m
from psa_chatops.storage import tables as t
from psa_chatops.storage.calendar_sync import OUTBOX, destination_for
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.tables import SqlConnection

APPOINTMENTS = t.table_of(t.AppointmentRow)
APPOINTMENT_EVENT_TYPE = "AppointmentChanged"
_NAMESPACE = uuid.UUID("0c6f3a52-7d1e-4b8a-9e55-2a4d8c1b7f93")
_A = APPOINTMENTS.c
_TICKETS = t.table_of(t.TicketRow)
_CUSTOMERS = t.table_of(t.CustomerRow)
_TECHNICIANS = t.table_of(t.TechnicianRow)


def appointment_source(number: int, appointment_id: int) -> str:
    """The ``calendar_events`` key: ``appointment:12345-1``."""
    return f"appointment:{number}-{appointment_id}"


def parse_source(source: str) -> tuple[int, int] | None:
    kind, _, key = source.partition(":")
    number, _, seq = key.partition("-")
    if kind != "appointment" or not (number.isdigit() and seq.isdigit()):
        return None
    return int(number), int(seq)


def from_row(row: Any) -> Appointment:
    return Appointment(
        ticket_number=int(row.ticket_number),
        id=int(row.appointment_id),
        customer_id=row.customer_id,
        technician_id=row.technician_id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        location=row.location,
        title=row.title,
        notes=row.notes,
        status=AppointmentStatus(row.status),
        cancel_reason=row.cancel_reason,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=int(row.version),
    )


def to_row(a: Appointment) -> dict[str, Any]:
    return {
        "ticket_number": a.ticket_number,
        "appointment_id": a.id,
        "customer_id": a.customer_id,
        "technician_id": a.technician_id,
        "starts_at": a.starts_at,
        "ends_at": a.ends_at,
        "location": a.location,
        "title": a.title,
        "notes": a.notes,
        "status": a.status.value,
        "cancel_reason": a.cancel_reason,
        "created_by": a.created_by,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "version": a.version,
    }


def _filtered(q: AppointmentFilter) -> Any:
    stmt = select(APPOINTMENTS)
    if q.customer_ids is not None:
        stmt = stmt.where(_A.customer_id.in_(list(q.customer_ids)))
    if q.technician_id is not None:
        stmt = stmt.where(_A.technician_id == q.technician_id)
    if q.ticket_number is not None:
        stmt = stmt.where(_A.ticket_number == q.ticket_number)
    if q.starts_from is not None:
        stmt = stmt.where(_A.ends_at > q.starts_from)
    if q.starts_before is not None:
        stmt = stmt.where(_A.starts_at < q.starts_before)
    if not q.include_cancelled:
        stmt = stmt.where(_A.status == AppointmentStatus.SCHEDULED.value)
    if q.after is not None:
        at, number, seq = q.after
        stmt = stmt.where(
            or_(
                _A.starts_at > at,
                and_(_A.starts_at == at, _A.ticket_number > number),
                and_(_A.starts_at == at, _A.ticket_number == number, _A.appointment_id > seq),
            )
        )
    return stmt.order_by(_A.starts_at, _A.ticket_number, _A.appointment_id).limit(q.limit)


async def find(conn: SqlConnection, query: AppointmentFilter) -> list[Appointment]:
    return [from_row(r) for r in (await conn.execute(_filtered(query))).all()]


async def load(conn: SqlConnection, number: int, appointment_id: int) -> Appointment | None:
    where = (_A.ticket_number == number, _A.appointment_id == appointment_id)
    row = (await conn.execute(select(APPOINTMENTS).where(*where))).first()
    return None if row is None else from_row(row)


# --- what a calendar entry shows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppointmentEntry:
    """An appointment with what its calendar entry names: the ticket, the customer and the technician."""

    appointment: Appointment
    ticket_title: str
    customer: Customer | None
    technician: Technician | None


async def _entries(conn: SqlConnection, appointments: list[Appointment]) -> list[AppointmentEntry]:
    numbers = sorted({a.ticket_number for a in appointments})
    customer_ids = sorted({a.customer_id for a in appointments})
    technician_ids = sorted({a.technician_id for a in appointments})
    titles = {
        int(r.number): r.title
        for r in (await conn.execute(select(_TICKETS.c.number, _TICKETS.c.title).where(_TICKETS.c.number.in_(numbers))))
    }
    customers = {
        r.id: m.customer_from_row(r)
        for r in (await conn.execute(select(_CUSTOMERS).where(_CUSTOMERS.c.id.in_(customer_ids)))).all()
    }
    technicians = {
        r.id: m.technician_from_row(r)
        for r in (await conn.execute(select(_TECHNICIANS).where(_TECHNICIANS.c.id.in_(technician_ids)))).all()
    }
    return [
        AppointmentEntry(
            a, titles.get(a.ticket_number, ""), customers.get(a.customer_id), technicians.get(a.technician_id)
        )
        for a in appointments
    ]


async def load_entry(engine: AsyncEngine, number: int, appointment_id: int) -> AppointmentEntry | None:
    """The appointment as it is now, or None when it is cancelled (or never existed): then it leaves the calendar."""
    async with read_connection(engine) as conn:
        found = await load(conn, number, appointment_id)
        if found is None or not found.scheduled:
            return None
        return (await _entries(conn, [found]))[0]


async def customer_entries(conn: SqlConnection, customer_id: str) -> list[AppointmentEntry]:
    """The customer's scheduled appointments, earliest first (the iCalendar feed)."""
    return await _entries(conn, await find(conn, AppointmentFilter(customer_ids=[customer_id], limit=10_000)))


async def enqueue_sync(
    conn: SqlConnection, appointment: Appointment, *, version: int, calendar: str, now: datetime
) -> str:
    """One outbox row for this change in the caller's transaction; the key names the ticket event's version, so it
    is unique per change and stable if the same change is ever written twice."""
    destination = destination_for(calendar)
    source = appointment_source(appointment.ticket_number, appointment.id)
    key = str(uuid.uuid5(_NAMESPACE, f"{source}|{version}|{destination}"))
    action = "upsert" if appointment.scheduled else "delete"
    payload = {"appointment": {"ticket_number": appointment.ticket_number, "id": appointment.id}, "action": action}
    await conn.execute(
        insert(OUTBOX).values(
            idempotency_key=key,
            destination=destination,
            event_type=APPOINTMENT_EVENT_TYPE,
            ticket_number=None,  # not ordered behind the ticket's chat rows: the notifier reads the current state
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return key


class SqlAppointmentStore:
    """``AppointmentStore`` on the unit of work's connection."""

    def __init__(self, conn: SqlConnection, *, now: Any) -> None:
        self._conn, self._now = conn, now

    async def get(self, number: int, appointment_id: int) -> Appointment:
        found = await load(self._conn, number, appointment_id)
        if found is None:
            raise NotFoundError(
                N_("Appointment {id} of ticket #{number} does not exist."), id=appointment_id, number=number
            )
        return found

    async def next_id(self, number: int) -> int:
        stmt = select(func.max(_A.appointment_id)).where(_A.ticket_number == number)
        return int((await self._conn.execute(stmt)).scalar() or 0) + 1

    async def busy(self, technician_id: str, starts_at: datetime, ends_at: datetime) -> list[Appointment]:
        query = AppointmentFilter(technician_id=technician_id, starts_from=starts_at, starts_before=ends_at, limit=50)
        return await find(self._conn, query)

    async def find(self, query: AppointmentFilter) -> list[Appointment]:
        return await find(self._conn, query)

    async def record(self, ticket: Ticket, events: Sequence[ev.Event], *, actor: str, calendar: str | None) -> None:
        version = ticket.version - len(events)
        for event in events:
            version += 1
            key = core.appointment_id_of(event)
            if key is None:
                continue
            current = await load(self._conn, ticket.number, key)
            updated = core.apply(current, event, customer_id=ticket.customer_id, actor=actor)
            if updated is None:
                continue
            if current is None:
                await self._conn.execute(insert(APPOINTMENTS).values(**to_row(updated)))
            else:
                where = (_A.ticket_number == ticket.number, _A.appointment_id == key)
                await self._conn.execute(update(APPOINTMENTS).where(*where).values(**to_row(updated)))
            if calendar:
                await enqueue_sync(self._conn, updated, version=version, calendar=calendar, now=self._now())
