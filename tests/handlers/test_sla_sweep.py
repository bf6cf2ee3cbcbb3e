"""The SLA sweep: thresholds are raised once, across repeated sweeps, restarts and racing sweeps; a breach
escalates in the same chain of cause and effect; waiting for the customer stops the clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import build_bus, new_context, system_context
from psa_chatops.core import commands as c
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import RoutingRule
from psa_chatops.core.tickets_state import Status
from psa_chatops.handlers import queries
from psa_chatops.handlers.actors import system_actor
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import CommandContext, RecordedEvent
from psa_chatops.handlers.views import SlaSweepView
from psa_chatops.storage import directory_writer
from psa_chatops.storage import tables as t
from psa_chatops.storage.unit_of_work import SqlUnitOfWork
from tests.conftest import FrozenClock
from tests.handlers.conftest import ContextFor

EVENTS = t.table_of(t.TicketEventRow)
OUTBOX = t.table_of(t.OutboxRow)
THRESHOLD_TYPES = ("SlaWarningRaised", "SlaBreached")


async def sweep(bus: MessageBus, clock: FrozenClock, context: CommandContext | None = None) -> SlaSweepView:
    view: SlaSweepView = await bus.handle(c.CheckSlaBreaches(now=clock.now()), context or system_context("scheduler"))
    return view


async def open_medium(bus: MessageBus, context: CommandContext, title: str = "VPN down") -> int:
    """Medium at ACME: first response due after 4 business hours (Monday 10:00 -> 14:00 in Berlin)."""
    return int((await bus.handle(c.OpenTicket(title=title, customer_id="CUST-789"), context)).number)


async def history(db: AsyncEngine, clock: FrozenClock, number: int) -> list[RecordedEvent]:
    async with SqlUnitOfWork(db, system_context("test"), clock=clock) as uow:
        return await uow.tickets.history(number)


async def thresholds(db: AsyncEngine) -> Counter[tuple[int, str, str, int | None]]:
    """(ticket, type, target, threshold) of every stored threshold event, counted."""
    async with db.connect() as conn:
        rows = (await conn.execute(select(EVENTS).where(EVENTS.c.type.in_(THRESHOLD_TYPES)))).all()
    return Counter((r.aggregate_id, r.type, r.payload["target"], r.payload.get("threshold")) for r in rows)


def once_each(*numbers: int) -> Counter[tuple[int, str, str, int | None]]:
    expected: Counter[tuple[int, str, str, int | None]] = Counter()
    for n in numbers:
        expected[(n, "SlaWarningRaised", "first_response", 75)] = 1
        expected[(n, "SlaWarningRaised", "first_response", 90)] = 1
        expected[(n, "SlaBreached", "first_response", None)] = 1
    return expected


async def test_each_threshold_is_raised_once_across_sweeps_and_a_restart(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    number = await open_medium(bus, await context_for("tom"))

    clock.advance(hours=2, minutes=59)  # 74.6 %
    assert await sweep(bus, clock) == SlaSweepView(checked=1, warnings=0, breaches=0)
    clock.advance(minutes=1)  # 75 %
    assert await sweep(bus, clock) == SlaSweepView(checked=1, warnings=1, breaches=0)
    assert await sweep(bus, clock) == SlaSweepView(checked=1, warnings=0, breaches=0)

    restarted = build_bus(db, clock)  # a new process on the same database remembers what was raised
    assert await sweep(restarted, clock) == SlaSweepView(checked=1, warnings=0, breaches=0)
    clock.advance(minutes=36)  # 90 %
    assert await sweep(restarted, clock) == SlaSweepView(checked=1, warnings=1, breaches=0)
    assert await sweep(bus, clock) == SlaSweepView(checked=1, warnings=0, breaches=0)
    clock.advance(minutes=24)  # 100 %
    assert await sweep(build_bus(db, clock), clock) == SlaSweepView(checked=1, warnings=0, breaches=1)
    clock.advance(minutes=30)
    for again in (bus, restarted, build_bus(db, clock)):
        assert await sweep(again, clock) == SlaSweepView(checked=1, warnings=0, breaches=0)

    assert await thresholds(db) == once_each(number)
    warnings = [r.event for r in await history(db, clock, number) if r.event.type == "SlaWarningRaised"]
    assert [(w.occurred_at, w.threshold) for w in warnings] == [  # type: ignore[attr-defined]
        (datetime(2026, 11, 23, 12, 0, tzinfo=UTC), 75),
        (datetime(2026, 11, 23, 12, 36, tzinfo=UTC), 90),
    ]


async def test_a_late_sweep_raises_only_the_breach(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    number = await open_medium(bus, await context_for("tom"))
    clock.advance(hours=5)

    assert await sweep(bus, clock) == SlaSweepView(checked=1, warnings=0, breaches=1)
    assert await sweep(bus, clock) == SlaSweepView(checked=1, warnings=0, breaches=0)
    assert await thresholds(db) == Counter({(number, "SlaBreached", "first_response", None): 1})


async def test_a_breach_escalates_in_the_same_correlation_caused_by_the_breach(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    dispatchers = RoutingRule(0, "email:dispatch@msp.example", frozenset(), dispatchers=True)
    async with db.begin() as conn:
        await directory_writer.add_routing_rule(conn, dispatchers, created_by="test", now=clock.now())
    number = await open_medium(bus, await context_for("tom"))
    clock.advance(hours=4)
    scheduler = new_context(system_actor("scheduler"), correlation_id="sweep-0042")

    assert await sweep(bus, clock, scheduler) == SlaSweepView(checked=1, warnings=0, breaches=1)

    records = await history(db, clock, number)
    (breach,) = [r for r in records if r.event.type == "SlaBreached"]
    (escalation,) = [r for r in records if r.event.type == "TicketEscalated"]
    assert (breach.actor, breach.correlation_id, breach.causation_id) == ("system:scheduler", "sweep-0042", None)
    assert escalation.causation_id == breach.event_id
    assert escalation.correlation_id == "sweep-0042"
    assert escalation.actor == "system:escalate_on_breach"
    assert escalation.version > breach.version
    assert (escalation.event.reason, escalation.event.level, escalation.event.to_priority) == (  # type: ignore[attr-defined]
        "sla_breach",
        1,
        Priority.HIGH,
    )
    async with db.connect() as conn:
        (paged,) = (await conn.execute(select(OUTBOX.c.payload))).scalars().all()
    assert (paged["type"], paged["causation_id"], paged["correlation_id"]) == (
        "TicketEscalated",
        breach.event_id,
        "sweep-0042",
    )

    clock.advance(hours=1)
    assert await sweep(bus, clock) == SlaSweepView(checked=1, warnings=0, breaches=0)
    assert [r.event.type for r in await history(db, clock, number)].count("TicketEscalated") == 1


async def test_without_escalation_rules_a_breach_only_records_the_breach(
    db: AsyncEngine, context_for: ContextFor, clock: FrozenClock
) -> None:
    bus = build_bus(db, clock, escalation_rules=())
    number = await open_medium(bus, await context_for("tom"))
    clock.advance(hours=4)

    await sweep(bus, clock)

    assert [r.event.type for r in await history(db, clock, number)] == ["TicketOpened", "SlaBreached"]


async def test_racing_sweeps_raise_each_threshold_exactly_once(
    db: AsyncEngine, context_for: ContextFor, clock: FrozenClock
) -> None:
    """Three schedulers (say, three replicas) sweep at the same moment; each threshold lands once."""
    buses = [build_bus(db, clock) for _ in range(3)]
    tom = await context_for("tom")
    tickets = [await open_medium(buses[0], tom, f"T{i}") for i in range(4)]

    for hours, warnings, breaches in ((3.0, 4, 0), (0.6, 4, 0), (0.4, 0, 4)):
        clock.advance(hours=hours)
        views = await asyncio.wait_for(asyncio.gather(*(sweep(b, clock) for b in buses)), timeout=30)
        assert sum(v.warnings for v in views) == warnings
        assert sum(v.breaches for v in views) == breaches

    assert await thresholds(db) == once_each(*tickets)
    for number in tickets:
        records = await history(db, clock, number)
        assert [r.version for r in records] == list(range(1, len(records) + 1))
        assert [r.event.type for r in records].count("TicketEscalated") == 1


async def test_waiting_for_the_customer_stops_the_clock(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    tom = await context_for("tom")
    number = await open_medium(bus, tom)
    clock.advance(hours=1)
    await bus.handle(c.ChangeStatus(number=number, status=Status.WAITING_CUSTOMER), tom)  # resolution: 1 of 16 h

    clock.advance(days=7)
    assert await sweep(bus, clock) == SlaSweepView(checked=0, warnings=0, breaches=0)
    explicit = await bus.handle(c.CheckSlaBreaches(now=clock.now(), numbers=(number,)), system_context("scheduler"))
    assert explicit == SlaSweepView(checked=1, warnings=0, breaches=0)
    assert await thresholds(db) == Counter()
    view = await queries.show_ticket(number, uow=bus.uow_factory(tom), now=clock.now())
    assert [(s.target, s.state) for s in view.sla] == [("first_response", "met"), ("resolution", "paused")]
    assert (await queries.sla_at_risk(uow=bus.uow_factory(tom), now=clock.now())).tickets == ()

    await bus.handle(c.ChangeStatus(number=number, status=Status.IN_PROGRESS), tom)  # Monday 11:00 in Berlin
    clock.advance(hours=25)  # 1 h before + 6 h Monday + 4 h Tuesday = 11 of 16 h
    assert await sweep(bus, clock) == SlaSweepView(checked=1, warnings=0, breaches=0)
    clock.advance(hours=1)  # 12 of 16 h
    assert await sweep(bus, clock) == SlaSweepView(checked=1, warnings=1, breaches=0)
    assert await thresholds(db) == Counter({(number, "SlaWarningRaised", "resolution", 75): 1})


async def test_the_sweep_skips_tickets_that_vanish_and_checks_only_running_ones(
    bus: MessageBus, context_for: ContextFor, clock: FrozenClock
) -> None:
    tom = await context_for("tom")
    running = await open_medium(bus, tom)
    resolved = await open_medium(bus, tom, "done")
    await bus.handle(c.ChangeStatus(number=resolved, status=Status.RESOLVED, resolution="ok"), tom)
    clock.advance(hours=3)

    assert await sweep(bus, clock) == SlaSweepView(checked=1, warnings=1, breaches=0)
    explicit = await bus.handle(
        c.CheckSlaBreaches(now=clock.now(), numbers=(999_999, resolved, running)), system_context("scheduler")
    )
    assert explicit == SlaSweepView(checked=3, warnings=0, breaches=0)
