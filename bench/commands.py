"""Ticket command commit throughput through the real bus (event append + projection + outbox rows), on SQLite
and PostgreSQL, sequential and concurrent, against the bare storage floor (single-row INSERT + COMMIT through the
same engine) measured in the same run.

    .venv/bin/python -m bench.commands [--commands 3000] [--tickets 300] [--concurrency 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

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
from psa_chatops.storage.unit_of_work import SystemClock

TARGET_SQLITE = 1000.0  # commands/s, from the issue
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


async def diagnose(url: str, *, commands: int = 300) -> dict[str, Any]:
    """Where a command's time goes: SQL statements per command type (counted with a cursor event) and the cost of
    one primary-key SELECT and of an empty write transaction through the same async engine."""
    engine, directory = await prepare_database(url)
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    per_type: dict[str, list[int]] = {}
    try:
        bus = build_bus(engine, SystemClock())
        workload = Workload(directory, random.Random(7))
        tickets: list[TicketState] = []
        for i in range(commands):
            ticket = workload.rng.choice(tickets) if i >= commands // 10 else None
            command, tech = workload.next_command(ticket) if ticket else (workload.open_command(), DISPATCHER)
            statements = 0
            view = await bus.handle(command, workload.context(tech))
            per_type.setdefault(type(command).__name__, []).append(statements)
            if ticket is None:
                tickets.append(TicketState(view.number, view.status, view.assignee_id))
            else:
                track(ticket, command, view)
        event.remove(engine.sync_engine, "before_cursor_execute", count)
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
    return {
        "statements_per_command": {k: round(sum(v) / len(v), 1) for k, v in sorted(per_type.items())},
        "select_by_pk_us": round(select_us),
        "empty_write_transaction_us": round(begin_us),
    }


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
    return {
        "version": sqlite3.sqlite_version,
        "journal": "WAL, synchronous=NORMAL",
        "runs": runs,
        "diagnostics": diagnostics,
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
    finally:
        await drop_pg_database()
    return {"version": version, "runs": runs, "diagnostics": diagnostics}


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
