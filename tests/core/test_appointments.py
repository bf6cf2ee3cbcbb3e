"""``core.appointments``: the decide rules and the fold that the ``appointments`` projection must equal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from psa_chatops.core import appointments as a
from psa_chatops.core import commands as c
from psa_chatops.core import events as ev
from psa_chatops.core.errors import ConflictError, InvalidError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.tickets import Ticket
from psa_chatops.core.tickets_state import Source, Status

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
START = NOW + timedelta(days=1)


def ticket(status: Status = Status.OPEN) -> Ticket:
    opened = ev.TicketOpened(
        number=12000, occurred_at=NOW, title="Rack", description="", customer_id="CUST-789",
        priority=Priority.MEDIUM, source=Source.API,
    )  # fmt: skip
    t = Ticket.replay([opened])
    t.status = status
    return t


def book(**fields: object) -> c.ScheduleAppointment:
    values: dict[str, object] = {
        "number": 12000, "technician_id": "tom", "starts_at": START, "ends_at": START + timedelta(hours=2),
        "location": " Industriestr. 5 ", **fields,
    }  # fmt: skip
    return c.ScheduleAppointment(**values)  # type: ignore[arg-type]


def scheduled(appointment_id: int = 1, **fields: object) -> a.Appointment:
    [event] = a.schedule(ticket(), book(**fields), appointment_id=appointment_id, busy=[], now=NOW)
    found = a.apply(None, event, customer_id="CUST-789", actor="technician:dora")
    assert found is not None
    return found


def test_schedule_trims_and_defaults_the_title_to_the_tickets() -> None:
    booked = scheduled()
    assert (booked.location, booked.title, booked.key, booked.version) == ("Industriestr. 5", "Rack", "12000-1", 1)
    assert booked.created_by == "technician:dora"


def test_overlap_is_half_open() -> None:
    booked = scheduled()
    assert booked.overlaps(START + timedelta(hours=1), START + timedelta(hours=3))
    assert not booked.overlaps(START + timedelta(hours=2), START + timedelta(hours=3))
    assert not booked.overlaps(START - timedelta(hours=1), START)
    with pytest.raises(ConflictError):
        a.schedule(ticket(), book(), appointment_id=2, busy=[booked], now=NOW)
    other_tech = a.schedule(ticket(), book(technician_id="dora"), appointment_id=2, busy=[booked], now=NOW)
    assert len(other_tech) == 1


def test_moving_the_start_keeps_the_duration_and_the_fold_follows() -> None:
    booked = scheduled()
    move = c.RescheduleAppointment(number=12000, appointment_id=1, starts_at=START + timedelta(hours=5))
    assert a.proposed_times(booked, move) == (START + timedelta(hours=5), START + timedelta(hours=7))
    [event] = a.reschedule(ticket(), booked, move, busy=[booked], now=NOW)  # its own slot is no conflict
    assert isinstance(event, ev.AppointmentRescheduled)
    assert event.previous_starts_at == START
    moved = a.apply(booked, event, customer_id="CUST-789")
    assert moved is not None
    assert (moved.starts_at, moved.ends_at, moved.version, moved.created_by) == (
        START + timedelta(hours=5), START + timedelta(hours=7), 2, "technician:dora",
    )  # fmt: skip
    assert (
        a.reschedule(ticket(), moved, c.RescheduleAppointment(number=12000, appointment_id=1), busy=[], now=NOW) == []
    )


def test_an_appointment_already_running_can_still_get_notes() -> None:
    booked = scheduled()
    later = START + timedelta(hours=1)  # it started an hour ago
    notes = c.RescheduleAppointment(number=12000, appointment_id=1, notes="Bring a ladder")
    [event] = a.reschedule(ticket(), booked, notes, busy=[], now=later)
    assert isinstance(event, ev.AppointmentRescheduled)
    move = c.RescheduleAppointment(number=12000, appointment_id=1, starts_at=START + timedelta(minutes=30))
    with pytest.raises(InvalidError, match="past"):
        a.reschedule(ticket(), booked, move, busy=[], now=later)


def test_cancel_and_replay() -> None:
    booked = scheduled()
    [cancelled] = a.cancel(ticket(Status.CLOSED), booked, c.CancelAppointment(number=12000, appointment_id=1), now=NOW)
    gone = a.apply(booked, cancelled, customer_id="CUST-789")
    assert gone is not None
    assert (gone.scheduled, gone.cancel_reason, gone.version) == (False, None, 2)
    with pytest.raises(ConflictError):
        a.cancel(ticket(), gone, c.CancelAppointment(number=12000, appointment_id=1), now=NOW)
    [first] = a.schedule(ticket(), book(), appointment_id=1, busy=[], now=NOW)
    [second] = a.schedule(ticket(), book(technician_id="dora"), appointment_id=2, busy=[], now=NOW)
    note = ev.NoteAdded(number=12000, occurred_at=NOW, note_id=1, body="x", visibility="internal", author_id="x")  # type: ignore[arg-type]
    found = a.replay([(first, "u:1"), (note, "u:1"), (second, "u:2"), (cancelled, "u:3")], customer_id="CUST-789")
    assert {k: (v.technician_id, v.scheduled, v.created_by) for k, v in found.items()} == {
        1: ("tom", False, "u:1"),
        2: ("dora", True, "u:2"),
    }


def test_events_survive_the_json_codec() -> None:
    [event] = a.schedule(ticket(), book(notes="Key at the reception"), appointment_id=3, busy=[], now=NOW)
    again = ev.from_payload(event.type, number=12000, occurred_at=NOW, payload=ev.to_payload(event))
    assert again == event


@pytest.mark.parametrize("status", [Status.RESOLVED, Status.CLOSED])
def test_a_done_ticket_takes_no_new_appointments(status: Status) -> None:
    with pytest.raises(InvalidError, match="open ticket"):
        a.schedule(ticket(status), book(), appointment_id=1, busy=[], now=NOW)


def test_ticket_apply_counts_the_event_as_a_version() -> None:
    t = ticket()
    [event] = a.schedule(t, book(), appointment_id=1, busy=[], now=NOW)
    assert t.evolved([event]).version == t.version + 1
