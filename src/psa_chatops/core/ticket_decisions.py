"""Decide: given a ticket (or none yet) and a command, which events happen. Pure; ``now`` is always passed in."""

from __future__ import annotations

from datetime import datetime

from psa_chatops.core import commands as cmd
from psa_chatops.core import events as ev
from psa_chatops.core.errors import N_, ConflictError, InvalidError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.sla import (
    BREACH_THRESHOLD,
    WARNING_THRESHOLDS,
    BusinessCalendar,
    SlaTargetName,
    add_business_seconds,
)
from psa_chatops.core.tickets import SlaContext, Ticket, is_clock_running
from psa_chatops.core.tickets_state import ALLOWED_TRANSITIONS, Status, Visibility

MAX_TITLE = 200
MAX_NOTE = 20_000


def open_ticket(c: cmd.OpenTicket, *, number: int, now: datetime, sla: SlaContext) -> list[ev.Event]:
    title = c.title.strip()
    if not title:
        raise InvalidError(N_("A ticket needs a title."))
    if len(title) > MAX_TITLE:
        raise InvalidError(
            N_("The title is too long ({length} characters, at most {limit})."), length=len(title), limit=MAX_TITLE
        )
    calendar = sla.calendar_for(c.priority)
    clocks = {}
    for name in SlaTargetName:
        seconds = sla.target_seconds(c.priority, name)
        clocks[name] = ev.SlaClockSnapshot(target_seconds=seconds, due_at=add_business_seconds(now, seconds, calendar))
    events: list[ev.Event] = [
        ev.TicketOpened(
            number=number,
            occurred_at=now,
            title=title,
            description=c.description.strip(),
            customer_id=c.customer_id,
            priority=c.priority,
            source=c.source,
            contact_id=c.contact_id,
            asset_id=c.asset_id,
            tags=tuple(dict.fromkeys(t.strip().lower() for t in c.tags if t.strip())),
            sla=clocks,
        )
    ]
    if c.assignee_id:
        ticket = Ticket.replay(events)
        events += assign_ticket(ticket, cmd.AssignTicket(number=number, assignee_id=c.assignee_id), now=now)
    return events


def due_from(now: datetime, remaining_seconds: float, calendar: BusinessCalendar) -> datetime:
    """When a running clock falls due; a clock already overdue is due now, not at the next opening hour."""
    return add_business_seconds(now, remaining_seconds, calendar) if remaining_seconds > 0 else now


def _ensure_not_closed(ticket: Ticket) -> None:
    if ticket.status is Status.CLOSED:
        raise InvalidError(
            N_("Ticket #{number} is closed; reopen is not possible, open a new ticket."), number=ticket.number
        )


def assign_ticket(ticket: Ticket, c: cmd.AssignTicket, *, now: datetime) -> list[ev.Event]:
    _ensure_not_closed(ticket)
    if ticket.assignee_id == c.assignee_id:
        raise ConflictError(
            N_("Ticket #{number} is already assigned to {assignee}."), number=ticket.number, assignee=c.assignee_id
        )
    events: list[ev.Event] = [
        ev.TicketAssigned(
            number=ticket.number, occurred_at=now, assignee_id=c.assignee_id, previous_assignee_id=ticket.assignee_id
        )
    ]
    if ticket.status is Status.NEW:
        events.append(
            ev.TicketStatusChanged(number=ticket.number, occurred_at=now, from_status=Status.NEW, to_status=Status.OPEN)
        )
    return events


def change_status(
    ticket: Ticket, target: Status, *, now: datetime, sla: SlaContext, resolution: str | None = None
) -> list[ev.Event]:
    if target is ticket.status:
        raise ConflictError(N_("Ticket #{number} is already {status}."), number=ticket.number, status=target.label)
    if target not in ALLOWED_TRANSITIONS[ticket.status]:
        raise InvalidError(
            N_("Ticket #{number} cannot go from {current} to {target}."),
            number=ticket.number,
            current=ticket.status.label,
            target=target.label,
        )
    if target is Status.CLOSED and not (resolution or ticket.resolution or "").strip():
        raise InvalidError(N_("Closing ticket #{number} needs a resolution note."), number=ticket.number)
    events: list[ev.Event] = [
        ev.TicketStatusChanged(
            number=ticket.number,
            occurred_at=now,
            from_status=ticket.status,
            to_status=target,
            resolution=(resolution or "").strip() or None,
        )
    ]
    first = ticket.sla.get(SlaTargetName.FIRST_RESPONSE)
    if first and first.met_at is None and target not in (Status.OPEN, Status.NEW):
        events.append(ev.FirstResponseMet(number=ticket.number, occurred_at=now))
    events += _clock_transition(ticket, target, now=now, sla=sla, first_response_met=len(events) > 1)
    return events


def _clock_transition(
    ticket: Ticket, target: Status, *, now: datetime, sla: SlaContext, first_response_met: bool
) -> list[ev.Event]:
    was_running, runs = is_clock_running(ticket.status), is_clock_running(target)
    calendar = sla.calendar_for(ticket.priority)
    clocks = ticket.open_clocks()
    if first_response_met:
        clocks.pop(SlaTargetName.FIRST_RESPONSE, None)
    if was_running and not runs and clocks:
        elapsed = {name: clock.elapsed(now, calendar) for name, clock in clocks.items()}
        return [ev.SlaPaused(number=ticket.number, occurred_at=now, elapsed_seconds=elapsed)]
    if not was_running and runs:
        if ticket.status.is_done and SlaTargetName.RESOLUTION in ticket.sla:
            clocks[SlaTargetName.RESOLUTION] = ticket.sla[SlaTargetName.RESOLUTION]
        due = {
            name: due_from(now, clock.target_seconds - clock.elapsed_before, calendar) for name, clock in clocks.items()
        }
        return [ev.SlaResumed(number=ticket.number, occurred_at=now, due_at=due)] if due else []
    return []


def add_note(ticket: Ticket, c: cmd.AddNote, *, author_id: str, now: datetime) -> list[ev.Event]:
    _ensure_not_closed(ticket)
    body = c.body.strip()
    if not body:
        raise InvalidError(N_("A note cannot be empty."))
    if len(body) > MAX_NOTE:
        raise InvalidError(
            N_("The note is too long ({length} characters, at most {limit})."), length=len(body), limit=MAX_NOTE
        )
    events: list[ev.Event] = [
        ev.NoteAdded(
            number=ticket.number,
            occurred_at=now,
            note_id=len(ticket.notes) + 1,
            body=body,
            visibility=c.visibility,
            author_id=author_id,
        )
    ]
    first = ticket.sla.get(SlaTargetName.FIRST_RESPONSE)
    if c.visibility is Visibility.PUBLIC and first and first.met_at is None:
        events.append(ev.FirstResponseMet(number=ticket.number, occurred_at=now))
    return events


def change_priority(ticket: Ticket, priority: Priority, *, now: datetime, sla: SlaContext) -> list[ev.Event]:
    _ensure_not_closed(ticket)
    if priority is ticket.priority:
        raise ConflictError(
            N_("Ticket #{number} already has priority {priority}."), number=ticket.number, priority=priority.label
        )
    old_calendar, new_calendar = sla.calendar_for(ticket.priority), sla.calendar_for(priority)
    snapshots = {}
    for name, clock in ticket.sla.items():
        elapsed = clock.elapsed(now, old_calendar)
        target = sla.target_seconds(priority, name)
        running = clock.active_since is not None and clock.met_at is None
        due = due_from(now, target - elapsed, new_calendar) if running else clock.due_at
        snapshots[name] = ev.SlaClockSnapshot(target_seconds=target, due_at=due, elapsed_seconds=elapsed)
    return [
        ev.TicketPriorityChanged(
            number=ticket.number, occurred_at=now, from_priority=ticket.priority, to_priority=priority, sla=snapshots
        )
    ]


def escalate_ticket(ticket: Ticket, c: cmd.EscalateTicket, *, now: datetime, sla: SlaContext) -> list[ev.Event]:
    if ticket.status.is_done:
        raise InvalidError(
            N_("Ticket #{number} is {status} and cannot be escalated."),
            number=ticket.number,
            status=ticket.status.label,
        )
    target = ticket.priority.raised() if c.raise_priority else ticket.priority
    events: list[ev.Event] = []
    if target is not ticket.priority:
        events += change_priority(ticket, target, now=now, sla=sla)
    events.append(
        ev.TicketEscalated(
            number=ticket.number,
            occurred_at=now,
            level=ticket.escalation_level + 1,
            reason=c.reason,
            from_priority=ticket.priority,
            to_priority=target,
            notify_dispatchers=c.notify_dispatchers,
        )
    )
    return events


def check_sla(ticket: Ticket, *, now: datetime, sla: SlaContext) -> list[ev.Event]:
    """The one threshold event per clock that is due now and not raised before (breach beats warnings)."""
    if not ticket.sla_running:
        return []
    calendar = sla.calendar_for(ticket.priority)
    events: list[ev.Event] = []
    for name, clock in ticket.open_clocks().items():
        percent = clock.percent(now, calendar)
        if percent >= BREACH_THRESHOLD and BREACH_THRESHOLD not in clock.raised:
            events.append(ev.SlaBreached(number=ticket.number, occurred_at=now, target=name, due_at=clock.due_at))
            continue
        due = [t for t in WARNING_THRESHOLDS if percent >= t and t not in clock.raised]
        if due and percent < BREACH_THRESHOLD:
            events.append(
                ev.SlaWarningRaised(
                    number=ticket.number, occurred_at=now, target=name, threshold=max(due), due_at=clock.due_at
                )
            )
    return events
