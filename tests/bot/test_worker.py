"""The outbox dispatcher end to end: real database, real webhook notifier, a loopback sink that fails on demand."""

from __future__ import annotations

import random
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import actor_for, build_bus, new_context
from psa_chatops.bot.worker import Dispatcher
from psa_chatops.core import commands as c
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.core.ticket_decisions import open_ticket
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import CommandContext
from psa_chatops.handlers.tickets import sla_context
from psa_chatops.integrations.recorder import NotifierRegistry
from psa_chatops.integrations.resilience import BreakerBoard, BreakerPolicy, RetryPolicy
from psa_chatops.integrations.webhooks import WebhookNotifier
from psa_chatops.storage import tables as t
from psa_chatops.storage.outbox import OutboxStore
from tests.bot.conftest import Monotonic
from tests.conftest import FrozenClock
from tests.fakes.sink import RunningSink
from tests.fixtures_directory import seed_directory

OUTBOX = t.table_of(t.OutboxRow)


def make_dispatcher(
    engine: AsyncEngine,
    session: aiohttp.ClientSession,
    clock: FrozenClock,
    mono: Monotonic,
    *,
    sandbox: bool = False,
    max_attempts: int = 8,
) -> Dispatcher:
    webhook = WebhookNotifier(session, timeout=2.0, user_agent="psa-test")
    return Dispatcher(
        store=OutboxStore(engine),
        notifiers=NotifierRegistry({"webhook": webhook}, sandbox_enabled=sandbox),
        clock=clock,
        breakers=BreakerBoard(BreakerPolicy(failure_threshold=2, reset_timeout=30.0), now=mono),
        policy=RetryPolicy(base_seconds=1.0, cap_seconds=10.0, max_attempts=max_attempts),
        rng=random.Random(7),
    )


async def open_tickets(engine: AsyncEngine, clock: FrozenClock, sink: RunningSink, n: int) -> list[int]:
    rule = RoutingRule(0, sink.destination(), frozenset({Category.NEW}))
    await seed_directory(engine, rules=(rule,))
    bus = build_bus(engine, clock)
    tom = new_context(await actor_for(engine, clock, channel="test", external_id="tom"))
    return [(await bus.handle(c.OpenTicket(title=f"T{i}", customer_id="CUST-789"), tom)).number for i in range(n)]


async def rows(engine: AsyncEngine) -> list[tuple[str, int]]:
    async with engine.connect() as conn:
        return [(r.status, r.attempts) for r in (await conn.execute(select(OUTBOX).order_by(OUTBOX.c.id))).all()]


async def test_committed_rows_are_delivered_once_with_idempotency_keys(
    engine: AsyncEngine,
    clock: FrozenClock,
    sink: RunningSink,
    http_session: aiohttp.ClientSession,
    monotonic: Monotonic,
) -> None:
    await open_tickets(engine, clock, sink, 3)
    dispatcher = make_dispatcher(engine, http_session, clock, monotonic)
    assert await dispatcher.drain() == 3
    assert await rows(engine) == [("delivered", 1)] * 3
    assert len(sink.state.unique_keys()) == 3
    assert sink.state.duplicates() == {}
    assert {r.json()["type"] for r in sink.state.requests} == {"TicketOpened"}


async def test_crash_after_commit_is_delivered_by_the_next_process(
    engine: AsyncEngine,
    clock: FrozenClock,
    sink: RunningSink,
    http_session: aiohttp.ClientSession,
    monotonic: Monotonic,
) -> None:
    await open_tickets(engine, clock, sink, 2)
    crashed = make_dispatcher(engine, http_session, clock, monotonic)
    claimed = await crashed.store.claim(now=clock.now(), limit=10, lease=timedelta(seconds=60))
    assert len(claimed) == 2  # ... and the process dies before delivering or settling
    restarted = make_dispatcher(engine, http_session, clock, monotonic)
    assert await restarted.drain() == 0  # the lease still holds
    clock.advance(seconds=61)
    assert await restarted.drain() == 2
    assert await rows(engine) == [("delivered", 1)] * 2


async def test_rollback_delivers_nothing(
    engine: AsyncEngine,
    clock: FrozenClock,
    sink: RunningSink,
    http_session: aiohttp.ClientSession,
    monotonic: Monotonic,
) -> None:
    await open_tickets(engine, clock, sink, 0)
    bus = build_bus(engine, clock)
    tom = new_context(await actor_for(engine, clock, channel="test", external_id="tom"))
    with pytest.raises(RuntimeError, match="boom"):
        await _open_then_crash(bus, tom, clock)
    assert await make_dispatcher(engine, http_session, clock, monotonic).drain() == 0
    assert await rows(engine) == []
    assert sink.state.requests == []


async def _open_then_crash(bus: MessageBus, context: CommandContext, clock: FrozenClock) -> None:
    async with bus.uow_factory(context) as uow:
        number = await uow.tickets.next_number()
        command = c.OpenTicket(title="never", customer_id="CUST-789")
        events = open_ticket(command, number=number, now=clock.now(), sla=await sla_context(uow, "CUST-789"))
        await uow.tickets.append(None, events)
        raise RuntimeError("boom")


async def test_failing_sink_backs_off_opens_the_breaker_and_recovers(
    engine: AsyncEngine,
    clock: FrozenClock,
    sink: RunningSink,
    http_session: aiohttp.ClientSession,
    monotonic: Monotonic,
) -> None:
    await open_tickets(engine, clock, sink, 3)
    dispatcher = make_dispatcher(engine, http_session, clock, monotonic)
    sink.state.fail_next(4, status=503)  # three first attempts, then the half-open probe

    assert await dispatcher.run_once() == 3
    assert await rows(engine) == [("pending", 1)] * 3
    assert dispatcher.breakers.state(sink.destination()) == "open"
    assert await dispatcher.run_once() == 0  # backoff: nothing is due yet

    clock.advance(seconds=60)
    monotonic.advance(timedelta(seconds=31))
    assert await dispatcher.run_once() == 3  # one half-open probe (fails), two deferred
    assert sorted(await rows(engine)) == [("pending", 1), ("pending", 1), ("pending", 2)]
    assert dispatcher.stats.deferred == 2
    assert len(sink.state.requests) == 4

    for _ in range(10):  # the sink is healthy again; a bounded number of rounds lets everything through
        clock.advance(seconds=120)
        monotonic.advance(timedelta(seconds=120))
        await dispatcher.run_once()
    assert [s for s, _ in await rows(engine)] == ["delivered"] * 3
    assert dispatcher.breakers.state(sink.destination()) == "closed"
    assert len(sink.state.unique_keys()) == 3


async def test_retry_after_is_honoured(
    engine: AsyncEngine,
    clock: FrozenClock,
    sink: RunningSink,
    http_session: aiohttp.ClientSession,
    monotonic: Monotonic,
) -> None:
    await open_tickets(engine, clock, sink, 1)
    dispatcher = make_dispatcher(engine, http_session, clock, monotonic)
    sink.state.fail_next(1, status=429, retry_after=120)
    await dispatcher.run_once()
    async with engine.connect() as conn:
        due = (await conn.execute(select(OUTBOX.c.next_attempt_at))).scalar_one()
    assert due >= clock.now() + timedelta(seconds=120)
    clock.advance(seconds=119)
    assert await dispatcher.run_once() == 0
    clock.advance(seconds=2)
    assert await dispatcher.run_once() == 1


async def test_dead_letter_after_max_attempts_then_replay(
    engine: AsyncEngine,
    clock: FrozenClock,
    sink: RunningSink,
    http_session: aiohttp.ClientSession,
    monotonic: Monotonic,
) -> None:
    await open_tickets(engine, clock, sink, 1)
    dispatcher = make_dispatcher(engine, http_session, clock, monotonic, max_attempts=3)
    dispatcher.breakers = BreakerBoard(BreakerPolicy(failure_threshold=100), now=monotonic)
    sink.state.fail_next(3, status=500)
    for _ in range(3):
        await dispatcher.run_once()
        clock.advance(seconds=60)
    assert await rows(engine) == [("dead", 3)]
    sink.state.fail_next(1, status=404)  # a permanent error dead-letters at once, too
    assert await dispatcher.store.replay(dead=True, now=clock.now()) == 1
    await dispatcher.run_once()
    assert await rows(engine) == [("dead", 1)]
    assert await dispatcher.store.replay(dead=True, now=clock.now()) == 1
    await dispatcher.run_once()
    assert await rows(engine) == [("delivered", 1)]
    assert len(sink.state.unique_keys()) == 1  # every attempt and replay carried the same key


async def test_sandbox_records_and_sends_nothing(
    engine: AsyncEngine,
    clock: FrozenClock,
    sink: RunningSink,
    http_session: aiohttp.ClientSession,
    monotonic: Monotonic,
) -> None:
    await open_tickets(engine, clock, sink, 2)
    dispatcher = make_dispatcher(engine, http_session, clock, monotonic, sandbox=True)
    assert await dispatcher.drain() == 2
    assert await rows(engine) == [("recorded", 1)] * 2
    assert sink.state.requests == []
    assert len(dispatcher.notifiers.recorder.deliveries()) == 2
