"""Shared pieces of the benchmarks: databases (SQLite temp file, local PostgreSQL), the seeded directory, the
ticket-command workload, the bare-storage floor and small statistics helpers.

Everything here drives the real code paths (``build_bus``, ``SqlUnitOfWork``, ``OutboxStore``); only the floor
measurement uses a private ``bench_floor`` table.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot import demo_data as d
from psa_chatops.bot.bootstrap import new_context
from psa_chatops.bot.demo import SANDBOX_CHANNEL, seed_directory
from psa_chatops.core import commands as c
from psa_chatops.core.directory import Asset, Contact, Customer
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.core.tickets_state import Source, Status, Visibility
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import Actor, CommandContext
from psa_chatops.storage import directory_writer as w
from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.migrations import upgrade

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_DSN = os.environ.get("PSA_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "psa_bench"
WORKERS = ("t-jan", "t-mia", "t-tom", "t-noah")  # technicians without a customer scope
DISPATCHER = "t-dispatch"
# No CRITICAL: a critical ticket triggers an escalation reaction, i.e. a second transaction for one command.
OPEN_PRIORITIES = ((Priority.HIGH, 20), (Priority.MEDIUM, 50), (Priority.LOW, 30))
FLOOR = Table(
    "bench_floor",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("payload", String(2000), nullable=False),
)


# --- databases -----------------------------------------------------------------------------------------------------


def sqlite_url(directory: Path, name: str = "psa.db") -> str:
    return f"sqlite+aiosqlite:///{directory / name}"


async def reset_pg_database(name: str = PG_BENCH_DB) -> tuple[str | None, str]:
    """(url, "") for a freshly created database, or (None, reason) when PostgreSQL is not reachable."""
    try:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return None, f"PostgreSQL not reachable at {PG_ADMIN_DSN}: {type(exc).__name__}: {exc}"
    try:
        await _drop(admin, name)
        await admin.execute(f'CREATE DATABASE "{name}"')
        version = await admin.fetchval("SHOW server_version")
    finally:
        await admin.close()
    base = PG_ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0]
    return f"{base}/{name}", str(version)


async def drop_pg_database(name: str = PG_BENCH_DB) -> None:
    try:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return
    try:
        await _drop(admin, name)
    finally:
        await admin.close()


async def _drop(admin: asyncpg.Connection, name: str) -> None:
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name
    )
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


@dataclass
class Directory:
    customers: list[Customer]
    contacts: list[Contact]
    assets: list[Asset]


def webhook_rule(url: str) -> RoutingRule:
    """A routing rule that sends every ticket event category to one webhook."""
    return RoutingRule(0, f"webhook:{url}", frozenset(Category))


async def prepare_database(url: str, *, rules: Sequence[RoutingRule] | None = None) -> tuple[AsyncEngine, Directory]:
    """Migrate and seed the demo directory. ``rules=None`` keeps the four demo routing rules; otherwise the demo
    rules are disabled and ``rules`` are the only enabled ones."""
    engine = create_engine(url)
    await upgrade(engine)
    now = datetime.now(UTC)
    seeded = await seed_directory(engine, now, random.Random(d.SEED))
    if rules is not None:
        table = t.table_of(t.RoutingRuleRow)
        async with engine.begin() as conn:
            await conn.execute(update(table).values(enabled=False))
            for rule in rules:
                await w.add_routing_rule(conn, rule, created_by="bench", now=now)
    directory = Directory(
        customers=seeded["customers"],  # type: ignore[arg-type]
        contacts=seeded["contacts"],  # type: ignore[arg-type]
        assets=seeded["assets"],  # type: ignore[arg-type]
    )
    return engine, directory


async def count_rows(engine: AsyncEngine, model: type[Any]) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(t.table_of(model)))).scalar_one())


# --- the command workload ------------------------------------------------------------------------------------------


def tech_context(tech_id: str) -> CommandContext:
    tech = next(x for x in d.TECHNICIANS if x.id == tech_id)
    return new_context(Actor(channel=SANDBOX_CHANNEL, external_id=tech.id, technician=tech, locale=tech.locale))


@dataclass
class TicketState:
    number: int
    status: str
    assignee_id: str | None
    notes: int = 0


@dataclass
class Workload:
    """Deterministic command generator: OpenTicket, then a mix of AddNote (50 %), ChangeStatus (25 %) and
    AssignTicket (25 %) between open states, so every command is valid and each one is exactly one bus call."""

    directory: Directory
    rng: random.Random
    contexts: dict[str, CommandContext] = field(default_factory=dict)

    def context(self, tech_id: str) -> CommandContext:
        if tech_id not in self.contexts:
            self.contexts[tech_id] = tech_context(tech_id)
        return self.contexts[tech_id]

    def open_command(self, marker: str = "") -> c.OpenTicket:
        rng = self.rng
        customer = rng.choice(self.directory.customers)
        contact = rng.choice([p for p in self.directory.contacts if p.customer_id == customer.id])
        assets = [a for a in self.directory.assets if a.customer_id == customer.id]
        asset = rng.choice(assets) if assets else None
        title = rng.choice(d.TICKET_TITLES)[1].format(asset=asset.name if asset else "SRV-01")
        priority = rng.choices([p for p, _ in OPEN_PRIORITIES], [x for _, x in OPEN_PRIORITIES])[0]
        return c.OpenTicket(
            title=f"{title} {marker}".strip(),
            customer_id=customer.id,
            priority=priority,
            contact_id=contact.id,
            asset_id=asset.id if asset else None,
            description=f"{title}.\n\nReported by {contact.name} via the benchmark.",
            source=Source.API,
            tags=("bench",),
        )

    def next_command(self, ticket: TicketState) -> tuple[c.Command, str]:
        """A valid command for ``ticket`` and the technician who runs it."""
        roll = self.rng.random()
        actor = ticket.assignee_id or DISPATCHER
        if roll < 0.5:
            visibility = Visibility.PUBLIC if ticket.notes % 2 == 0 else Visibility.INTERNAL
            body = f"Update {ticket.notes + 1}: checked the event log, rebooted the service and watched it for a while."
            return c.AddNote(number=ticket.number, body=body, visibility=visibility), actor
        if roll < 0.75:
            choices = [
                s for s in (Status.OPEN, Status.IN_PROGRESS, Status.WAITING_CUSTOMER) if s.value != ticket.status
            ]
            return c.ChangeStatus(number=ticket.number, status=self.rng.choice(choices)), actor
        assignee = self.rng.choice([x for x in WORKERS if x != ticket.assignee_id])
        return c.AssignTicket(number=ticket.number, assignee_id=assignee), DISPATCHER


def track(ticket: TicketState, command: c.Command, view: Any) -> None:
    ticket.status, ticket.assignee_id = view.status, view.assignee_id
    if isinstance(command, c.AddNote):
        ticket.notes += 1


@dataclass
class Timing:
    """Wall time of a phase and the latency of each operation in it, in seconds."""

    count: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, float]:
        return {
            "count": self.count,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.rate, 1),
            "p50_ms": round(percentile(self.latencies, 50) * 1000, 2),
            "p95_ms": round(percentile(self.latencies, 95) * 1000, 2),
            "p99_ms": round(percentile(self.latencies, 99) * 1000, 2),
        }


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def run_workload(
    bus: MessageBus, workload: Workload, *, tickets: int, total: int, concurrency: int, deadline: float
) -> Timing:
    """Open ``tickets`` tickets, then run commands until ``total`` bus calls were made, on ``concurrency`` tasks
    that each own their own tickets (no optimistic-concurrency retries by construction)."""
    timing = Timing()
    shares = [tickets // concurrency + (1 if k < tickets % concurrency else 0) for k in range(concurrency)]
    mixes = [
        (total - tickets) // concurrency + (1 if k < (total - tickets) % concurrency else 0) for k in range(concurrency)
    ]

    async def timed(command: c.Command, tech: str) -> Any:
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark phase exceeded its time budget")
        started = time.perf_counter()
        view = await bus.handle(command, workload.context(tech))
        timing.latencies.append(time.perf_counter() - started)
        return view

    async def worker(k: int) -> None:
        mine: list[TicketState] = []
        for _ in range(shares[k]):
            view = await timed(workload.open_command(), DISPATCHER)
            mine.append(TicketState(view.number, view.status, view.assignee_id))
        for _ in range(mixes[k]):
            ticket = workload.rng.choice(mine)
            command, tech = workload.next_command(ticket)
            track(ticket, command, await timed(command, tech))

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    timing.seconds = time.perf_counter() - started
    timing.count = len(timing.latencies)
    return timing


async def run_floor(engine: AsyncEngine, *, total: int, concurrency: int, deadline: float) -> Timing:
    """The bare storage floor: ``total`` single-row INSERT + COMMIT transactions through the same engine."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: FLOOR.create(sync, checkfirst=True))
    payload = json.dumps({"type": "NoteAdded", "body": "x" * 300})
    timing = Timing()

    async def worker(n: int) -> None:
        for _ in range(n):
            if time.monotonic() > deadline:
                raise TimeoutError("floor phase exceeded its time budget")
            started = time.perf_counter()
            async with engine.begin() as conn:
                await conn.execute(insert(FLOOR).values(payload=payload))
            timing.latencies.append(time.perf_counter() - started)

    shares = [total // concurrency + (1 if k < total % concurrency else 0) for k in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in shares))
    timing.seconds = time.perf_counter() - started
    timing.count = len(timing.latencies)
    return timing


def write_json(path: str | None, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, default=str)
    if path:
        Path(path).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)


class ServerProcess:
    """A benchmark server in its own process (``python -m <module> ...``): it prints ``READY <fields...>`` once
    listening and exits when its stdin closes. ``async with`` yields the fields after READY."""

    def __init__(self, module: str, *argv: str) -> None:
        self.argv = [sys.executable, "-m", module, *argv]
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> list[str]:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert self.process.stdout is not None
        line = (await asyncio.wait_for(self.process.stdout.readline(), timeout=120)).decode().split()
        if not line or line[0] != "READY":
            raise RuntimeError(f"{self.argv[2]} did not start: {line}")
        return line[1:]

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), timeout=20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
