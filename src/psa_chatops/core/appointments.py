"""On-site appointments: a technician visits a customer for a ticket.

Why ticket events and not a directory record like maintenance windows: a window is reference data about a customer
(no ticket, no history, the last write wins), but an appointment exists only for a ticket and is part of its work.
Who booked, moved or cancelled a visit, and when, belongs in the ticket's history next to its notes and status
changes, attributed to the actor like every ticket change, and it can be routed to the ticket's conversations like
any other ticket event. So ``AppointmentScheduled`` / ``AppointmentRescheduled`` / ``AppointmentCancelled`` are
appended to the ticket's stream (the ticket's version guards concurrent bookings) and the ``appointments`` table
is a projection of them, written in the same transaction, from which the calendar sync and the lists read.

Appointments are numbered per ticket (1, 2, ...): the number comes from the ticket's own stream, so no second
counter can race it. Each event carries the whole appointment as it is after the change, so the projection is a
plain fold (``apply``) and a replay of the ticket's history gives the same rows.

Rules: an appointment needs a running ticket (not resolved or closed), a start in the future, an end after the
start and at most ``MAX_DURATION`` later, a location (it is an on-site visit) and a technician who is free then
(no overlap with another of their scheduled appointments). A cancelled appointment stays cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from psa_chatops.core import commands as cmd
from psa_chatops.core import events as ev
from psa_chatops.core.errors import N_, ConflictError, InvalidError, Label
from psa_chatops.core.tickets import Ticket

MAX_DURATION = timedelta(hours=24)
MAX_TITLE = 200
MAX_LOCATION = 500
MAX_NOTES = 4000
MAX_REASON = 500


class AppointmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Appointment:
    ticket_number: int
    id: int  # per ticket: 1, 2, ...
    customer_id: str
    technician_id: str
    starts_at: datetime
    ends_at: datetime
    location: str
    title: str
    notes: str = ""
    status: AppointmentStatus = AppointmentStatus.SCHEDULED
    cancel_reason: str | None = None
    created_by: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def key(self) -> str:
        """Unique across tickets: ``12345-1``."""
        return f"{self.ticket_number}-{self.id}"

    @property
    def scheduled(self) -> bool:
        return self.status is AppointmentStatus.SCHEDULED

    def overlaps(self, starts_at: datetime, ends_at: datetime) -> bool:
        return self.starts_at < ends_at and starts_at < self.ends_at


AppointmentEvent = ev.AppointmentScheduled | ev.AppointmentRescheduled | ev.AppointmentCancelled


# --- decide ---------------------------------------------------------------------------------------------------------


def schedule(
    ticket: Ticket,
    c: cmd.ScheduleAppointment,
    *,
    appointment_id: int,
    busy: Sequence[Appointment],
    now: datetime,
) -> list[ev.Event]:
    """``busy``: the technician's scheduled appointments around that time (any ticket)."""
    _ensure_running(ticket)
    title = _text(c.title, MAX_TITLE, Label(N_("title"))) or ticket.title
    location = _text(c.location, MAX_LOCATION, Label(N_("location")))
    if not location:
        raise InvalidError(N_("An on-site appointment needs a location (the address to visit)."))
    notes = _text(c.notes, MAX_NOTES, Label(N_("notes")))
    _check_times(c.starts_at, c.ends_at, now=now)
    _ensure_free(c.technician_id, c.starts_at, c.ends_at, busy, own=None)
    return [
        ev.AppointmentScheduled(
            number=ticket.number,
            occurred_at=now,
            appointment_id=appointment_id,
            technician_id=c.technician_id,
            starts_at=c.starts_at,
            ends_at=c.ends_at,
            location=location,
            title=title,
            notes=notes,
        )
    ]


def reschedule(
    ticket: Ticket,
    current: Appointment,
    c: cmd.RescheduleAppointment,
    *,
    busy: Sequence[Appointment],
    now: datetime,
) -> list[ev.Event]:
    """Only what ``c`` names changes; nothing new is no event at all (a repeated PATCH is harmless)."""
    _ensure_running(ticket)
    _ensure_scheduled(current)
    starts_at, ends_at = proposed_times(current, c)
    technician_id = c.technician_id or current.technician_id
    location = current.location if c.location is None else _text(c.location, MAX_LOCATION, Label(N_("location")))
    if not location:
        raise InvalidError(N_("An on-site appointment needs a location (the address to visit)."))
    title = current.title if c.title is None else (_text(c.title, MAX_TITLE, Label(N_("title"))) or ticket.title)
    notes = current.notes if c.notes is None else _text(c.notes, MAX_NOTES, Label(N_("notes")))
    after = (technician_id, starts_at, ends_at, location, title, notes)
    if after == (current.technician_id, current.starts_at, current.ends_at, current.location, current.title,
                 current.notes):  # fmt: skip
        return []
    if (starts_at, ends_at) != (current.starts_at, current.ends_at):
        _check_times(starts_at, ends_at, now=now)
    _ensure_free(technician_id, starts_at, ends_at, busy, own=current)
    return [
        ev.AppointmentRescheduled(
            number=ticket.number,
            occurred_at=now,
            appointment_id=current.id,
            technician_id=technician_id,
            starts_at=starts_at,
            ends_at=ends_at,
            location=location,
            title=title,
            notes=notes,
            previous_starts_at=current.starts_at,
            previous_technician_id=current.technician_id,
        )
    ]


def proposed_times(current: Appointment, c: cmd.RescheduleAppointment) -> tuple[datetime, datetime]:
    """Start and end after the change; moving only the start keeps the duration."""
    if c.starts_at is not None and c.ends_at is None:
        return c.starts_at, c.starts_at + (current.ends_at - current.starts_at)
    return c.starts_at or current.starts_at, c.ends_at or current.ends_at


def cancel(ticket: Ticket, current: Appointment, c: cmd.CancelAppointment, *, now: datetime) -> list[ev.Event]:
    """Allowed on a resolved or closed ticket too: a visit that is no longer needed must leave the calendar."""
    _ensure_scheduled(current)
    reason = _text(c.reason, MAX_REASON, Label(N_("reason")))
    return [ev.AppointmentCancelled(number=ticket.number, occurred_at=now, appointment_id=current.id, reason=reason)]


def _ensure_running(ticket: Ticket) -> None:
    if ticket.status.is_done:
        raise InvalidError(
            N_("Ticket #{number} is {status}; appointments need an open ticket."),
            number=ticket.number,
            status=ticket.status.label,
        )


def _ensure_scheduled(current: Appointment) -> None:
    if not current.scheduled:
        raise ConflictError(
            N_("Appointment {id} of ticket #{number} is cancelled."), id=current.id, number=current.ticket_number
        )


def _text(value: str, limit: int, field: str) -> str:
    text = value.strip()
    if len(text) > limit:
        raise InvalidError(
            N_("The {field} is too long ({length} characters, at most {limit})."),
            field=field,
            length=len(text),
            limit=limit,
        )
    return text


def ensure_aware(*moments: datetime) -> None:
    """Before anything compares them: a naive time is ambiguous (whose 09:00?)."""
    if any(m.tzinfo is None for m in moments):
        raise InvalidError(N_("Appointment times need a time zone (e.g. 2026-12-01T09:00:00+01:00)."))


def _check_times(starts_at: datetime, ends_at: datetime, *, now: datetime) -> None:
    ensure_aware(starts_at, ends_at)
    if ends_at <= starts_at:
        raise InvalidError(N_("An appointment must end after it starts."))
    if ends_at - starts_at > MAX_DURATION:
        raise InvalidError(N_("An on-site appointment can last at most 24 hours."))
    if starts_at < now:
        raise InvalidError(N_("An appointment cannot start in the past."))


def _ensure_free(
    technician_id: str, starts_at: datetime, ends_at: datetime, busy: Iterable[Appointment], *, own: Appointment | None
) -> None:
    for other in busy:
        if own is not None and other.key == own.key:
            continue
        if other.scheduled and other.technician_id == technician_id and other.overlaps(starts_at, ends_at):
            raise ConflictError(
                N_("{technician} already has an appointment then (ticket #{number}, {start})."),
                technician=technician_id,
                number=other.ticket_number,
                start=other.starts_at.isoformat(timespec="minutes"),
            )


# --- apply ----------------------------------------------------------------------------------------------------------


def apply(current: Appointment | None, event: ev.Event, *, customer_id: str, actor: str = "") -> Appointment | None:
    """The appointment after ``event`` (None: the event is not about appointments or names another one)."""
    if isinstance(event, ev.AppointmentScheduled):
        return Appointment(
            ticket_number=event.number,
            id=event.appointment_id,
            customer_id=customer_id,
            technician_id=event.technician_id,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            location=event.location,
            title=event.title,
            notes=event.notes,
            created_by=actor,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
    if current is None:
        return None
    if isinstance(event, ev.AppointmentRescheduled):
        return replace(
            current,
            technician_id=event.technician_id,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            location=event.location,
            title=event.title,
            notes=event.notes,
            updated_at=event.occurred_at,
            version=current.version + 1,
        )
    if isinstance(event, ev.AppointmentCancelled):
        return replace(
            current,
            status=AppointmentStatus.CANCELLED,
            cancel_reason=event.reason or None,
            updated_at=event.occurred_at,
            version=current.version + 1,
        )
    return None


def appointment_id_of(event: ev.Event) -> int | None:
    return event.appointment_id if isinstance(event, AppointmentEvent) else None


def replay(events: Iterable[tuple[ev.Event, str]], *, customer_id: str) -> dict[int, Appointment]:
    """Every appointment of one ticket from its history (event, actor): what the projection must hold."""
    found: dict[int, Appointment] = {}
    for event, actor in events:
        key = appointment_id_of(event)
        if key is None:
            continue
        updated = apply(found.get(key), event, customer_id=customer_id, actor=actor)
        if updated is not None:
            found[key] = updated
    return found
