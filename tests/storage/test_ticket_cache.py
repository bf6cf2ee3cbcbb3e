"""The committed-ticket cache: used on a busy ticket, never trusted once the row's version moved, never filled by a
rolled-back change. "Another process" is a second bus with its own caches (and, on SQLite, its own writer)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import build_bus
from psa_chatops.core import commands as c
from psa_chatops.core import ticket_decisions as decide
from psa_chatops.core.errors import InvalidError
from psa_chatops.core.tickets_state import Visibility
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.storage.repositories import FIRST_TICKET_NUMBER
from tests.conftest import ContextFor, FrozenClock


@pytest.fixture
def notes_reads() -> Iterator[list[str]]:
    """SQL statements that read ticket notes, from every engine (the SQLite writer has its own)."""
    seen: list[str] = []

    def listen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM ticket_notes" in statement:
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", listen)
    yield seen
    event.remove(Engine, "before_cursor_execute", listen)


async def test_a_busy_ticket_is_not_read_again(
    bus: MessageBus, context_for: ContextFor, notes_reads: list[str]
) -> None:
    tom = await context_for("tom")
    number = (await bus.handle(c.OpenTicket(title="Printer", customer_id="CUST-789"), tom)).number
    notes_reads.clear()
    for i in range(3):
        view = await bus.handle(c.AddNote(number=number, body=f"step {i}"), tom)
    assert [n.body for n in view.notes][-3:] == ["step 0", "step 1", "step 2"]
    assert notes_reads == []


async def test_a_write_by_another_process_is_seen(
    bus: MessageBus, db: AsyncEngine, clock: FrozenClock, context_for: ContextFor
) -> None:
    tom = await context_for("tom")
    other = build_bus(db, clock)
    number = (await bus.handle(c.OpenTicket(title="VPN", customer_id="CUST-789"), tom)).number
    await bus.handle(c.AddNote(number=number, body="ours"), tom)
    await other.handle(c.AddNote(number=number, body="theirs"), tom)
    view = await bus.handle(c.AddNote(number=number, body="ours again"), tom)
    assert [n.body for n in view.notes] == ["ours", "theirs", "ours again"]
    assert [n.id for n in view.notes] == [1, 2, 3]


async def test_a_rolled_back_change_is_never_served(
    bus: MessageBus, db: AsyncEngine, clock: FrozenClock, context_for: ContextFor
) -> None:
    tom = await context_for("tom")
    number = (await bus.handle(c.OpenTicket(title="Mail", customer_id="CUST-789"), tom)).number

    async def append_then_roll_back() -> None:
        async with bus.uow_factory(tom) as uow:
            ticket = await uow.tickets.get(number)
            note = c.AddNote(number=number, body="never happened", visibility=Visibility.INTERNAL)
            await uow.tickets.append(ticket, decide.add_note(ticket, note, author_id="tom", now=clock.now()))
            await uow.rollback()

    await bus.runner(append_then_roll_back)
    # Another process appends at the very version the rolled-back change had used.
    await build_bus(db, clock).handle(c.AddNote(number=number, body="real"), tom)
    view = await bus.handle(c.AddNote(number=number, body="after"), tom)
    assert [n.body for n in view.notes] == ["real", "after"]


async def test_a_failing_command_alone_leaves_nothing(bus: MessageBus, context_for: ContextFor) -> None:
    """A unit of work that is its writer group's only member has no savepoint: its rollback must still undo its
    writes (here: the ticket number it drew before the title check failed)."""
    tom = await context_for("tom")
    assert (await bus.handle(c.OpenTicket(title="first", customer_id="CUST-789"), tom)).number == FIRST_TICKET_NUMBER
    with pytest.raises(InvalidError):
        await bus.handle(c.OpenTicket(title="   ", customer_id="CUST-789"), tom)
    second = await bus.handle(c.OpenTicket(title="second", customer_id="CUST-789"), tom)
    assert second.number == FIRST_TICKET_NUMBER + 1
