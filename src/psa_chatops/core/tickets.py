"""The ticket aggregate: ``decide`` functions turn a command into events, ``Ticket.apply`` folds events into state.

Rules live here and nowhere else: which status may follow which, when the SLA clock runs (not while waiting for
the customer, not once resolved), when the first response counts as given, and which SLA threshold is due.
Every refusal is a ``DomainError`` with a message for the technician; nothing is silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from psa_chatops.core import events as ev
from psa_chatops.core.priorities import Priority
from psa_chatops.core.sla import (
    BREACH_THRESHOLD,
    WARNING_THRESHOLDS,
    BusinessCalendar,
    SlaPolicy,
    SlaTargetName,
    business_seconds_between,
)
from psa_chatops.core.tickets_state import Source, Status, Visibility


@dataclass(frozen=True)
class SlaContext:
    """The customer's policy and calendar, handed to the rules that need them."""

    policy: SlaPolicy
    calendar: BusinessCalendar

    def calendar_for(self, priority: Priority) -> BusinessCalendar:
        return self.policy.calendar_for(priority, self.calendar)

    def target_seconds(self, priority: Priority, name: SlaTargetName) -> float:
        return self.policy.target(priority).for_name(name).total_seconds()


@dataclass
class SlaClock:
    target_seconds: float
    due_at: datetime | None
    elapsed_before: float = 0.0
    active_since: datetime | None = None
    met_at: datetime | None = None
    raised: tuple[int, ...] = ()

    def elapsed(self, now: datetime, calendar: BusinessCalendar) -> float:
        running = business_seconds_between(self.active_since, now, calendar) if self.active_since else 0.0
        return self.elapsed_before + running

    def percent(self, now: datetime, calendar: BusinessCalendar) -> float:
        return self.percent_of(self.elapsed(now, calendar))

    def percent_of(self, elapsed: float) -> float:
        return 100.0 * elapsed / self.target_seconds if self.target_seconds > 0 else 100.0


@dataclass
class Note:
    id: int
    body: str
    visibility: Visibility
    author_id: str
    created_at: datetime


@dataclass
class Ticket:
    number: int
    title: str
    description: str
    customer_id: str
    priority: Priority
    source: Source
    created_at: datetime
    updated_at: datetime
    status: Status = Status.NEW
    contact_id: str | None = None
    asset_id: str | None = None
    assignee_id: str | None = None
    tags: tuple[str, ...] = ()
    resolution: str | None = None
    escalation_level: int = 0
    notes: list[Note] = field(default_factory=list)
    sla: dict[SlaTargetName, SlaClock] = field(default_factory=dict)
    version: int = 0

    @classmethod
    def replay(cls, events: Iterable[ev.Event]) -> Ticket:
        iterator = iter(events)
        first = next(iterator, None)
        if first is None:
            raise ValueError("a ticket's history cannot be empty: it must start with TicketOpened")
        if not isinstance(first, ev.TicketOpened):
            raise ValueError(f"a ticket's history must start with TicketOpened, not {first.type}")
        ticket = cls._opened(first)
        for event in iterator:
            ticket.apply(event)
        return ticket

    @classmethod
    def _opened(cls, e: ev.TicketOpened) -> Ticket:
        sla = {
            name: SlaClock(s.target_seconds, s.due_at, elapsed_before=s.elapsed_seconds, active_since=e.occurred_at)
            for name, s in e.sla.items()
        }
        return cls(
            number=e.number,
            title=e.title,
            description=e.description,
            customer_id=e.customer_id,
            priority=e.priority,
            source=e.source,
            created_at=e.occurred_at,
            updated_at=e.occurred_at,
            contact_id=e.contact_id,
            asset_id=e.asset_id,
            tags=e.tags,
            sla=sla,
            version=1,
        )

    def evolved(self, events: Iterable[ev.Event]) -> Ticket:
        """A copy with the events applied; this ticket stays as it was (cached states are shared)."""
        updated = replace(self, notes=list(self.notes), sla={k: replace(v) for k, v in self.sla.items()})
        for event in events:
            updated.apply(event)
        return updated

    def apply(self, event: ev.Event) -> None:
        _APPLY[type(event)](self, event)
        self.updated_at = event.occurred_at
        self.version += 1

    @property
    def sla_running(self) -> bool:
        return is_clock_running(self.status)

    def open_clocks(self) -> dict[SlaTargetName, SlaClock]:
        return {name: clock for name, clock in self.sla.items() if clock.met_at is None}


def is_clock_running(status: Status) -> bool:
    return status not in (Status.WAITING_CUSTOMER, Status.RESOLVED, Status.CLOSED)


# --- apply -------------------------------------------------------------------------------------------------------


def _apply_assigned(t: Ticket, e: ev.TicketAssigned) -> None:
    t.assignee_id = e.assignee_id


def _apply_status(t: Ticket, e: ev.TicketStatusChanged) -> None:
    t.status = e.to_status
    resolution_clock = t.sla.get(SlaTargetName.RESOLUTION)
    if e.to_status.is_done:
        t.resolution = e.resolution or t.resolution
        if resolution_clock and resolution_clock.met_at is None:
            resolution_clock.met_at = e.occurred_at
    elif e.from_status.is_done and resolution_clock:
        resolution_clock.met_at = None


def _apply_note(t: Ticket, e: ev.NoteAdded) -> None:
    t.notes.append(Note(e.note_id, e.body, e.visibility, e.author_id, e.occurred_at))


def _apply_priority(t: Ticket, e: ev.TicketPriorityChanged) -> None:
    t.priority = e.to_priority
    for name, snap in e.sla.items():
        clock = t.sla[name]
        clock.target_seconds, clock.due_at = snap.target_seconds, snap.due_at
        clock.elapsed_before = snap.elapsed_seconds
        clock.active_since = e.occurred_at if clock.active_since else None


def _apply_first_response(t: Ticket, e: ev.FirstResponseMet) -> None:
    t.sla[SlaTargetName.FIRST_RESPONSE].met_at = e.occurred_at


def _apply_paused(t: Ticket, e: ev.SlaPaused) -> None:
    for name, elapsed in e.elapsed_seconds.items():
        clock = t.sla[name]
        clock.elapsed_before, clock.active_since = elapsed, None


def _apply_resumed(t: Ticket, e: ev.SlaResumed) -> None:
    for name, due in e.due_at.items():
        clock = t.sla[name]
        clock.due_at, clock.active_since = due, e.occurred_at


def _apply_warning(t: Ticket, e: ev.SlaWarningRaised) -> None:
    clock = t.sla[e.target]
    clock.raised = tuple(sorted({*clock.raised, *(x for x in WARNING_THRESHOLDS if x <= e.threshold)}))


def _apply_breach(t: Ticket, e: ev.SlaBreached) -> None:
    clock = t.sla[e.target]
    clock.raised = tuple(sorted({*clock.raised, *WARNING_THRESHOLDS, BREACH_THRESHOLD}))


def _apply_escalated(t: Ticket, e: ev.TicketEscalated) -> None:
    t.escalation_level = e.level


def _apply_alert(t: Ticket, e: ev.Event) -> None:
    """Alert events change no ticket field: the alert's own record (count, status) lives in ``security_alerts``."""


def _apply_appointment(t: Ticket, e: ev.Event) -> None:
    """Appointments live in their own projection (``appointments``, folded by ``core.appointments.apply``); the
    event still bumps the ticket's version, so two bookings on one ticket cannot race."""


_APPLY: dict[type[ev.Event], Callable[[Ticket, Any], None]] = {
    ev.TicketAssigned: _apply_assigned,
    ev.TicketStatusChanged: _apply_status,
    ev.NoteAdded: _apply_note,
    ev.TicketPriorityChanged: _apply_priority,
    ev.FirstResponseMet: _apply_first_response,
    ev.SlaPaused: _apply_paused,
    ev.SlaResumed: _apply_resumed,
    ev.SlaWarningRaised: _apply_warning,
    ev.SlaBreached: _apply_breach,
    ev.TicketEscalated: _apply_escalated,
    ev.AlertReceived: _apply_alert,
    ev.AlertAcknowledged: _apply_alert,
    ev.AlertClassified: _apply_alert,
    ev.AlertEscalated: _apply_alert,
    ev.AlertIsolationRequested: _apply_alert,
    ev.AppointmentScheduled: _apply_appointment,
    ev.AppointmentRescheduled: _apply_appointment,
    ev.AppointmentCancelled: _apply_appointment,
}
