"""Test helpers shared by the Slack and Teams notifier tests (one copy, as the notifiers share their threading)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import actor_for, build_bus, new_context
from psa_chatops.bot.settings import Settings
from psa_chatops.bot.worker import Dispatcher
from psa_chatops.bot.worker_process import run_worker
from psa_chatops.core import commands as c
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.core.tickets_state import Status
from psa_chatops.handlers.ports import Delivery, Notifier
from psa_chatops.integrations.recorder import NotifierRegistry
from psa_chatops.integrations.resilience import BreakerBoard, BreakerPolicy, RetryPolicy
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.migrations import upgrade
from psa_chatops.storage.outbox import OutboxStore
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.unit_of_work import SystemClock
from tests.conftest import FrozenClock
from tests.fixtures_directory import seed_directory
from tests.integrations.slack_support import HelpDesk, VirtualTime, eventually


class ThreadedNotifier(Protocol):
    async def deliver(self, delivery: Delivery) -> None: ...

    async def wait_idle(self) -> None: ...

    async def close(self, *, grace: float = 0.0) -> None: ...


N = TypeVar("N", bound=ThreadedNotifier)


def version_of(delivery: Delivery) -> int:
    return int(delivery.payload["ticket"]["version"])


def make_dispatcher(
    kind: str,
    engine: AsyncEngine,
    notifier: Notifier,
    clock: FrozenClock,
    vt: VirtualTime,
    writer: SqliteWriter | None = None,
) -> Dispatcher:
    """The real dispatcher on virtual time, with a breaker that opens after two failures."""
    return Dispatcher(
        store=OutboxStore(engine, writer=writer),
        notifiers=NotifierRegistry({kind: notifier}),
        clock=clock,
        breakers=BreakerBoard(BreakerPolicy(failure_threshold=2, reset_timeout=30.0), now=vt.now),
        policy=RetryPolicy(base_seconds=1.0, cap_seconds=10.0, max_attempts=8),
        rng=random.Random(7),
    )


async def deliver_all(vt: VirtualTime, notifier: ThreadedNotifier, deliveries: list[Delivery]) -> None:
    for delivery in deliveries:
        await vt.run(notifier.deliver(delivery))
    await vt.run(notifier.wait_idle())


@contextlib.asynccontextmanager
async def notifier_factory(build: Callable[..., N], **defaults: Any) -> AsyncIterator[Callable[..., N]]:
    """``make(**options)`` builds notifiers with ``defaults`` overridden by ``options``; all are closed after."""
    made: list[N] = []

    def make(**options: Any) -> N:
        notifier = build(**{**defaults, **options})
        made.append(notifier)
        return notifier

    yield make
    for notifier in made:
        await notifier.close()


async def two_tickets(desk: HelpDesk) -> tuple[int, int]:
    """A printer ticket in progress and a mail ticket opened, for the outage tests."""
    printer = await desk.open("Printer on fire")
    await desk.status(printer, Status.OPEN, Status.IN_PROGRESS)
    mail = await desk.open("Mail bounces")
    await desk.status(mail, Status.OPEN)
    return printer, mail


async def through_outage(dispatcher: Dispatcher, clock: FrozenClock, vt: VirtualTime) -> None:
    """Three dispatcher passes a minute apart (while the fake fails)."""
    for _ in range(3):
        await vt.run(dispatcher.run_once())
        clock.advance(seconds=60)
        vt.advance(60)


async def after_recovery(
    dispatcher: Dispatcher, notifier: ThreadedNotifier, clock: FrozenClock, vt: VirtualTime
) -> None:
    """Thirty dispatcher passes two minutes apart (after the fake recovered), then the pending root edits."""
    for _ in range(30):
        clock.advance(seconds=120)
        vt.advance(120)
        await vt.run(dispatcher.run_once())
    await vt.run(notifier.wait_idle())


async def statuses_of(desk: HelpDesk) -> set[str]:
    return {status for _, status, _, _ in await desk.statuses()}


async def worker_database(
    tmp_path: Path, destination: str, seed: Callable[[AsyncEngine], Awaitable[None]] | None = None
) -> str:
    """A migrated SQLite file whose outbox holds a ticket opened and moved to OPEN, routed to ``destination``."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}"
    engine = await asyncio.to_thread(create_engine, url)
    await upgrade(engine)
    await seed_directory(engine, rules=(RoutingRule(0, destination, frozenset(Category)),))
    if seed is not None:
        await seed(engine)
    clock = SystemClock()
    tom = new_context(await actor_for(engine, clock, channel="test", external_id="tom"))
    bus = build_bus(engine, clock)
    ticket = await bus.handle(c.OpenTicket(title="Printer", customer_id="CUST-789"), tom)
    await bus.handle(c.ChangeStatus(number=ticket.number, status=Status.OPEN), tom)
    await engine.dispose()
    return url


async def run_worker_until(settings: Settings, done: Callable[[], bool]) -> None:
    """``psa worker`` until ``done()``, then a clean stop (its shutdown grace included)."""
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop))
    try:
        await eventually(done, within=10)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)
    assert worker.exception() is None
