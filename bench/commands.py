"""Ticket command commit throughput through the real bus (event append + projection + outbox rows), on SQLite
and PostgreSQL, sequential and concurrent, against the bare storage floor (single-row INSERT + COMMIT through the
same engine) measured in the same run.

    .venv/bin/python -m bench.commands [--commands 3000] [--tickets 300] [--concurrency 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import random
import re
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncTransaction

from bench.common import (
    DISPATCHER,
    TicketState,
    Workload,
    count_rows,
    drop_pg_database,
    prepare_database,
    reset_pg_database,
    run_floor,
    run_workload,
    sqlite_url,
    track,
    write_json,
)
from psa_chatops.bot.bootstrap import build_bus
from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import is_sqlite
from psa_chatops.storage.unit_of_work import SystemClock

TARGET_SQLITE = 1000.0  # commands/s, from the issue
REFERENCE_READ = re.compile(
    r"\s*SELECT\b.*?\bFROM (customers|sla_policies|technicians|contacts|assets|routing_rules|actor_links"
    r"|maintenance_windows)\b",
    re.IGNORECASE | re.DOTALL,
)
WARMUP_TICKETS, WARMUP_COMMANDS = 8, 40


async def scenario(url: str, *, tickets: int, total: int, concurrency: int, budget: float) -> dict[str, Any]:
    """One fresh database: warm up, time ``total`` commands, then time ``total`` floor transactions."""
    deadline = time.monotonic() + budget
    engine, directory = await prepare_database(url)  # the four demo routing rules
    try:
        bus = build_bus(engine, SystemClock())
        workload = Workload(directory, random.Random(1234))
        # The very first OpenTicket creates the ticket counter row; concurrent first opens race on PostgreSQL
        # (IntegrityError on counters_pkey, not retried by the bus), so one ticket is opened alone first.
        await run_workload(bus, workload, tickets=1, total=1, concurrency=1, deadline=deadline)
        await run_workload(
            bus, workload, tickets=WARMUP_TICKETS, total=WARMUP_COMMANDS, concurrency=concurrency, deadline=deadline
        )
        events0, outbox0 = await count_rows(engine, t.TicketEventRow), await count_rows(engine, t.OutboxRow)
        timing = await run_workload(
            bus, workload, tickets=tickets, total=total, concurrency=concurrency, deadline=deadline
        )
        events = await count_rows(engine, t.TicketEventRow) - events0
        outbox_rows = await count_rows(engine, t.OutboxRow) - outbox0
        await run_floor(engine, total=WARMUP_COMMANDS, concurrency=concurrency, deadline=deadline)
        floor = await run_floor(engine, total=total, concurrency=concurrency, deadline=deadline)
    finally:
        await engine.dispose()
    return {
        "concurrency": concurrency,
        "commands": timing.summary(),
        "floor": floor.summary(),
        "ratio_to_floor": round(timing.rate / floor.rate, 3) if floor.rate else None,
        "events_written": events,
        "outbox_rows_written": outbox_rows,
        "events_per_command": round(events / timing.count, 2) if timing.count else 0,
        "outbox_rows_per_command": round(outbox_rows / timing.count, 2) if timing.count else 0,
    }


class SqlTimer:
    """Adds up the wall time spent awaiting the engine (connect, begin, execute, commit, close) while active, by
    wrapping the ``AsyncConnection`` / ``AsyncTransaction`` methods; the originals are restored on exit."""

    TARGETS = (
        (AsyncConnection, "start"),
        (AsyncConnection, "execute"),
        (AsyncConnection, "close"),
        (AsyncTransaction, "start"),
        (AsyncTransaction, "commit"),
        (AsyncTransaction, "rollback"),
    )

    def __init__(self) -> None:
        self.seconds = 0.0
        self._saved: list[tuple[type, str, Any]] = []

    def __enter__(self) -> SqlTimer:
        for cls, name in self.TARGETS:
            original = getattr(cls, name)
            self._saved.append((cls, name, original))
            setattr(cls, name, self._timed(original))
        return self

    def __exit__(self, *exc: object) -> None:
        for cls, name, original in self._saved:
            setattr(cls, name, original)

    def _timed(self, original: Any) -> Any:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


class SqlEvents:
    """Listens on the ``Engine`` *class*, so it sees every engine, including one that a unit of work runs on in
    another thread: counts cursor executions (with their SQL and parameters) and adds up the time inside
    ``Connection.execute`` (compile, execute, result set-up) and inside the DBAPI cursor alone."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.execute_seconds = self.cursor_seconds = 0.0
        self.foreign_engine = False
        self._ours: Any = None
        self._local = threading.local()
        self._hooks = (
            ("before_execute", self._before_execute),
            ("after_execute", self._after_execute),
            ("before_cursor_execute", self._before_cursor),
            ("after_cursor_execute", self._after_cursor),
        )

    def watch(self, engine: Any) -> SqlEvents:
        self._ours = engine
        for name, hook in self._hooks:
            event.listen(Engine, name, hook)
        return self

    def close(self) -> None:
        for name, hook in self._hooks:
            event.remove(Engine, name, hook)

    def _before_execute(self, *_: Any) -> None:
        self._local.execute = time.perf_counter()

    def _after_execute(self, *_: Any) -> None:
        self.execute_seconds += time.perf_counter() - getattr(self._local, "execute", time.perf_counter())

    def _before_cursor(self, conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.seen.append((statement, repr(parameters)))
        self.foreign_engine = self.foreign_engine or conn.engine is not self._ours
        self._local.cursor = time.perf_counter()

    def _after_cursor(self, *_: Any) -> None:
        self.cursor_seconds += time.perf_counter() - getattr(self._local, "cursor", time.perf_counter())


async def diagnose(url: str, *, commands: int = 300) -> dict[str, Any]:
    """Where a command's time goes, in a separate sequential pass: SQL statements per command type, time inside
    SQLAlchemy's ``Connection.execute`` and inside the driver, time spent awaiting the ``AsyncEngine``, and the cost
    of one primary-key SELECT and of an empty write transaction through the same engine."""
    engine, directory = await prepare_database(url)
    per_type: dict[str, list[int]] = {}
    repeated: list[int] = []
    reference: list[int] = []
    sql = SqlEvents()
    try:
        bus = build_bus(engine, SystemClock())
        workload = Workload(directory, random.Random(7))
        await run_workload(bus, workload, tickets=1, total=1, concurrency=1, deadline=time.monotonic() + 30)
        tickets: list[TicketState] = []
        sql.watch(engine.sync_engine)
        try:
            with SqlTimer() as awaited:
                started = time.perf_counter()
                for i in range(commands):
                    ticket = workload.rng.choice(tickets) if i >= commands // 10 else None
                    command, tech = workload.next_command(ticket) if ticket else (workload.open_command(), DISPATCHER)
                    sql.seen.clear()
                    view = await bus.handle(command, workload.context(tech))
                    per_type.setdefault(type(command).__name__, []).append(len(sql.seen))
                    repeated.append(len(sql.seen) - len(set(sql.seen)))
                    reference.append(sum(bool(REFERENCE_READ.match(text)) for text, _ in sql.seen))
                    if ticket is None:
                        tickets.append(TicketState(view.number, view.status, view.assignee_id))
                    else:
                        track(ticket, command, view)
                wall = time.perf_counter() - started
        finally:
            sql.close()
        customers = t.table_of(t.CustomerRow)
        query = select(customers).where(customers.c.id == directory.customers[0].id)
        async with engine.connect() as conn:
            started = time.perf_counter()
            for _ in range(500):
                (await conn.execute(query)).first()
            select_us = (time.perf_counter() - started) / 500 * 1e6
        started = time.perf_counter()
        for _ in range(200):
            async with engine.begin():
                pass
        begin_us = (time.perf_counter() - started) / 200 * 1e6
    finally:
        await engine.dispose()
    plain_us = await asyncio.to_thread(_plain_sqlite_select_us, url, directory.customers[0].id)
    every = [n for v in per_type.values() for n in v]

    def per_command(seconds: float) -> float:
        return round(seconds / commands * 1000, 2)

    return {
        "statements_per_command": {k: round(sum(v) / len(v), 1) for k, v in sorted(per_type.items())},
        "statements_mean": round(sum(every) / len(every), 1),
        "repeated_statements_mean": round(sum(repeated) / len(repeated), 1),
        "reference_reads_mean": round(sum(reference) / len(reference), 1),
        "units_of_work_on_another_engine": sql.foreign_engine,
        "command_ms": per_command(wall),
        "sqlalchemy_execute_ms": per_command(sql.execute_seconds),
        "driver_ms": per_command(sql.cursor_seconds),
        "awaiting_async_engine_ms": per_command(awaited.seconds),
        "awaiting_async_engine_share": round(awaited.seconds / wall, 3),
        "select_by_pk_us": round(select_us),
        "empty_write_transaction_us": round(begin_us),
        "plain_sqlite3_select_us": plain_us,
    }


def _plain_sqlite_select_us(url: str, customer_id: str) -> float | None:
    """The same primary-key SELECT on a plain, synchronous ``sqlite3`` connection (SQLite only)."""
    database = make_url(url).database
    if not is_sqlite(url) or not database:
        return None
    with contextlib.closing(sqlite3.connect(database)) as conn:
        started = time.perf_counter()
        for _ in range(2000):
            conn.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
        return round((time.perf_counter() - started) / 2000 * 1e6, 1)


async def probe_first_opens(url: str, *, tasks: int = 8) -> dict[str, Any]:
    """Fire ``tasks`` OpenTickets at once as the very first commands of a fresh database and count failures
    (the ticket counter row does not exist yet, so they race to create it)."""
    engine, directory = await prepare_database(url)
    try:
        bus = build_bus(engine, SystemClock())
        workload = Workload(directory, random.Random(3))
        context = workload.context(DISPATCHER)
        outcomes = await asyncio.gather(
            *(bus.handle(workload.open_command(), context) for _ in range(tasks)), return_exceptions=True
        )
    finally:
        await engine.dispose()
    errors = [f"{type(o).__name__}: {str(o).splitlines()[0][:160]}" for o in outcomes if isinstance(o, BaseException)]
    return {"tasks": tasks, "failed": len(errors), "errors": sorted(set(errors))}


async def run_sqlite(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    runs = []
    for concurrency in (1, args.concurrency):
        url = sqlite_url(workdir, f"commands-c{concurrency}.db")
        runs.append(
            await scenario(url, tickets=args.tickets, total=args.commands, concurrency=concurrency, budget=args.budget)
        )
        print(_line("sqlite", runs[-1]), flush=True)
    diagnostics = await diagnose(sqlite_url(workdir, "diagnose.db"))
    print(f"sqlite     diagnostics {diagnostics}", flush=True)
    probe = await probe_first_opens(sqlite_url(workdir, "probe.db"))
    print(f"sqlite     {probe['tasks']} concurrent first OpenTickets: {probe['failed']} failed", flush=True)
    return {
        "version": sqlite3.sqlite_version,
        "journal": "WAL, synchronous=NORMAL",
        "runs": runs,
        "diagnostics": diagnostics,
        "first_opens_probe": probe,
    }


async def run_postgres(args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    version = ""
    try:
        for concurrency in (1, args.concurrency):
            url, version = await reset_pg_database()
            if url is None:
                print(f"postgresql: skipped ({version})", flush=True)
                return {"skipped": version}
            runs.append(
                await scenario(
                    url, tickets=args.tickets, total=args.commands, concurrency=concurrency, budget=args.budget
                )
            )
            print(_line("postgresql", runs[-1]), flush=True)
        url, _ = await reset_pg_database()
        diagnostics = await diagnose(url) if url else {}
        print(f"postgresql diagnostics {diagnostics}", flush=True)
        url, _ = await reset_pg_database()
        probe = await probe_first_opens(url) if url else {}
        print(f"postgresql {probe.get('tasks')} concurrent first OpenTickets: {probe.get('failed')} failed", flush=True)
    finally:
        await drop_pg_database()
    return {"version": version, "runs": runs, "diagnostics": diagnostics, "first_opens_probe": probe}


def _line(backend: str, run: dict[str, Any]) -> str:
    cmd, floor = run["commands"], run["floor"]
    return (
        f"{backend:<10} c={run['concurrency']:<2} {cmd['per_second']:>8.1f} commands/s "
        f"(p50 {cmd['p50_ms']} ms, p95 {cmd['p95_ms']} ms)  floor {floor['per_second']:>8.1f} tx/s  "
        f"ratio {run['ratio_to_floor']}  outbox rows/command {run['outbox_rows_per_command']}"
    )


async def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "tickets": args.tickets,
        "commands": args.commands,
        "concurrency": args.concurrency,
        "target_sqlite_per_second": TARGET_SQLITE,
    }
    with tempfile.TemporaryDirectory(prefix="psa-bench-") as tmp:
        if "sqlite" in args.backends:
            result["sqlite"] = await run_sqlite(args, Path(tmp))
    if "postgresql" in args.backends:
        result["postgresql"] = await run_postgres(args)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=3000, help="bus calls per run, including the opens")
    parser.add_argument("--tickets", type=int, default=300, help="tickets opened per run")
    parser.add_argument("--concurrency", type=int, default=8, help="tasks in the concurrent run")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--budget", type=float, default=90.0, help="seconds allowed per run before it aborts")
    parser.add_argument("--json", help="write the result here instead of stdout")
    parser.add_argument("--profile", help="cProfile the whole run into this .prof file")
    args = parser.parse_args(argv)
    if not 0 < args.tickets <= args.commands:
        parser.error("need 0 < --tickets <= --commands")
    return args


def cli(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.profile:
        with cProfile.Profile() as profile:
            result = asyncio.run(main(args))
        profile.dump_stats(args.profile)
    else:
        result = asyncio.run(main(args))
    write_json(args.json, result)


if __name__ == "__main__":
    cli()
