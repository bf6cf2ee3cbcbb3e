"""Crash safety under SIGKILL: the real service (``psa serve``) delivers the outbox to a loopback sink in this
process while a driver process (``bench.kill9_driver``) commits commands into the same SQLite database. Mid-way
the service is SIGKILLed twice and the driver once; each is restarted. At the end every committed command must be
in ``ticket_events`` and every outbox row must have reached the sink (duplicates are allowed: at-least-once).

Exit status 1 if a delivery is missing, an acknowledged commit is lost, or the outbox did not drain in time.

    .venv/bin/python -m bench.kill9 [--commands 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from sqlalchemy import func, select

from bench.common import REPO, percentile, prepare_database, sqlite_url, webhook_rule, write_json
from bench.sink import KeyCounter, start_sink
from psa_chatops.bot.settings import Settings
from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.outbox import OUTBOX, RowStatus, idempotency_key

PSA = Path(sys.executable).parent / "psa"
MARKER = re.compile(r"\[k9-(\d+)\]")
PLAN = [(0.30, "service"), (0.55, "driver"), (0.75, "service")]  # (fraction of commands ACKed, what to SIGKILL)
LEASE_SECONDS = 3.0  # the default is 60 s: rows claimed by a killed dispatcher wait that long to be re-claimed


@dataclass
class Driver:
    """The driver subprocess and the ACKs it printed (index -> (ticket, version))."""

    url: str
    total: int
    log: TextIO
    acks: dict[int, tuple[int, int]] = field(default_factory=dict)
    acked_at: dict[int, float] = field(default_factory=dict)  # index -> time.monotonic() the ACK was read
    pace_ms: float = 0.0
    proc: asyncio.subprocess.Process | None = None
    reader: asyncio.Task[None] | None = None
    starts: int = 0

    @property
    def next_index(self) -> int:
        return max(self.acks, default=-1) + 1

    async def start(self) -> None:
        self.starts += 1
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.kill9_driver",
            "--url",
            self.url,
            "--start",
            str(self.next_index),
            "--total",
            str(self.total),
            "--max-seconds",
            "90",
            "--pace-ms",
            str(self.pace_ms),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.log,
            env=_clean_env(),
        )
        self.reader = asyncio.create_task(self._read(self.proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            parts = raw.decode().split()
            if len(parts) == 4 and parts[0] == "ACK":
                self.acks[int(parts[1])] = (int(parts[2]), int(parts[3]))
                self.acked_at[int(parts[1])] = time.monotonic()

    async def wait_for_acks(self, count: int, within: float) -> None:
        end = time.monotonic() + within
        while len(self.acks) < count:
            if time.monotonic() > end:
                raise TimeoutError(f"driver reached {len(self.acks)} ACKs, wanted {count}")
            if self.proc is not None and self.proc.returncode is not None:
                raise RuntimeError(f"driver exited with {self.proc.returncode} at {len(self.acks)} ACKs")
            await asyncio.sleep(0.005)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()
        if self.reader is not None:
            await self.reader

    async def finish(self, within: float) -> int:
        assert self.proc is not None
        assert self.reader is not None
        try:
            code = await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            await self.kill()
            raise
        await self.reader
        return code


@dataclass
class Service:
    """``psa serve`` as a subprocess, restarted after each SIGKILL."""

    env: dict[str, str]
    port: int
    cwd: Path
    log: TextIO
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0

    async def start(self, within: float = 30.0) -> None:
        self.starts += 1
        self.proc = await asyncio.create_subprocess_exec(
            str(PSA), "serve", cwd=self.cwd, env=self.env, stdout=self.log, stderr=self.log
        )
        end = time.monotonic() + within
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            while time.monotonic() < end:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"psa serve exited with {self.proc.returncode}; see its log")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise TimeoutError("psa serve did not become healthy")

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            await self.kill()


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PSA_")}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read(database: Path, sql: str, *params: Any) -> list[Any]:
    """A plain read-only sqlite3 query: WAL readers never wait for the writers being observed."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as conn:
        return conn.execute(sql, params).fetchall()


async def outbox_counts(database: Path) -> dict[str, int]:
    rows = await asyncio.to_thread(_read, database, "SELECT status, count(*) FROM outbox GROUP BY status")
    return {str(s): int(n) for s, n in rows}


async def claimed_rows(database: Path) -> int:
    """Pending rows under a live lease: claimed by the dispatcher, delivery not yet settled."""
    now = datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLite stores UtcDateTime
    sql = "SELECT count(*) FROM outbox WHERE status = ? AND claimed_until > ?"
    rows = await asyncio.to_thread(_read, database, sql, RowStatus.PENDING.value, now)
    return int(rows[0][0])


async def wait_drained(database: Path, within: float) -> tuple[bool, float]:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if (await outbox_counts(database)).get(RowStatus.PENDING.value, 0) == 0:
            return True, time.monotonic() - started
        await asyncio.sleep(0.2)
    return False, time.monotonic() - started


async def check(url: str, driver: Driver, counter: KeyCounter, destination: str) -> dict[str, Any]:
    acks = driver.acks
    engine = create_engine(url)
    events = t.table_of(t.TicketEventRow)
    try:
        async with engine.connect() as conn:
            event_rows = (await conn.execute(select(events.c.aggregate_id, events.c.version, events.c.payload))).all()
            keys = set((await conn.execute(select(OUTBOX.c.idempotency_key))).scalars())
            by_status = select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status)
            statuses: dict[Any, Any] = dict((await conn.execute(by_status)).all())
    finally:
        await engine.dispose()
    committed: dict[int, list[tuple[int, int]]] = {}
    for row in event_rows:
        text = str((row.payload or {}).get("title") or (row.payload or {}).get("body") or "")
        found = MARKER.search(text)
        if found:
            committed.setdefault(int(found.group(1)), []).append((row.aggregate_id, row.version))
    lost = [i for i, (number, _version) in acks.items() if number not in {n for n, _ in committed.get(i, [])}]
    received = set(counter.keys)
    lags = []  # commit ACK read by us -> first arrival of that command's event at the sink
    for i, (number, version) in acks.items():
        arrived = counter.first_seen.get(idempotency_key(f"{number}:{version}", destination))
        if arrived is not None:
            lags.append(arrived - driver.acked_at[i])
    return {
        "commands_planned": driver.total,
        "commands_acknowledged": len(acks),
        "commands_committed": sum(len(v) for v in committed.values()),
        "distinct_commands_committed": len(committed),
        "committed_twice": sum(len(v) - 1 for v in committed.values()),
        "lost_commits": len(lost),
        "ticket_events": len(event_rows),
        "expected_deliveries": len(keys),
        "outbox_statuses": {str(k): int(v) for k, v in statuses.items()},
        "unique_keys_received": len(received & keys),
        "requests_received": counter.requests,
        "duplicates_received": sum(n - 1 for n in counter.keys.values() if n > 1),
        "missing": len(keys - received),
        "unexpected_keys": len(received - keys),
        "delivery_lag_ms": {
            "p50": round(percentile(lags, 50) * 1000),
            "p95": round(percentile(lags, 95) * 1000),
            "max": round(max(lags, default=0) * 1000),
        },
    }


async def scenario(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    database = tmp / "kill9.db"
    url = sqlite_url(tmp, database.name)
    counter = KeyCounter(delay=args.sink_delay_ms / 1000)
    runner, sink_port = await start_sink(counter)
    timeline: list[str] = []
    kills: list[dict[str, Any]] = []
    started = time.monotonic()

    def note(what: str) -> None:
        timeline.append(f"{time.monotonic() - started:6.2f}s  {what}")
        print(f"  {timeline[-1]}", flush=True)

    rule = webhook_rule(f"http://127.0.0.1:{sink_port}/psa-events")
    destination = rule.destination
    engine, _ = await prepare_database(url, rules=[rule])
    await engine.dispose()
    port = _free_port()
    env = _clean_env() | {
        "PSA_DATABASE_URL": url,
        "PSA_HOST": "127.0.0.1",
        "PSA_PORT": str(port),
        "PSA_SANDBOX": "0",
        "PSA_LOG_LEVEL": "WARNING",
        "PSA_DISPATCHER_POLL_SECONDS": "0.05",
        "PSA_DISPATCHER_LEASE_SECONDS": str(LEASE_SECONDS),
        "PSA_OUTBOX_BACKOFF_BASE_SECONDS": "0.2",
        "PSA_OUTBOX_BACKOFF_CAP_SECONDS": "2",
    }
    n = args.commands
    code, drained = -1, False
    with (tmp / "service.log").open("w") as service_log, (tmp / "driver.log").open("w") as driver_log:
        service = Service(env, port, tmp, service_log)
        driver = Driver(url, n, driver_log, pace_ms=args.pace_ms)
        restarting: asyncio.Task[None] | None = None  # the driver keeps committing while the service restarts
        try:
            await service.start()
            note(f"service up on :{port}, sink on :{sink_port}")
            await driver.start()
            note("driver started")

            async def restart() -> None:
                await service.start()
                note("service restarted and healthy")

            for fraction, victim in PLAN:
                await driver.wait_for_acks(int(n * fraction), within=60)
                if victim == "service":
                    if restarting is not None:
                        await restarting
                    await service.kill()
                    acked, received = len(driver.acks), counter.requests
                    in_flight = await claimed_rows(database)
                    kills.append({"victim": "service", "acks": acked, "received": received, "in_flight": in_flight})
                    note(
                        f"SIGKILL service at {acked} ACKs, {received} deliveries received so far,"
                        f" {in_flight} rows claimed and not settled"
                    )
                    restarting = asyncio.create_task(restart())
                else:
                    await driver.kill()
                    kills.append({"victim": "driver", "acks": len(driver.acks), "received": counter.requests})
                    note(f"SIGKILL driver at {len(driver.acks)} ACKs (the next command was in flight or about to be)")
                    await driver.start()
                    note(f"driver restarted at command {driver.next_index}")
            if restarting is not None:
                await restarting
            code = await driver.finish(within=90)
            note(f"driver finished (exit {code}) with {len(driver.acks)} ACKs")
            drained, waited = await wait_drained(database, within=args.drain_timeout)
            note(f"outbox {'drained' if drained else 'NOT drained'} after {waited:.1f}s more")
        finally:
            if restarting is not None and not restarting.done():
                restarting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await restarting
            await driver.kill()
            await service.stop()
            note(f"service stopped (SIGTERM), exit {service.proc.returncode if service.proc else None}")
            await runner.cleanup()
    result = await check(url, driver, counter, destination)
    result.update(
        driver_exit=code,
        drained=drained,
        service_starts=service.starts,
        driver_starts=driver.starts,
        lease_seconds=LEASE_SECONDS,
        default_lease_seconds=Settings.model_fields["dispatcher_lease_seconds"].default,
        dispatcher_batch=Settings.model_fields["dispatcher_batch"].default,
        pace_ms=args.pace_ms,
        sink_delay_ms=args.sink_delay_ms,
        seconds=round(time.monotonic() - started, 1),
        timeline=timeline,
        kills=kills,
    )
    result["ok"] = (
        drained
        and code == 0
        and result["missing"] == 0
        and result["lost_commits"] == 0
        and result["distinct_commands_committed"] == n
    )
    if not result["ok"]:
        for name in ("service.log", "driver.log"):
            print(f"--- tail of {name}", file=sys.stderr)
            print((tmp / name).read_text()[-3000:], file=sys.stderr)
    return result


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="psa-kill9-") as tmp:
        result = await scenario(args, Path(tmp))
    keys = (
        "commands_acknowledged",
        "commands_committed",
        "lost_commits",
        "expected_deliveries",
        "unique_keys_received",
        "duplicates_received",
        "missing",
    )
    print("  " + "  ".join(f"{k}={result[k]}" for k in keys) + f"  ok={result['ok']}", flush=True)
    return result


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument("--pace-ms", type=float, default=0.0, help="driver pause after each commit")
    parser.add_argument("--sink-delay-ms", type=float, default=50.0, help="sink answer delay (deliveries in flight)")
    parser.add_argument("--json", help="write the result here instead of stdout")
    args = parser.parse_args(argv)
    result = asyncio.run(main(args))
    write_json(args.json, result)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    cli()
