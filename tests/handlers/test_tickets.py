"""Ticket use-cases through the bus: the views they return, who may do what, refusals and the read side."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core import commands as c
from psa_chatops.core.errors import ConflictError, DomainError, ForbiddenError, InvalidError, NotFoundError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.tickets_state import Source, Status, Visibility
from psa_chatops.handlers import queries
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import CommandContext
from psa_chatops.handlers.views import TicketListView, TicketView
from psa_chatops.storage import tables as t
from tests.conftest import FrozenClock
from tests.handlers.conftest import ContextFor

EVENTS = t.table_of(t.TicketEventRow)
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
# Use-case logic and permissions are the same on both backends (tests/storage covers PostgreSQL persistence);
# they run on SQLite only to keep the suite fast. The read-side queries below run on both.
SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


async def open_ticket(bus: MessageBus, context: CommandContext, title: str = "VPN down", **fields: object) -> int:
    command = c.OpenTicket(title=title, customer_id=str(fields.pop("customer_id", "CUST-789")), **fields)  # type: ignore[arg-type]
    view: TicketView = await bus.handle(command, context)
    return view.number


async def show(bus: MessageBus, context: CommandContext, number: int, clock: FrozenClock) -> TicketView:
    return await queries.show_ticket(number, uow=bus.uow_factory(context), now=clock.now())


async def event_count(db: AsyncEngine) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(EVENTS))).scalar_one())


def numbers(listing: TicketListView) -> list[int]:
    return [s.number for s in listing.tickets]


# --- each use-case returns the ticket as it is now ---------------------------------------------------------------


@SQLITE_ONLY
async def test_open_ticket_returns_the_new_ticket(bus: MessageBus, context_for: ContextFor) -> None:
    view = await bus.handle(
        c.OpenTicket(
            title="  Printer jams  ",
            customer_id="CUST-789",
            description="Paper everywhere ",
            priority=Priority.HIGH,
            source=Source.SLACK,
            contact_id="c-1",
            asset_id="WS-CLIENT-042",
            tags=("Printer", " printer", "Floor-2", " "),
        ),
        await context_for("tom"),
    )

    assert isinstance(view, TicketView)
    assert (view.title, view.description, view.status, view.priority, view.source) == (
        "Printer jams",
        "Paper everywhere",
        "new",
        "high",
        "slack",
    )
    assert (view.customer_id, view.customer_name) == ("CUST-789", "Müller Maschinenbau GmbH")
    assert (view.contact, view.asset, view.assignee_id, view.assignee) == ("Petra Kunde", "WS-CLIENT-042", None, None)
    assert view.tags == ("printer", "floor-2")
    assert (view.created_at, view.updated_at, view.version, view.escalation_level) == (MONDAY_9, MONDAY_9, 1, 0)
    # high: first response within 1 business hour, resolution within 8 (Berlin 10:00 -> 11:00, Tuesday 9:00)
    assert [(s.target, s.due_at, s.percent, s.state) for s in view.sla] == [
        ("first_response", datetime(2026, 11, 23, 10, 0, tzinfo=UTC), 0.0, "ok"),
        ("resolution", datetime(2026, 11, 24, 8, 0, tzinfo=UTC), 0.0, "ok"),
    ]
    assert view.actions == ("add_note", "set_status", "close", "assign_to_me", "escalate")
    assert not view.at_risk


@SQLITE_ONLY
async def test_open_ticket_with_an_assignee_opens_it(bus: MessageBus, context_for: ContextFor) -> None:
    view = await bus.handle(
        c.OpenTicket(title="Mail", customer_id="CUST-789", assignee_id="tom"), await context_for("dora")
    )

    assert (view.status, view.assignee_id, view.assignee, view.version) == ("open", "tom", "Tom Technician", 3)


@SQLITE_ONLY
async def test_assign_ticket(bus: MessageBus, context_for: ContextFor, clock: FrozenClock) -> None:
    tom = await context_for("tom")
    number = await open_ticket(bus, tom)
    clock.advance(minutes=10)

    view = await bus.handle(c.AssignTicket(number=number, assignee_id="tom"), tom)

    assert (view.number, view.status, view.assignee_id, view.assignee) == (number, "open", "tom", "Tom Technician")
    assert (view.version, view.updated_at) == (3, clock.now())


@SQLITE_ONLY
async def test_change_status(bus: MessageBus, context_for: ContextFor) -> None:
    tom = await context_for("tom")
    number = await open_ticket(bus, tom)

    view = await bus.handle(c.ChangeStatus(number=number, status=Status.IN_PROGRESS), tom)

    assert view.status == "in_progress"
    assert [s.state for s in view.sla] == ["met", "ok"]  # working on it counts as the first response


@SQLITE_ONLY
async def test_add_note(bus: MessageBus, context_for: ContextFor, clock: FrozenClock) -> None:
    tom = await context_for("tom")
    number = await open_ticket(bus, tom)
    clock.advance(minutes=20)

    internal = await bus.handle(c.AddNote(number=number, body=" Rebooted the router "), tom)
    public = await bus.handle(c.AddNote(number=number, body="On it", visibility=Visibility.PUBLIC), tom)

    assert [(n.id, n.body, n.visibility, n.author) for n in internal.notes] == [
        (1, "Rebooted the router", "internal", "Tom Technician")
    ]
    assert internal.sla[0].state == "ok"
    assert [n.visibility for n in public.notes] == ["internal", "public"]
    assert public.notes[1].created_at == clock.now()
    assert public.sla[0].state == "met"  # a public reply is the first response


@SQLITE_ONLY
async def test_change_priority(bus: MessageBus, context_for: ContextFor, clock: FrozenClock) -> None:
    tom = await context_for("tom")
    number = await open_ticket(bus, tom)
    clock.advance(minutes=30)

    view = await bus.handle(c.ChangePriority(number=number, priority=Priority.HIGH), tom)

    assert view.priority == "high"
    # 30 of 60 business minutes for the first response are gone: due in 30 more minutes
    assert view.sla[0].due_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert view.sla[0].percent == 50.0


@SQLITE_ONLY
async def test_escalate_ticket(bus: MessageBus, context_for: ContextFor) -> None:
    tom = await context_for("tom")
    number = await open_ticket(bus, tom, priority=Priority.LOW)

    raised = await bus.handle(c.EscalateTicket(number=number, reason="customer is angry"), tom)
    kept = await bus.handle(c.EscalateTicket(number=number, reason="still angry", raise_priority=False), tom)

    assert (raised.escalation_level, raised.priority) == (1, "medium")
    assert (kept.escalation_level, kept.priority) == (2, "medium")


@SQLITE_ONLY
async def test_close_ticket(bus: MessageBus, context_for: ContextFor) -> None:
    tom = await context_for("tom")
    number = await open_ticket(bus, tom)

    view = await bus.handle(c.CloseTicket(number=number, resolution=" Replaced cable "), tom)

    assert (view.status, view.resolution, view.actions) == ("closed", "Replaced cable", ())


@SQLITE_ONLY
async def test_opening_a_critical_ticket_escalates_it(bus: MessageBus, context_for: ContextFor) -> None:
    tom = await context_for("tom")
    number = await open_ticket(bus, tom, priority=Priority.CRITICAL)

    view = await show(bus, tom, number, clock=FrozenClock(MONDAY_9))

    assert (view.priority, view.escalation_level) == ("critical", 1)


# --- who may do what ---------------------------------------------------------------------------------------------


@SQLITE_ONLY
async def test_scoped_technician_cannot_see_or_touch_other_customers(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    tom, sam = await context_for("tom"), await context_for("sam")
    acme = await open_ticket(bus, tom)
    before = await event_count(db)

    with pytest.raises(NotFoundError, match=rf"^Ticket #{acme} does not exist\.$"):
        await show(bus, sam, acme, clock)
    for command in (
        c.AddNote(number=acme, body="peek"),
        c.ChangeStatus(number=acme, status=Status.IN_PROGRESS),
        c.AssignTicket(number=acme, assignee_id="sam"),
        c.ChangePriority(number=acme, priority=Priority.LOW),
        c.EscalateTicket(number=acme, reason="x"),
        c.CloseTicket(number=acme, resolution="x"),
    ):
        with pytest.raises(NotFoundError, match=rf"Ticket #{acme} does not exist"):
            await bus.handle(command, sam)
    with pytest.raises(ForbiddenError, match="You cannot open tickets for customer CUST-789"):
        await bus.handle(c.OpenTicket(title="x", customer_id="CUST-789"), sam)
    assert await event_count(db) == before

    globex = await open_ticket(bus, sam, customer_id="CUST-100")
    view = await bus.handle(c.AssignTicket(number=globex, assignee_id="sam"), sam)
    assert (view.customer_id, view.assignee_id) == ("CUST-100", "sam")


@SQLITE_ONLY
async def test_dispatcher_cannot_assign_a_ticket_to_someone_outside_its_customer(
    bus: MessageBus, context_for: ContextFor
) -> None:
    dora = await context_for("dora")
    number = await open_ticket(bus, dora)

    with pytest.raises(InvalidError, match="Sam Scoped does not work for this ticket's customer"):
        await bus.handle(c.AssignTicket(number=number, assignee_id="sam"), dora)
    with pytest.raises(NotFoundError, match="Technician nobody does not exist"):
        await bus.handle(c.AssignTicket(number=number, assignee_id="nobody"), dora)


@SQLITE_ONLY
async def test_technician_assigns_only_themselves_dispatcher_and_admin_anyone(
    bus: MessageBus, context_for: ContextFor
) -> None:
    tom, dora, alice = await context_for("tom"), await context_for("dora"), await context_for("alice")
    number = await open_ticket(bus, tom)

    with pytest.raises(ForbiddenError, match="Only dispatchers and admins can assign tickets to others"):
        await bus.handle(c.AssignTicket(number=number, assignee_id="dora"), tom)
    with pytest.raises(ForbiddenError, match="Only dispatchers and admins"):
        await bus.handle(c.OpenTicket(title="x", customer_id="CUST-789", assignee_id="alice"), tom)

    assert (await bus.handle(c.AssignTicket(number=number, assignee_id="tom"), dora)).assignee_id == "tom"
    assert (await bus.handle(c.AssignTicket(number=number, assignee_id="dora"), alice)).assignee_id == "dora"
    assert (await bus.handle(c.AssignTicket(number=number, assignee_id="tom"), tom)).assignee_id == "tom"


@SQLITE_ONLY
async def test_contact_opens_for_own_customer_and_adds_only_public_notes(
    bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    petra, tom = await context_for("petra"), await context_for("tom")

    view = await bus.handle(c.OpenTicket(title="Cannot print", customer_id="CUST-789", source=Source.EMAIL), petra)
    number = view.number
    assert (view.status, view.actions) == ("new", ("add_note",))
    with pytest.raises(ForbiddenError, match="You cannot open tickets for customer CUST-100"):
        await bus.handle(c.OpenTicket(title="x", customer_id="CUST-100"), petra)

    replied = await bus.handle(c.AddNote(number=number, body="Still broken", visibility=Visibility.PUBLIC), petra)
    assert [(n.body, n.author) for n in replied.notes] == [("Still broken", "Petra Kunde")]
    assert replied.sla[0].state == "ok"  # the customer's own reply is no first response
    with pytest.raises(ForbiddenError, match="Customers can only add public replies"):
        await bus.handle(c.AddNote(number=number, body="psst", visibility=Visibility.INTERNAL), petra)

    await bus.handle(c.AddNote(number=number, body="Toner empty, customer uses cheap refills"), tom)
    seen_by_petra = await show(bus, petra, number, clock)
    seen_by_tom = await show(bus, tom, number, clock)
    assert [n.body for n in seen_by_petra.notes] == ["Still broken"]
    assert len(seen_by_tom.notes) == 2

    for command in (
        c.ChangeStatus(number=number, status=Status.RESOLVED),
        c.AssignTicket(number=number, assignee_id="tom"),
        c.EscalateTicket(number=number, reason="x"),
        c.ChangePriority(number=number, priority=Priority.HIGH),
    ):
        with pytest.raises(ForbiddenError, match="Only technicians can do this"):
            await bus.handle(command, petra)


@SQLITE_ONLY
async def test_contact_cannot_see_another_customers_ticket(
    bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    petra, sam = await context_for("petra"), await context_for("sam")
    globex = await open_ticket(bus, sam, customer_id="CUST-100")

    with pytest.raises(NotFoundError):
        await show(bus, petra, globex, clock)
    with pytest.raises(NotFoundError):
        await bus.handle(c.AddNote(number=globex, body="hi", visibility=Visibility.PUBLIC), petra)


@SQLITE_ONLY
async def test_unlinked_actor_is_forbidden(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    nobody, tom = await context_for("mallory"), await context_for("tom")
    number = await open_ticket(bus, tom)
    before = await event_count(db)

    for command in (
        c.OpenTicket(title="x", customer_id="CUST-789"),
        c.AddNote(number=number, body="x", visibility=Visibility.PUBLIC),
        c.ChangeStatus(number=number, status=Status.IN_PROGRESS),
        c.AssignTicket(number=number, assignee_id="tom"),
        c.CloseTicket(number=number, resolution="x"),
    ):
        with pytest.raises(ForbiddenError, match="not linked to a technician or contact"):
            await bus.handle(command, nobody)
    with pytest.raises(ForbiddenError, match="not linked"):
        await show(bus, nobody, number, clock)
    with pytest.raises(ForbiddenError, match="not linked"):
        await queries.queue(uow=bus.uow_factory(nobody), now=clock.now())
    with pytest.raises(ForbiddenError, match="not linked"):
        await queries.search("x", uow=bus.uow_factory(nobody), now=clock.now())
    with pytest.raises(ForbiddenError, match="not linked"):
        await queries.my_tickets(uow=bus.uow_factory(nobody), now=clock.now())
    assert await event_count(db) == before


# --- refusals ----------------------------------------------------------------------------------------------------


@SQLITE_ONLY
async def test_invalid_requests_are_refused_with_clear_text_and_change_nothing(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor
) -> None:
    tom = await context_for("tom")
    number = await open_ticket(bus, tom)
    before = await event_count(db)
    refusals: list[tuple[c.Command, type[DomainError], str]] = [
        (c.ChangeStatus(number=number, status=Status.NEW), ConflictError, f"Ticket #{number} is already new."),
        (c.CloseTicket(number=number, resolution="  "), InvalidError, f"Closing ticket #{number} needs a resolution"),
        (c.AddNote(number=number, body="   "), InvalidError, "A note cannot be empty."),
        (c.ChangePriority(number=number, priority=Priority.MEDIUM), ConflictError, "already has priority medium"),
        (c.OpenTicket(title=" ", customer_id="CUST-789"), InvalidError, "A ticket needs a title."),
        (c.OpenTicket(title="x" * 201, customer_id="CUST-789"), InvalidError, "The title is too long (201 characters"),
        (c.OpenTicket(title="x", customer_id="CUST-999"), NotFoundError, "Customer CUST-999 does not exist."),
        (
            c.OpenTicket(title="x", customer_id="CUST-100", contact_id="c-1"),
            InvalidError,
            "Contact c-1 does not belong",
        ),
        (c.OpenTicket(title="x", customer_id="CUST-100", asset_id="WS-CLIENT-042"), InvalidError, "does not belong"),
        (c.AddNote(number=99, body="x"), NotFoundError, "Ticket #99 does not exist."),
    ]
    for command, error, text in refusals:
        with pytest.raises(error) as caught:
            await bus.handle(command, tom)
        assert text in str(caught.value), command
    assert await event_count(db) == before


@SQLITE_ONLY
async def test_status_transitions_that_make_no_sense_are_refused(bus: MessageBus, context_for: ContextFor) -> None:
    tom = await context_for("tom")
    number = await open_ticket(bus, tom)
    await bus.handle(c.ChangeStatus(number=number, status=Status.RESOLVED, resolution="Rebooted"), tom)

    with pytest.raises(InvalidError, match=rf"Ticket #{number} cannot go from resolved to in progress\."):
        await bus.handle(c.ChangeStatus(number=number, status=Status.IN_PROGRESS), tom)
    with pytest.raises(InvalidError, match=rf"Ticket #{number} is resolved and cannot be escalated\."):
        await bus.handle(c.EscalateTicket(number=number, reason="x"), tom)

    closed = await bus.handle(c.CloseTicket(number=number, resolution=""), tom)  # the earlier resolution counts
    assert (closed.status, closed.resolution) == ("closed", "Rebooted")
    with pytest.raises(InvalidError, match=rf"Ticket #{number} cannot go from closed to open\."):
        await bus.handle(c.ChangeStatus(number=number, status=Status.OPEN), tom)
    with pytest.raises(InvalidError, match=rf"Ticket #{number} is closed; reopen is not possible"):
        await bus.handle(c.AddNote(number=number, body="hello?"), tom)
    with pytest.raises(InvalidError, match="closed; reopen is not possible"):
        await bus.handle(c.AssignTicket(number=number, assignee_id="tom"), tom)


# --- the read side -----------------------------------------------------------------------------------------------


async def test_my_tickets_lists_my_open_assigned_tickets(
    bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    tom, dora, petra = await context_for("tom"), await context_for("dora"), await context_for("petra")
    mine = await open_ticket(bus, dora, "Mine", assignee_id="tom")
    done = await open_ticket(bus, dora, "Done", assignee_id="tom")
    await open_ticket(bus, dora, "Dora's", assignee_id="dora")
    await open_ticket(bus, dora, "Nobody's")
    await bus.handle(c.CloseTicket(number=done, resolution="fixed"), tom)

    listing = await queries.my_tickets(uow=bus.uow_factory(tom), now=clock.now())

    assert (numbers(listing), listing.total, listing.title) == ([mine], 1, "My open tickets")
    assert listing.tickets[0].assignee == "Tom Technician"
    assert listing.tickets[0].customer_name == "Müller Maschinenbau GmbH"
    with pytest.raises(ForbiddenError, match="Only technicians"):
        await queries.my_tickets(uow=bus.uow_factory(petra), now=clock.now())


async def test_queue_filters_by_customer_status_and_priority(
    bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    tom, sam, petra = await context_for("tom"), await context_for("sam"), await context_for("petra")
    acme_new = await open_ticket(bus, tom, "A new")
    acme_busy = await open_ticket(bus, tom, "A busy", priority=Priority.HIGH)
    await bus.handle(c.ChangeStatus(number=acme_busy, status=Status.IN_PROGRESS), tom)
    acme_closed = await open_ticket(bus, tom, "A closed")
    await bus.handle(c.CloseTicket(number=acme_closed, resolution="done"), tom)
    globex = await open_ticket(bus, sam, "G low", customer_id="CUST-100", priority=Priority.LOW)

    async def queue(context: CommandContext, **filters: object) -> list[int]:
        return numbers(await queries.queue(uow=bus.uow_factory(context), now=clock.now(), **filters))  # type: ignore[arg-type]

    assert await queue(tom) == [globex, acme_busy, acme_new]  # open tickets, newest first
    assert await queue(tom, customer_id="CUST-100") == [globex]
    assert await queue(tom, statuses=(Status.IN_PROGRESS,)) == [acme_busy]
    assert await queue(tom, statuses=(Status.CLOSED,)) == [acme_closed]
    assert await queue(tom, priorities=(Priority.HIGH, Priority.LOW)) == [globex, acme_busy]
    assert await queue(sam) == [globex]  # the scope applies ...
    assert await queue(sam, customer_id="CUST-789") == []  # ... and cannot be widened by a filter
    assert await queue(petra) == [acme_busy, acme_new]
    listing = await queries.queue(uow=bus.uow_factory(tom), now=clock.now())
    assert (listing.total, listing.title) == (3, "Queue")


async def test_search_matches_title_and_description_case_insensitively(
    bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    tom, sam = await context_for("tom"), await context_for("sam")
    in_title = await open_ticket(bus, tom, "PRINTER jams")
    in_description = await open_ticket(bus, tom, "Office", description="the printer on floor 2")
    await open_ticket(bus, tom, "VPN down")
    await bus.handle(c.CloseTicket(number=in_title, resolution="cleaned"), tom)
    globex = await open_ticket(bus, sam, "Printer at Globex", customer_id="CUST-100")

    found = await queries.search("Printer", uow=bus.uow_factory(tom), now=clock.now())
    scoped = await queries.search("printer", uow=bus.uow_factory(sam), now=clock.now())
    limited = await queries.search("printer", uow=bus.uow_factory(tom), now=clock.now(), limit=1)

    assert numbers(found) == [globex, in_description, in_title]  # closed tickets are found too
    assert numbers(scoped) == [globex]
    assert (numbers(limited), limited.total) == ([globex], 3)
    assert numbers(await queries.search("scanner", uow=bus.uow_factory(tom), now=clock.now())) == []


async def test_sla_at_risk_after_time_passes(bus: MessageBus, context_for: ContextFor, clock: FrozenClock) -> None:
    tom, sam, petra = await context_for("tom"), await context_for("sam"), await context_for("petra")
    medium = await open_ticket(bus, tom, "medium")  # first response within 4 business hours
    clock.advance(hours=2, minutes=30)
    high = await open_ticket(bus, tom, "high", priority=Priority.HIGH)  # within 1 business hour
    paused = await open_ticket(bus, tom, "waiting")
    await bus.handle(c.ChangeStatus(number=paused, status=Status.WAITING_CUSTOMER), tom)

    async def at_risk(context: CommandContext) -> TicketListView:
        return await queries.sla_at_risk(uow=bus.uow_factory(context), now=clock.now())

    assert numbers(await at_risk(tom)) == []

    clock.advance(minutes=35)  # medium at 3h05 of 4h = 77 %, high at 35 of 60 min = 58 %
    listing = await at_risk(tom)
    assert (numbers(listing), [s.sla_state for s in listing.tickets]) == ([medium], ["warning"])
    view = await show(bus, tom, medium, clock)
    assert view.at_risk
    assert view.sla[0].percent == 77.1

    clock.advance(minutes=30)  # medium at 90 %, high at 108 %: breached first
    listing = await at_risk(tom)
    assert (numbers(listing), [s.sla_state for s in listing.tickets]) == ([high, medium], ["breached", "warning"])
    assert listing.total == 2
    assert numbers(await queries.sla_at_risk(uow=bus.uow_factory(tom), now=clock.now(), limit=1)) == [high]
    assert numbers(await at_risk(sam)) == []
    with pytest.raises(ForbiddenError, match="Only technicians"):
        await at_risk(petra)


async def test_search_treats_percent_and_underscore_literally(
    bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    tom = await context_for("tom")
    await bus.handle(c.OpenTicket(title="Disk 100% full", customer_id="CUST-789"), tom)
    await bus.handle(c.OpenTicket(title="Disk 1000 files", customer_id="CUST-789"), tom)
    found = await queries.search("100%", uow=bus.uow_factory(tom), now=clock.now())
    assert [t.title for t in found.tickets] == ["Disk 100% full"]
    assert (await queries.search("_", uow=bus.uow_factory(tom), now=clock.now())).total == 0
