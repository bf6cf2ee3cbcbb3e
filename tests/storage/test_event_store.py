"""The event store: versions and envelopes, optimistic concurrency, projection == replay, atomic rollback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Table, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import new_context, system_context
from psa_chatops.core import commands as c
from psa_chatops.core import events as ev
from psa_chatops.core import ticket_decisions as decide
from psa_chatops.core.errors import ConcurrencyError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.core.tickets import Ticket
from psa_chatops.core.tickets_state import Status, Visibility
from psa_chatops.handlers.actors import system_actor
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import CommandContext
from psa_chatops.handlers.tickets import sla_context
from psa_chatops.storage import directory_writer
from psa_chatops.storage import mappers as m
from psa_chatops.storage import tables as t
from psa_chatops.storage.outbox import idempotency_key
from psa_chatops.storage.repositories import FIRST_TICKET_NUMBER
from psa_chatops.storage.unit_of_work import SqlUnitOfWork
from tests.conftest import FrozenClock
from tests.storage.conftest import ContextFor

EVENTS = t.table_of(t.TicketEventRow)
TICKETS = t.table_of(t.TicketRow)
NOTES = t.table_of(t.TicketNoteRow)
OUTBOX = t.table_of(t.OutboxRow)
COUNTERS = t.table_of(t.CounterRow)
ALL_RULE = RoutingRule(0, "slack:C-ALL", frozenset(Category))


async def count(engine: AsyncEngine, table: Table, *where: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def event_rows(engine: AsyncEngine, number: int) -> list[Any]:
    async with engine.connect() as conn:
        stmt = select(EVENTS).where(EVENTS.c.aggregate_id == number).order_by(EVENTS.c.id)
        return list((await conn.execute(stmt)).all())


async def add_rule(engine: AsyncEngine, rule: RoutingRule, clock: FrozenClock) -> None:
    async with engine.begin() as conn:
        await directory_writer.add_routing_rule(conn, rule, created_by="test", now=clock.now())


async def test_append_stores_versions_one_to_n_with_the_envelope(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    tom = await context_for("tom")
    opened = await bus.handle(c.OpenTicket(title="VPN down", customer_id="CUST-789", assignee_id="tom"), tom)
    clock.advance(minutes=5)
    caused = CommandContext(actor=tom.actor, correlation_id="corr-note", causation_id="10000:3")
    await bus.handle(c.AddNote(number=opened.number, body="Looking into it"), caused)

    rows = await event_rows(db, opened.number)

    assert [(r.version, r.type) for r in rows] == [
        (1, "TicketOpened"),
        (2, "TicketAssigned"),
        (3, "TicketStatusChanged"),
        (4, "NoteAdded"),
    ]
    assert {r.actor for r in rows} == {"technician:tom"}
    assert [r.correlation_id for r in rows] == [tom.correlation_id] * 3 + ["corr-note"]
    assert [r.causation_id for r in rows] == [None, None, None, "10000:3"]
    assert [r.occurred_at for r in rows] == [rows[0].occurred_at] * 3 + [clock.now()]
    assert rows[3].recorded_at == clock.now()
    assert rows[3].payload["body"] == "Looking into it"


async def test_history_decodes_what_append_wrote(db: AsyncEngine, clock: FrozenClock) -> None:
    context = CommandContext(actor=system_actor("importer"), correlation_id="corr-1", causation_id="mail:42")
    async with SqlUnitOfWork(db, context, clock=clock) as uow:
        sla = await sla_context(uow, "CUST-789")
        number = await uow.tickets.next_number()
        opened = decide.open_ticket(
            c.OpenTicket(title="Disk full", customer_id="CUST-789", tags=("Disk",)),
            number=number,
            now=clock.now(),
            sla=sla,
        )
        ticket = await uow.tickets.append(None, opened)
        noted = decide.add_note(
            ticket, c.AddNote(number=number, body="df -h"), author_id="system:importer", now=clock.now()
        )
        ticket = await uow.tickets.append(ticket, noted)
        await uow.commit()

    async with SqlUnitOfWork(db, context, clock=clock) as uow:
        history = await uow.tickets.history(number)

    assert number == FIRST_TICKET_NUMBER
    assert ticket.version == 2
    assert [r.version for r in history] == [1, 2]
    assert [r.event for r in history] == [*opened, *noted]
    assert {(r.actor, r.correlation_id, r.causation_id) for r in history} == {("system:importer", "corr-1", "mail:42")}
    assert [r.event_id for r in history] == [f"{number}:1", f"{number}:2"]


async def test_append_with_a_stale_ticket_raises_concurrency_error(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    """SQLite serialises writers with BEGIN IMMEDIATE, so the race is staged: load, let another commit, append."""
    tom = await context_for("tom")
    number = (await bus.handle(c.OpenTicket(title="Mail", customer_id="CUST-789"), tom)).number
    async with SqlUnitOfWork(db, tom, clock=clock) as uow:
        stale = await uow.tickets.get(number)

    await bus.handle(c.AddNote(number=number, body="first writer"), tom)

    async with SqlUnitOfWork(db, tom, clock=clock) as uow:
        note = c.AddNote(number=number, body="second writer")
        events = decide.add_note(stale, note, author_id="x", now=clock.now())
        with pytest.raises(ConcurrencyError, match=rf"Ticket #{number} was changed by someone else"):
            await uow.tickets.append(stale, events)

    rows = await event_rows(db, number)
    assert [(r.version, r.type) for r in rows] == [(1, "TicketOpened"), (2, "NoteAdded")]
    assert rows[1].payload["body"] == "first writer"
    async with SqlUnitOfWork(db, tom, clock=clock) as uow:
        assert [n.body for n in (await uow.tickets.get(number)).notes] == ["first writer"]


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_two_concurrent_writers_at_the_same_version_exactly_one_wins(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    tom = await context_for("tom")
    number = (await bus.handle(c.OpenTicket(title="Mail", customer_id="CUST-789"), tom)).number
    both_loaded = asyncio.Barrier(2)

    async def writer(body: str) -> str:
        async with SqlUnitOfWork(db, tom, clock=clock) as uow:
            ticket = await uow.tickets.get(number)
            await both_loaded.wait()
            events = decide.add_note(ticket, c.AddNote(number=number, body=body), author_id="x", now=clock.now())
            await uow.tickets.append(ticket, events)
            await uow.commit()
        return body

    results = await asyncio.wait_for(asyncio.gather(writer("a"), writer("b"), return_exceptions=True), timeout=10)

    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert isinstance(losers[0], ConcurrencyError)
    rows = await event_rows(db, number)
    assert [r.version for r in rows] == [1, 2]
    assert rows[1].payload["body"] == winners[0]
    async with db.connect() as conn:
        projected = (await conn.execute(select(TICKETS.c.version).where(TICKETS.c.number == number))).scalar_one()
        notes = (await conn.execute(select(NOTES.c.body))).scalars().all()
    assert projected == 2
    assert notes == winners


async def test_bus_retries_a_conflicting_command_on_fresh_state(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    tom = await context_for("tom")
    number = (await bus.handle(c.OpenTicket(title="Mail", customer_id="CUST-789"), tom)).number

    views = await asyncio.gather(*(bus.handle(c.AddNote(number=number, body=f"note {i}"), tom) for i in range(4)))

    assert sorted(v.version for v in views) == [2, 3, 4, 5]
    async with SqlUnitOfWork(db, tom, clock=clock) as uow:
        ticket = await uow.tickets.get(number)
    assert [n.id for n in ticket.notes] == [1, 2, 3, 4]
    assert sorted(n.body for n in ticket.notes) == [f"note {i}" for i in range(4)]


async def test_projection_equals_the_replayed_history_after_many_commands(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    tom, dora = await context_for("tom"), await context_for("dora")
    number = (
        await bus.handle(
            c.OpenTicket(
                title="Printer jams",
                customer_id="CUST-789",
                description="Paper everywhere",
                contact_id="c-1",
                asset_id="WS-CLIENT-042",
                tags=("Printer", "floor-2"),
            ),
            tom,
        )
    ).number
    steps: list[tuple[float, c.Command, CommandContext]] = [
        (0.5, c.AssignTicket(number=number, assignee_id="tom"), dora),
        (0.2, c.ChangeStatus(number=number, status=Status.IN_PROGRESS), tom),
        (0.1, c.AddNote(number=number, body="Called Petra", visibility=Visibility.PUBLIC), tom),
        (0.1, c.AddNote(number=number, body="Toner is fine"), tom),
        (0.3, c.ChangePriority(number=number, priority=Priority.HIGH), dora),
        (0.2, c.ChangeStatus(number=number, status=Status.WAITING_CUSTOMER), tom),
        (20.0, c.ChangeStatus(number=number, status=Status.IN_PROGRESS), tom),
        (6.0, c.CheckSlaBreaches(now=clock.now()), new_context(system_actor("scheduler"))),  # resolution at 85 %
        (2.0, c.CheckSlaBreaches(now=clock.now()), new_context(system_actor("scheduler"))),  # breached
        (0.5, c.EscalateTicket(number=number, reason="VIP"), dora),
        (0.5, c.ChangeStatus(number=number, status=Status.RESOLVED, resolution="New drum"), tom),
        (1.0, c.ChangeStatus(number=number, status=Status.OPEN), tom),
        (0.5, c.CloseTicket(number=number, resolution="Replaced printer"), tom),
    ]
    for hours, command, context in steps:
        clock.advance(hours=hours)
        await bus.handle(command, context)

    async with SqlUnitOfWork(db, system_context("verify"), clock=clock) as uow:
        history = await uow.tickets.history(number)
        projected = await uow.tickets.get(number)
    replayed = Ticket.replay(r.event for r in history)

    types = [r.event.type for r in history]
    assert {"SlaPaused", "SlaResumed", "SlaWarningRaised", "SlaBreached", "TicketEscalated"} <= set(types)
    assert [r.version for r in history] == list(range(1, len(history) + 1))
    assert projected == replayed
    assert projected.version == len(history)
    assert projected.status is Status.CLOSED
    assert projected.resolution == "Replaced printer"
    async with db.connect() as conn:
        row = (await conn.execute(select(TICKETS).where(TICKETS.c.number == number))).one()
    expected = m.ticket_to_row(replayed)
    assert {column: getattr(row, column) for column in expected} == expected
    assert [(n.id, n.body, n.visibility) for n in projected.notes] == [
        (1, "Called Petra", Visibility.PUBLIC),
        (2, "Toner is fine", Visibility.INTERNAL),
    ]


async def test_exception_inside_the_unit_of_work_leaves_no_trace(db: AsyncEngine, clock: FrozenClock) -> None:
    await add_rule(db, ALL_RULE, clock)
    context = new_context(system_actor("test"))

    opened: list[SqlUnitOfWork] = []

    async def doomed() -> None:
        async with SqlUnitOfWork(db, context, clock=clock) as uow:
            opened.append(uow)
            sla = await sla_context(uow, "CUST-789")
            number = await uow.tickets.next_number()
            command = c.OpenTicket(title="Never happened", customer_id="CUST-789")
            opening = decide.open_ticket(command, number=number, now=clock.now(), sla=sla)
            ticket = await uow.tickets.append(None, opening)
            note = c.AddNote(number=number, body="nor this", visibility=Visibility.PUBLIC)
            await uow.tickets.append(ticket, decide.add_note(ticket, note, author_id="x", now=clock.now()))
            seen = (await uow.connection.execute(select(func.count()).select_from(EVENTS))).scalar_one()
            assert seen == 3  # the writes happened inside the transaction ...
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await doomed()

    for table in (EVENTS, TICKETS, NOTES, OUTBOX):  # ... and are all gone
        assert await count(db, table) == 0, table.name
    assert await count(db, COUNTERS, COUNTERS.c.name == "ticket_number") == 0
    assert opened[0].collected_events() == []


async def test_a_failing_outbox_write_rolls_back_the_state_change(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    """The outbox rows are written in the commit; if that fails the events and projection go too."""
    await add_rule(db, ALL_RULE, clock)
    tom = await context_for("tom")
    number = (await bus.handle(c.OpenTicket(title="Mail", customer_id="CUST-789"), tom)).number
    clashing_key = idempotency_key(f"{number}:2", ALL_RULE.destination)
    async with db.begin() as conn:  # a row already holding the key the next event's row will need
        await conn.execute(
            insert(OUTBOX).values(
                idempotency_key=clashing_key,
                destination="slack:other",
                event_type="NoteAdded",
                ticket_number=number,
                payload={},
                next_attempt_at=clock.now(),
                created_at=clock.now(),
            )
        )

    with pytest.raises(IntegrityError):
        await bus.handle(c.AddNote(number=number, body="lost"), tom)

    rows = await event_rows(db, number)
    assert [r.version for r in rows] == [1]
    assert await count(db, NOTES) == 0
    assert await count(db, OUTBOX) == 2  # the first event's row and the clashing one
    async with SqlUnitOfWork(db, tom, clock=clock) as uow:
        assert (await uow.tickets.get(number)).version == 1


async def test_ticket_numbers_count_up_from_the_first_number(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor
) -> None:
    tom = await context_for("tom")
    views = [await bus.handle(c.OpenTicket(title=f"T{i}", customer_id="CUST-789"), tom) for i in range(3)]
    assert [v.number for v in views] == [FIRST_TICKET_NUMBER, FIRST_TICKET_NUMBER + 1, FIRST_TICKET_NUMBER + 2]


def test_event_payload_codec_roundtrips(clock: FrozenClock) -> None:
    event = ev.SlaResumed(number=1, occurred_at=clock.now(), due_at={})
    assert ev.from_payload(event.type, number=1, occurred_at=clock.now(), payload=ev.to_payload(event)) == event


async def test_concurrent_first_tickets_get_distinct_numbers(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor
) -> None:
    """The very first tickets race to create the number counter; none may fail or share a number."""
    tom = await context_for("tom")

    views = await asyncio.gather(
        *(bus.handle(c.OpenTicket(title=f"T{i}", customer_id="CUST-789"), tom) for i in range(5))
    )

    assert sorted(v.number for v in views) == list(range(FIRST_TICKET_NUMBER, FIRST_TICKET_NUMBER + 5))
