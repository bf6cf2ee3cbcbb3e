"""On-site appointments through the bus: ticket events attributed to the actor, the ``appointments`` projection
and the calendar's outbox row in the same transaction, and every refusal. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import build_bus
from psa_chatops.core import appointments as core
from psa_chatops.core import commands as c
from psa_chatops.core.appointments import AppointmentStatus
from psa_chatops.core.errors import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    PreconditionFailedError,
)
from psa_chatops.core.tickets_state import Status
from psa_chatops.handlers import appointments as use
from psa_chatops.handlers import queries
from psa_chatops.handlers.appointment_ports import AppointmentFilter
from psa_chatops.handlers.appointments import AppointmentView
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import CommandContext
from psa_chatops.handlers.views import TicketView
from psa_chatops.storage import appointments as store
from psa_chatops.storage import tables as t
from tests.conftest import FrozenClock
from tests.handlers.conftest import ContextFor

MAILBOX = "einsatz@msp.example"
TUESDAY_9 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
NAIVE = TUESDAY_9.replace(tzinfo=None)
OUTBOX = t.table_of(t.OutboxRow)
APPOINTMENTS = t.table_of(t.AppointmentRow)
SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


async def open_ticket(bus: MessageBus, context: CommandContext, customer_id: str = "CUST-789") -> int:
    view: TicketView = await bus.handle(c.OpenTicket(title="Server rack", customer_id=customer_id), context)
    return view.number


def booking(number: int, technician_id: str = "tom", **fields: Any) -> c.ScheduleAppointment:
    values: dict[str, Any] = {
        "starts_at": TUESDAY_9,
        "ends_at": TUESDAY_9 + timedelta(hours=2),
        "location": "Industriestr. 5, 70565 Stuttgart",
        "title": "Swap the PSU",
        **fields,
    }
    return c.ScheduleAppointment(number=number, technician_id=technician_id, **values)


async def calendar_rows(db: AsyncEngine) -> list[Any]:
    async with db.connect() as conn:
        query = select(OUTBOX).where(OUTBOX.c.event_type == "AppointmentChanged").order_by(OUTBOX.c.id)
        return list((await conn.execute(query)).all())


async def test_book_move_cancel_is_history_projection_and_calendar_rows(
    db: AsyncEngine, clock: FrozenClock, context_for: ContextFor
) -> None:
    bus = build_bus(db, clock, calendar=MAILBOX)
    dora = await context_for("dora")
    number = await open_ticket(bus, dora)

    booked: AppointmentView = await bus.handle(booking(number), dora)
    a = booked.appointment
    assert (a.id, a.technician_id, a.status, a.version, a.created_by) == (
        1,
        "tom",
        AppointmentStatus.SCHEDULED,
        1,
        "technician:dora",
    )
    assert (booked.technician_name, booked.customer_name, booked.ticket_title) == (
        "Tom Technician",
        "Müller Maschinenbau GmbH",
        "Server rack",
    )

    moved: AppointmentView = await bus.handle(
        c.RescheduleAppointment(number=number, appointment_id=1, starts_at=TUESDAY_9 + timedelta(hours=4)), dora
    )
    assert (moved.appointment.starts_at, moved.appointment.ends_at) == (
        TUESDAY_9 + timedelta(hours=4),
        TUESDAY_9 + timedelta(hours=6),  # the duration is kept
    )
    assert moved.appointment.version == 2

    cancelled: AppointmentView = await bus.handle(
        c.CancelAppointment(number=number, appointment_id=1, reason="Customer fixed it"), dora
    )
    assert cancelled.appointment.status is AppointmentStatus.CANCELLED
    assert cancelled.appointment.cancel_reason == "Customer fixed it"

    history = await queries.ticket_history(number, uow=bus.uow_factory(dora))
    mine = [(r.event.type, r.actor) for r in history if core.appointment_id_of(r.event) is not None]
    assert mine == [
        ("AppointmentScheduled", "technician:dora"),
        ("AppointmentRescheduled", "technician:dora"),
        ("AppointmentCancelled", "technician:dora"),
    ]
    replayed = core.replay([(r.event, r.actor) for r in history], customer_id="CUST-789")
    async with db.connect() as conn:
        projected = await store.find(conn, AppointmentFilter(ticket_number=number, include_cancelled=True))
    assert [replayed[1]] == projected  # the projection is the fold of the ticket's events

    rows = await calendar_rows(db)
    assert [(r.destination, r.payload["action"], r.ticket_number) for r in rows] == [
        (f"calendar:{MAILBOX}", "upsert", None),
        (f"calendar:{MAILBOX}", "upsert", None),
        (f"calendar:{MAILBOX}", "delete", None),
    ]
    assert {tuple(r.payload["appointment"].values()) for r in rows} == {(number, 1)}
    assert len({r.idempotency_key for r in rows}) == 3


async def test_appointments_are_numbered_per_ticket_and_listed_earliest_first(
    bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    dora = await context_for("dora")
    first, second = await open_ticket(bus, dora), await open_ticket(bus, dora)
    await bus.handle(
        booking(first, starts_at=TUESDAY_9 + timedelta(days=1), ends_at=TUESDAY_9 + timedelta(days=1, hours=1)), dora
    )
    await bus.handle(booking(first), dora)
    await bus.handle(booking(second, "dora"), dora)
    listed = await use.ticket_appointments(first, uow=bus.uow_factory(dora))
    assert [(v.appointment.id, v.appointment.starts_at) for v in listed] == [
        (2, TUESDAY_9),
        (1, TUESDAY_9 + timedelta(days=1)),
    ]
    toms = await use.find_appointments(AppointmentFilter(technician_id="tom"), uow=bus.uow_factory(dora))
    assert [(v.appointment.ticket_number, v.appointment.id) for v in toms] == [(first, 2), (first, 1)]
    window = AppointmentFilter(starts_from=TUESDAY_9 + timedelta(hours=1), starts_before=TUESDAY_9 + timedelta(hours=3))
    both = await use.find_appointments(window, uow=bus.uow_factory(dora))
    assert sorted(v.appointment.technician_id for v in both) == ["dora", "tom"]


async def test_no_calendar_no_rows(bus: MessageBus, context_for: ContextFor, db: AsyncEngine) -> None:
    dora = await context_for("dora")
    await bus.handle(booking(await open_ticket(bus, dora)), dora)
    assert await calendar_rows(db) == []


@SQLITE_ONLY
async def test_who_may_book_whom(bus: MessageBus, context_for: ContextFor) -> None:
    dora, tom, sam = await context_for("dora"), await context_for("tom"), await context_for("sam")
    number = await open_ticket(bus, dora)
    assert (await bus.handle(booking(number, "tom"), tom)).appointment.technician_id == "tom"  # themselves
    with pytest.raises(ForbiddenError):
        await bus.handle(
            booking(
                number, "dora", starts_at=TUESDAY_9 + timedelta(days=2), ends_at=TUESDAY_9 + timedelta(days=2, hours=1)
            ),
            tom,
        )
    with pytest.raises(NotFoundError):  # sam only sees CUST-100: the ticket "does not exist"
        await bus.handle(booking(number, "sam"), sam)
    with pytest.raises(InvalidError, match="does not work for"):
        await bus.handle(booking(number, "sam"), dora)
    with pytest.raises(NotFoundError):
        await bus.handle(booking(number, "nobody"), dora)
    with pytest.raises(ForbiddenError):  # a customer contact
        await bus.handle(booking(number, "tom"), await context_for("petra"))
    dora_visit = await bus.handle(booking(number, "dora"), dora)
    with pytest.raises(ForbiddenError):  # tom cannot cancel dora's visit
        await bus.handle(c.CancelAppointment(number=number, appointment_id=dora_visit.appointment.id), tom)


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"ends_at": TUESDAY_9}, InvalidError, "end after"),
        ({"ends_at": TUESDAY_9 + timedelta(hours=25)}, InvalidError, "24 hours"),
        (
            {"starts_at": TUESDAY_9 - timedelta(days=2), "ends_at": TUESDAY_9 - timedelta(days=2, hours=-1)},
            InvalidError,
            "past",
        ),
        ({"location": "   "}, InvalidError, "location"),
        ({"title": "x" * 201}, InvalidError, "too long"),
        ({"starts_at": NAIVE, "ends_at": NAIVE + timedelta(hours=1)}, InvalidError, "time zone"),
    ],
)
async def test_bad_bookings_are_refused(
    bus: MessageBus, context_for: ContextFor, fields: dict[str, Any], error: type[Exception], message: str
) -> None:
    dora = await context_for("dora")
    number = await open_ticket(bus, dora)
    with pytest.raises(error, match=message):
        await bus.handle(booking(number, **fields), dora)
    assert await use.ticket_appointments(number, uow=bus.uow_factory(dora)) == []


@SQLITE_ONLY
async def test_conflicts(bus: MessageBus, context_for: ContextFor) -> None:
    dora = await context_for("dora")
    number, other = await open_ticket(bus, dora), await open_ticket(bus, dora)
    await bus.handle(booking(number), dora)
    with pytest.raises(ConflictError, match="already has an appointment"):  # tom is busy then, on any ticket
        await bus.handle(
            booking(other, starts_at=TUESDAY_9 + timedelta(hours=1), ends_at=TUESDAY_9 + timedelta(hours=3)), dora
        )
    back_to_back = await bus.handle(
        booking(other, starts_at=TUESDAY_9 + timedelta(hours=2), ends_at=TUESDAY_9 + timedelta(hours=3)), dora
    )
    assert back_to_back.appointment.id == 1
    with pytest.raises(ConflictError, match="already has an appointment"):  # moving into it
        await bus.handle(
            c.RescheduleAppointment(
                number=number, appointment_id=1, ends_at=TUESDAY_9 + timedelta(hours=2, minutes=30)
            ),
            dora,
        )
    with pytest.raises(PreconditionFailedError):
        await bus.handle(
            c.RescheduleAppointment(number=number, appointment_id=1, title="New", expected_version=7), dora
        )
    same = await bus.handle(c.RescheduleAppointment(number=number, appointment_id=1, title="Swap the PSU"), dora)
    assert same.appointment.version == 1  # nothing changed: no event
    await bus.handle(c.CancelAppointment(number=number, appointment_id=1, expected_version=1), dora)
    with pytest.raises(ConflictError, match="cancelled"):
        await bus.handle(c.CancelAppointment(number=number, appointment_id=1), dora)
    with pytest.raises(ConflictError, match="cancelled"):
        await bus.handle(c.RescheduleAppointment(number=number, appointment_id=1, title="Again"), dora)
    with pytest.raises(NotFoundError):
        await bus.handle(c.CancelAppointment(number=number, appointment_id=9), dora)


@SQLITE_ONLY
async def test_a_closed_ticket_takes_no_bookings_but_cancels(bus: MessageBus, context_for: ContextFor) -> None:
    dora = await context_for("dora")
    number = await open_ticket(bus, dora)
    await bus.handle(booking(number), dora)
    await bus.handle(c.ChangeStatus(number=number, status=Status.RESOLVED, resolution="done remotely"), dora)
    with pytest.raises(InvalidError, match="appointments need an open ticket"):
        await bus.handle(
            booking(number, starts_at=TUESDAY_9 + timedelta(days=1), ends_at=TUESDAY_9 + timedelta(days=1, hours=1)),
            dora,
        )
    done = await bus.handle(c.CancelAppointment(number=number, appointment_id=1, reason="solved remotely"), dora)
    assert done.appointment.status is AppointmentStatus.CANCELLED


@SQLITE_ONLY
async def test_cross_ticket_list_stays_inside_the_actors_customers(
    bus: MessageBus, context_for: ContextFor, db: AsyncEngine
) -> None:
    dora, sam = await context_for("dora"), await context_for("sam")
    await bus.handle(booking(await open_ticket(bus, dora)), dora)
    globex = await open_ticket(bus, dora, customer_id="CUST-100")
    await bus.handle(booking(globex, "sam"), dora)
    seen = await use.find_appointments(AppointmentFilter(), uow=bus.uow_factory(sam))
    assert [v.appointment.ticket_number for v in seen] == [globex]
    asked = await use.find_appointments(AppointmentFilter(customer_ids=["CUST-789"]), uow=bus.uow_factory(sam))
    assert asked == []
    with pytest.raises(ForbiddenError):
        await use.find_appointments(AppointmentFilter(), uow=bus.uow_factory(await context_for("petra")))
    async with db.connect() as conn:
        assert len((await conn.execute(select(APPOINTMENTS))).all()) == 2
