"""Helpers for the Slack notification tests: a virtual clock, a seeded help desk that writes real outbox rows,
and checks that every Block Kit payload the fake Slack received is valid."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_sdk.models.blocks import Block
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import actor_for, build_bus, new_context
from psa_chatops.core import commands as c
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.core.tickets_state import Status, Visibility
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import CommandContext, Delivery
from psa_chatops.storage import tables as t
from psa_chatops.storage.sqlite_writer import SqliteWriter
from tests.conftest import FrozenClock
from tests.fakes.slack_api import SlackState
from tests.fixtures_directory import seed_directory

T = TypeVar("T")
OUTBOX = t.table_of(t.OutboxRow)
TEAM_CHANNEL = "slack:C0123"
OTHER_CHANNEL = "slack:C0999"
CONNECT_CHANNEL = "slack:CX0456"  # the fake reports channels starting with CX as shared (Slack Connect)
EVERYTHING = frozenset(Category)


class VirtualTime:
    """Monotonic seconds that move only when told, and a ``sleep`` that waits for them to move."""

    def __init__(self, start: float = 1000.0) -> None:
        self.value = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._slept = asyncio.Event()

    def now(self) -> float:
        return self.value

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.value + seconds, next(self._order), future))
        self._slept.set()
        await future

    @property
    def sleeping(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def advance(self, seconds: float) -> None:
        self.value += seconds
        while self._sleepers and self._sleepers[0][0] <= self.value:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def advance_to_next(self) -> bool:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        if not self._sleepers:
            return False
        self.advance(max(0.0, self._sleepers[0][0] - self.value))
        return True

    async def run(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``; whenever something sleeps, jump to its deadline (sleeps take no real time)."""
        task = asyncio.ensure_future(awaitable)
        while not task.done():
            if self.advance_to_next():
                await asyncio.sleep(0)
                continue
            self._slept.clear()
            waiter = asyncio.ensure_future(self._slept.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
        return task.result()


async def eventually(predicate: Callable[[], bool], *, within: float = 5.0) -> None:
    """Wait (real time) until ``predicate()`` holds: for loopback I/O that the virtual clock does not drive."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polls state that changes on HTTP answers, no event to wait for
            await asyncio.sleep(0.005)


@dataclass
class HelpDesk:
    """The real bus on a seeded directory: each command writes its events and outbox rows."""

    engine: AsyncEngine
    bus: MessageBus
    tom: CommandContext

    async def open(self, title: str = "VPN down in the Hamburg office") -> int:
        ticket = await self.bus.handle(c.OpenTicket(title=title, customer_id="CUST-789"), self.tom)
        return int(ticket.number)

    async def status(self, number: int, *statuses: Status) -> None:
        for status in statuses:
            await self.bus.handle(c.ChangeStatus(number=number, status=status), self.tom)

    async def note(self, number: int, body: str, visibility: Visibility) -> None:
        await self.bus.handle(c.AddNote(number=number, body=body, visibility=visibility), self.tom)

    async def assign(self, number: int, assignee_id: str) -> None:
        await self.bus.handle(c.AssignTicket(number=number, assignee_id=assignee_id), self.tom)

    async def deliveries(self, destination: str | None = None) -> list[Delivery]:
        """Every outbox row (optionally for one destination) as the dispatcher would hand it over, oldest first."""
        stmt = select(OUTBOX).order_by(OUTBOX.c.id)
        if destination is not None:
            stmt = stmt.where(OUTBOX.c.destination == destination)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [Delivery(r.id, r.idempotency_key, r.destination, r.event_type, r.payload, r.attempts) for r in rows]

    async def statuses(self) -> list[tuple[str, str, int, str | None]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(OUTBOX).order_by(OUTBOX.c.id))).all()
        return [(r.event_type, r.status, r.attempts, r.last_error) for r in rows]


async def help_desk(
    engine: AsyncEngine, clock: FrozenClock, *destinations: str, writer: SqliteWriter | None = None
) -> HelpDesk:
    rules = tuple(RoutingRule(0, d, EVERYTHING) for d in destinations)
    await seed_directory(engine, rules=rules)
    tom = new_context(await actor_for(engine, clock, channel="test", external_id="tom"))
    return HelpDesk(engine, build_bus(engine, clock, writer=writer), tom)


def assert_valid_blocks(blocks: list[dict[str, Any]]) -> None:
    assert blocks, "a notification without blocks"
    for raw in blocks:
        parsed = Block.parse(raw)
        assert parsed is not None, f"not a Block Kit block: {raw}"
        parsed.validate_json()


def assert_every_payload_valid(state: SlackState) -> None:
    for call in state.calls:
        if call.method in ("chat.postMessage", "chat.update", "incoming-webhook"):
            assert_valid_blocks(call.blocks())
