"""The SQLite writer thread and the versioned directory cache."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import actor_for, build_bus, new_context
from psa_chatops.core import commands as c
from psa_chatops.core.directory import Customer
from psa_chatops.core.errors import InvalidError
from psa_chatops.storage import directory_writer as w
from psa_chatops.storage.sqlite_writer import SqliteWriter, drive
from tests.conftest import FrozenClock
from tests.fixtures_directory import BERLIN, seed_directory


def sqlite_url(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=False)


async def test_units_of_work_run_on_one_thread_off_the_event_loop(sqlite_engine: AsyncEngine) -> None:
    writer = SqliteWriter(sqlite_url(sqlite_engine))
    try:
        seen: set[int] = set()

        async def probe() -> int:
            seen.add(threading.get_ident())
            return 42

        results = await asyncio.gather(*(writer.run(probe) for _ in range(20)))
        assert results == [42] * 20
        assert len(seen) == 1
        assert threading.get_ident() not in seen
    finally:
        await asyncio.to_thread(writer.close)


def test_drive_refuses_a_coroutine_that_suspends() -> None:
    async def suspends() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited real I/O"):
        drive(suspends)


async def test_reads_from_the_event_loop_hop_to_the_writer(sqlite_engine: AsyncEngine, clock: FrozenClock) -> None:
    await seed_directory(sqlite_engine)
    bus = build_bus(sqlite_engine, clock)
    tom = new_context(await actor_for(sqlite_engine, clock, channel="test", external_id="tom"))
    number = (await bus.handle(c.OpenTicket(title="Printer", customer_id="CUST-789"), tom)).number
    async with bus.uow_factory(tom) as uow:  # opened on the event loop: each statement hops, rows come back buffered
        ticket = await uow.tickets.get(number)
    assert ticket.title == "Printer"


async def test_directory_cache_sees_writes_from_another_connection(
    sqlite_engine: AsyncEngine, clock: FrozenClock
) -> None:
    await seed_directory(sqlite_engine)
    bus = build_bus(sqlite_engine, clock)
    tom = new_context(await actor_for(sqlite_engine, clock, channel="test", external_id="tom"))
    first = await bus.handle(c.OpenTicket(title="A", customer_id="CUST-789"), tom)
    assert first.customer_name == "Müller Maschinenbau GmbH"
    async with sqlite_engine.begin() as conn:  # another "process" renames the customer and bumps the version
        await conn.execute(text("UPDATE customers SET name = 'Müller AG' WHERE id = 'CUST-789'"))
        await w.bump_version(conn)
    second = await bus.handle(c.OpenTicket(title="B", customer_id="CUST-789"), tom)
    assert second.customer_name == "Müller AG"


async def test_directory_writes_bump_the_version(sqlite_engine: AsyncEngine) -> None:
    async def version() -> int:
        async with sqlite_engine.connect() as conn:
            return int(
                (await conn.execute(text("SELECT value FROM counters WHERE name = 'directory_version'"))).scalar() or 0
            )

    await seed_directory(sqlite_engine)
    before = await version()
    async with sqlite_engine.begin() as conn:
        await w.add_customers(conn, [Customer("CUST-NEW", "Neu GmbH", ("neu.de",), BERLIN, "standard", "de")])
    assert await version() > before


async def test_concurrent_commands_queue_on_the_writer_and_all_commit(
    sqlite_engine: AsyncEngine, clock: FrozenClock
) -> None:
    await seed_directory(sqlite_engine)
    bus = build_bus(sqlite_engine, clock)
    tom = new_context(await actor_for(sqlite_engine, clock, channel="test", external_id="tom"))
    opened = await asyncio.gather(
        *(bus.handle(c.OpenTicket(title=f"T{i}", customer_id="CUST-789"), tom) for i in range(30))
    )
    assert len({v.number for v in opened}) == 30
    async with sqlite_engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM ticket_events"))).scalar() == 30


async def test_a_failing_unit_in_a_group_fails_alone(sqlite_engine: AsyncEngine, clock: FrozenClock) -> None:
    await seed_directory(sqlite_engine)
    bus = build_bus(sqlite_engine, clock)
    tom = new_context(await actor_for(sqlite_engine, clock, channel="test", external_id="tom"))
    commands = [c.OpenTicket(title=f"T{i}" if i != 5 else "  ", customer_id="CUST-789") for i in range(12)]
    results = await asyncio.gather(*(bus.handle(cmd, tom) for cmd in commands), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1
    assert isinstance(failures[0], InvalidError)
    async with sqlite_engine.connect() as conn:
        titles = set((await conn.execute(text("SELECT title FROM tickets"))).scalars())
    assert titles == {f"T{i}" for i in range(12) if i != 5}
