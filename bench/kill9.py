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
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from sqlalchemy import func, select

from bench.common import REPO, prepare_database, sqlite_url, webhook_rule, write_json
from bench.sink import KeyCounter, start_sink
from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.outbox import OUTBOX, RowStatus

PSA = Path(sys.executable).parent / "psa"
MARKER = re.compile(r"\[k9-(\d+)\]")
LEASE_SECONDS = 3.0  # the default is 60 s: rows claimed by a killed dispatcher wait that long to be re-claimed


@dataclass
class Driver:
    """The driver subprocess and the ACKs it printed (index -> (ticket, version))."""

    url: str
    total: int
    log: TextIO
    acks: dict[int, tuple[int, int]] = field(default_factory=dict)
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


async def outbox_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status))).all()
    finally:
        await engine.dispose()
    return {str(s): int(n) for s, n in rows}


async def wait_drained(url: str, within: float) -> tuple[bool, float]:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if (await outbox_counts(url)).get(RowStatus.PENDING.value, 0) == 0:
            return True, time.monotonic() - started
        await asyncio.sleep(0.2)
    return False, time.monotonic() - started


async def check(url: str, acks: dict[int, tuple[int, int]], counter: KeyCounter, total: int) -> dict[str, Any]:
    engine = create_engine(url)
    events = t.table_of(t.TicketEventRow)
    try:
        async with engine.connect() as conn:
            event_rows = (await conn.execute(select(events.c.aggregate_id, events.c.version, events.c.payload))).all()
            keys = set((await conn.execute(select(OUTBOX.c.idempotency_key))).scalars())
            statuses = dict((await conn.execute(select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status))).all())
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
    return {
        "commands_planned": total,
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
    }


async def scenario(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    url = sqlite_url(tmp, "kill9.db")
    counter = KeyCounter()
    runner, sink_port = await start_sink(counter)
    timeline: list[str] = []
    started = time.monotonic()

    def note(what: str) -> None:
        timeline.append(f"{time.monotonic() - started:6.2f}s  {what}")
        print(f"  {timeline[-1]}", flush=True)

    engine, _ = await prepare_database(url, rules=[webhook_rule(f"http://127.0.0.1:{sink_port}/psa-events")])
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
        driver = Driver(url, n, driver_log)
        try:
            await service.start()
            note(f"service up on :{port}, sink on :{sink_port}")
            await driver.start()
            note("driver started")
            plan = [(0.30, "service"), (0.55, "driver"), (0.75, "service")]
            for fraction, victim in plan:
                await driver.wait_for_acks(int(n * fraction), within=60)
                if victim == "service":
                    await service.kill()
                    note(f"SIGKILL service at {len(driver.acks)} ACKs, {counter.requests} deliveries received")
                    await service.start()
                    note("service restarted")
                else:
                    await driver.kill()
                    note(f"SIGKILL driver at {len(driver.acks)} ACKs")
                    await driver.start()
                    note(f"driver restarted at command {driver.next_index}")
            code = await driver.finish(within=90)
            note(f"driver finished (exit {code}) with {len(driver.acks)} ACKs")
            drained, waited = await wait_drained(url, within=args.drain_timeout)
            note(f"outbox {'drained' if drained else 'NOT drained'} after {waited:.1f}s more")
        finally:
            await driver.kill()
            await service.stop()
            note(f"service stopped (SIGTERM), exit {service.proc.returncode if service.proc else None}")
            await runner.cleanup()
    result = await check(url, driver.acks, counter, n)
    result.update(
        driver_exit=code,
        drained=drained,
        service_starts=service.starts,
        driver_starts=driver.starts,
        lease_seconds=LEASE_SECONDS,
        seconds=round(time.monotonic() - started, 1),
        timeline=timeline,
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
    parser.add_argument("--json", help="write the result here instead of stdout")
    args = parser.parse_args(argv)
    result = asyncio.run(main(args))
    write_json(args.json, result)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    cli()
