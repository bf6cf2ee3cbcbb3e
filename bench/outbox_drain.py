"""Outbox drain to a loopback webhook sink: ``Dispatcher.drain()`` with the real ``WebhookNotifier`` and
``OutboxStore`` (built by ``lifecycle.build_dispatcher``), against a bare aiohttp client posting the same bodies
with the same concurrency to the same sink, in the same run. Every Idempotency-Key must arrive exactly once.

The outbox is pre-filled with real rows (real commands through the bus with a webhook routing rule to the sink);
the remainder up to ``--rows`` are clones of those rows' payloads with fresh keys, ten rows per ticket, so the
per-(destination, ticket) ordering rule is exercised as in production. A third run drains the same rows with the
sandbox recorder (no HTTP at all) to show what claim + settle alone cost.

    .venv/bin/python -m bench.outbox_drain [--rows 5000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import (
    REPO,
    Workload,
    drop_pg_database,
    prepare_database,
    reset_pg_database,
    run_workload,
    sqlite_url,
    webhook_rule,
    write_json,
)
from psa_chatops.bot.bootstrap import build_bus
from psa_chatops.bot.lifecycle import build_dispatcher
from psa_chatops.bot.settings import Settings
from psa_chatops.handlers.ports import Delivery
from psa_chatops.storage.outbox import OUTBOX, OutboxStore, Outcome, RowStatus, idempotency_key
from psa_chatops.storage.unit_of_work import SystemClock

TARGET = 500.0  # deliveries/s, from the issue
REAL_TICKETS, REAL_COMMANDS = 100, 400
ROWS_PER_TICKET = 10


class TimedOutboxStore(OutboxStore):
    """The real store, with the time spent in ``claim`` and ``settle`` and the SQL statements they issue added up
    (the dispatcher never claims and settles at the same time, so one phase flag is enough)."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.claim_seconds = self.settle_seconds = 0.0
        self.claims = self.settles = self.claim_statements = self.settle_statements = 0
        self.batches = 0  # claims that returned rows
        self.overlap = 0  # most batches still unsettled when a claim started (0: claim, deliver, settle in turn)
        self._phase = ""
        event.listen(engine.sync_engine, "before_cursor_execute", self._count)

    def close(self) -> None:
        event.remove(self._engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, *_: Any) -> None:
        if self._phase == "claim":
            self.claim_statements += 1
        elif self._phase == "settle":
            self.settle_statements += 1

    async def claim(self, *, now: datetime, limit: int, lease: timedelta) -> list[Delivery]:
        started, self._phase = time.perf_counter(), "claim"
        self.overlap = max(self.overlap, self.batches - self.settles)
        try:
            claimed = await super().claim(now=now, limit=limit, lease=lease)
            self.batches += bool(claimed)
            return claimed
        finally:
            self.claim_seconds += time.perf_counter() - started
            self.claims += 1
            self._phase = ""

    async def settle(self, outcomes: Sequence[Outcome], *, now: datetime) -> None:
        started, self._phase = time.perf_counter(), "settle"
        try:
            await super().settle(outcomes, now=now)
        finally:
            self.settle_seconds += time.perf_counter() - started
            self.settles += 1
            self._phase = ""


class SinkProcess:
    """``python -m bench.sink`` in its own process; it exits by itself when our stdin pipe closes."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.base = ""

    async def __aenter__(self) -> SinkProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.sink",
            "--max-seconds",
            "300",
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 20)
        if not line.startswith(b"PORT "):
            raise RuntimeError(f"sink did not start: {line!r}")
        self.base = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    async def reset(self, session: aiohttp.ClientSession) -> None:
        async with session.post(f"{self.base}/_reset") as response:
            response.raise_for_status()

    async def stats(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with session.get(f"{self.base}/_stats") as response:
            response.raise_for_status()
            result: dict[str, Any] = await response.json()
            return result


async def prefill(url: str, hook: str, rows: int, deadline: float) -> tuple[AsyncEngine, dict[str, int]]:
    """Real commands first, then clones of their rows, until the outbox holds exactly ``rows`` pending rows."""
    engine, directory = await prepare_database(url, rules=[webhook_rule(hook)])
    bus = build_bus(engine, SystemClock())
    workload = Workload(directory, random.Random(99))
    await run_workload(bus, workload, tickets=1, total=1, concurrency=1, deadline=deadline)
    await run_workload(
        bus, workload, tickets=REAL_TICKETS - 1, total=REAL_COMMANDS - 1, concurrency=8, deadline=deadline
    )
    async with engine.begin() as conn:
        real = (await conn.execute(select(OUTBOX).order_by(OUTBOX.c.id))).all()
        if len(real) > rows:
            keep = real[rows - 1].id
            await conn.execute(delete(OUTBOX).where(OUTBOX.c.id > keep))
        clones = _clones(real, rows - len(real), destination=f"webhook:{hook}")
        for start in range(0, len(clones), 1000):
            await conn.execute(OUTBOX.insert(), clones[start : start + 1000])
        total = (await conn.execute(select(func.count()).select_from(OUTBOX))).scalar_one()
    assert total == rows, (total, rows)
    return engine, {"real_rows": min(len(real), rows), "cloned_rows": max(0, rows - len(real))}


def _clones(real: Sequence[Any], count: int, *, destination: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    result = []
    for i in range(count):
        template = real[i % len(real)]
        number, version = 900_000 + i // ROWS_PER_TICKET, i % ROWS_PER_TICKET + 1
        payload = copy.deepcopy(template.payload)
        payload.update(number=number, version=version, event_id=f"{number}:{version}")
        payload["ticket"]["number"] = number
        result.append(
            {
                "idempotency_key": idempotency_key(f"{number}:{version}", destination),
                "destination": destination,
                "event_type": template.event_type,
                "ticket_number": number,
                "payload": payload,
                "status": RowStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    return result


async def pending_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        stmt = select(OUTBOX.c.idempotency_key, OUTBOX.c.destination, OUTBOX.c.payload).order_by(OUTBOX.c.id)
        return list((await conn.execute(stmt)).all())


async def status_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status))).all()
    return {str(s): int(n) for s, n in rows}


async def reset_to_pending(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(OUTBOX).values(
                status=RowStatus.PENDING.value, attempts=0, claimed_until=None, delivered_at=None, last_error=None
            )
        )


def exactly_once(stats: dict[str, Any], expected: set[str]) -> dict[str, Any]:
    received = set(stats["keys"])
    return {
        "expected": len(expected),
        "received_unique": len(received & expected),
        "missing": len(expected - received),
        "unexpected": len(received - expected),
        "duplicates": stats["duplicates"],
        "exactly_once": received == expected and stats["duplicates"] == 0,
    }


async def baseline(
    session: aiohttp.ClientSession, rows: Sequence[Any], *, concurrency: int, request_seconds: float
) -> tuple[float, int]:
    """A bare client: the same JSON bodies and Idempotency-Keys, the same concurrency, the same sink."""
    slots = asyncio.Semaphore(concurrency)
    client_timeout = aiohttp.ClientTimeout(total=request_seconds)
    failures = 0

    async def post(row: Any) -> None:
        nonlocal failures
        async with slots:
            body = json.dumps(row.payload, separators=(",", ":"), ensure_ascii=False).encode()
            headers = {"Content-Type": "application/json", "Idempotency-Key": row.idempotency_key}
            url = row.destination.partition(":")[2]
            async with session.post(url, data=body, headers=headers, timeout=client_timeout) as response:
                failures += not response.ok

    started = time.perf_counter()
    await asyncio.gather(*(post(r) for r in rows))
    return time.perf_counter() - started, failures


async def drain(
    engine: AsyncEngine, url: str, session: aiohttp.ClientSession, *, sandbox: bool
) -> tuple[float, int, TimedOutboxStore]:
    settings = Settings(database_url=url, sandbox=sandbox, _env_file=None)
    store = TimedOutboxStore(engine)
    dispatcher = build_dispatcher(settings, store, session, SystemClock())
    started = time.perf_counter()
    try:
        attempts = await dispatcher.drain(max_rounds=1000)
    finally:
        store.close()
    return time.perf_counter() - started, attempts, store


async def run_backend(url: str, sink: SinkProcess, args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + args.budget
    hook = f"{sink.base}/psa-events"
    engine, fill = await prefill(url, hook, args.rows, deadline)
    settings = Settings(database_url=url, _env_file=None)
    try:
        rows = await pending_rows(engine)
        expected = {r.idempotency_key for r in rows}
        timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await sink.reset(session)
            base_seconds, base_failures = await baseline(
                session,
                rows,
                concurrency=settings.dispatcher_concurrency,
                request_seconds=settings.webhook_timeout_seconds,
            )
            base_check = exactly_once(await sink.stats(session), expected)

            await sink.reset(session)
            seconds, attempts, store = await drain(engine, url, session, sandbox=False)
            check = exactly_once(await sink.stats(session), expected)
            statuses = await status_counts(engine)

            await reset_to_pending(engine)
            await sink.reset(session)
            sb_seconds, sb_attempts, sb_store = await drain(engine, url, session, sandbox=True)
            sb_statuses = await status_counts(engine)
            sb_http = (await sink.stats(session))["requests"]
    finally:
        await engine.dispose()
    n = len(rows)
    result: dict[str, Any] = {
        "rows": n,
        **fill,
        "dispatcher": {
            "batch": settings.dispatcher_batch,
            "concurrency": settings.dispatcher_concurrency,
            "seconds": round(seconds, 3),
            "per_second": round(n / seconds, 1),
            "attempts": attempts,
            "claims": store.claims,
            "claim_seconds": round(store.claim_seconds, 3),
            "settle_seconds": round(store.settle_seconds, 3),
            "statements_per_claim": round(store.claim_statements / max(1, store.claims), 1),
            "statements_per_settle": round(store.settle_statements / max(1, store.settles), 1),
            "claim_overlaps_delivery": store.overlap > 0,
            "statuses": statuses,
            **check,
        },
        "baseline": {
            "concurrency": settings.dispatcher_concurrency,
            "seconds": round(base_seconds, 3),
            "per_second": round(n / base_seconds, 1),
            "failures": base_failures,
            **base_check,
        },
        "sandbox": {
            "seconds": round(sb_seconds, 3),
            "per_second": round(n / sb_seconds, 1),
            "attempts": sb_attempts,
            "claim_seconds": round(sb_store.claim_seconds, 3),
            "settle_seconds": round(sb_store.settle_seconds, 3),
            "statuses": sb_statuses,
            "http_requests": sb_http,
        },
    }
    result["ratio_to_baseline"] = round(result["dispatcher"]["per_second"] / result["baseline"]["per_second"], 3)
    d, b = result["dispatcher"], result["baseline"]
    print(
        f"drain {d['per_second']:.1f}/s (claim {d['claim_seconds']} s, settle {d['settle_seconds']} s, "
        f"exactly once: {d['exactly_once']})  baseline {b['per_second']:.1f}/s  "
        f"sandbox {result['sandbox']['per_second']:.1f}/s",
        flush=True,
    )
    return result


async def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"rows": args.rows, "target_per_second": TARGET}
    async with SinkProcess() as sink:
        if "sqlite" in args.backends:
            with tempfile.TemporaryDirectory(prefix="psa-bench-") as tmp:
                print("sqlite:", end=" ", flush=True)
                result["sqlite"] = {
                    "version": sqlite3.sqlite_version,
                    **await run_backend(sqlite_url(Path(tmp), "drain.db"), sink, args),
                }
        if "postgresql" in args.backends:
            url, detail = await reset_pg_database()
            if url is None:
                print(f"postgresql: skipped ({detail})", flush=True)
                result["postgresql"] = {"skipped": detail}
            else:
                try:
                    print("postgresql:", end=" ", flush=True)
                    result["postgresql"] = {"version": detail, **await run_backend(url, sink, args)}
                finally:
                    await drop_pg_database()
    return result


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds allowed for the prefill per backend")
    parser.add_argument("--json", help="write the result here instead of stdout")
    args = parser.parse_args(argv)
    write_json(args.json, asyncio.run(main(args)))


if __name__ == "__main__":
    cli()
