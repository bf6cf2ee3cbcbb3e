"""What-if experiments for the findings in BENCHMARKS.md (not part of ``make bench``; src is left untouched).

Each experiment monkeypatches one suspected bottleneck *in this process only* and re-runs the measurement, so the
gain of a proposed fix can be judged before anyone writes it:

- ``cache``: memoise directory lookups (customer, SLA policy, technician, contact, asset) and routing rules for
  the process lifetime, as a cache invalidated by directory writes would;
- ``lock``: serialise SQLite write transactions with one ``asyncio.Lock`` instead of SQLite's sleeping busy
  handler;
- ``settle``: settle a batch of outcomes with one ``UPDATE ... WHERE id IN (...)`` per distinct outcome instead of
  one UPDATE per row.

A patch whose fix src already has is reported and skipped (or is a no-op), so the tool stays usable as src moves.

    .venv/bin/python -m bench.whatif commands --backend sqlite --concurrency 1 --patch cache
    .venv/bin/python -m bench.whatif drain --patch settle
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from bench import outbox_drain
from bench.common import Workload, prepare_database, reset_pg_database, run_workload, sqlite_url
from psa_chatops.bot.bootstrap import build_bus
from psa_chatops.core.routing import RoutingRule
from psa_chatops.storage import outbox, unit_of_work
from psa_chatops.storage.outbox import OUTBOX, OutboxStore, Outcome, RowStatus
from psa_chatops.storage.unit_of_work import SqlUnitOfWork, SystemClock


def patch_cache() -> None:
    """Memoise the directory reads the unit of work makes, unless src already caches them."""
    if importlib.util.find_spec("psa_chatops.storage.directory") is not None:
        print("src already has a directory cache (psa_chatops.storage.directory); measuring it unpatched")
        return
    directory_class = getattr(unit_of_work, "SqlDirectory")  # noqa: B009 - the class moves between versions
    memo: dict[tuple[str, str], Any] = {}
    for name in ("customer", "contact", "technician", "asset", "sla_policy"):
        original = getattr(directory_class, name)

        async def cached(self: Any, key: str, _original: Any = original, _name: str = name) -> Any:
            if (_name, key) not in memo:
                memo[_name, key] = await _original(self, key)
            return memo[_name, key]

        setattr(directory_class, name, cached)
    load_rules = getattr(outbox, "load_rules", None)
    if load_rules is None:
        return
    rules: list[RoutingRule] = []

    async def cached_rules(conn: AsyncConnection) -> list[RoutingRule]:
        if not rules:
            rules.extend(await load_rules(conn))
        return rules

    setattr(outbox, "load_rules", cached_rules)  # noqa: B010


def patch_lock() -> None:
    """Serialise units of work with one ``asyncio.Lock``, unless src already runs SQLite writers in order."""
    if importlib.util.find_spec("psa_chatops.storage.sqlite_writer") is not None:
        print("src already queues SQLite writers (psa_chatops.storage.sqlite_writer); measuring it unpatched")
        return
    lock = asyncio.Lock()
    enter, leave = SqlUnitOfWork.__aenter__, SqlUnitOfWork.__aexit__

    async def locked_enter(self: SqlUnitOfWork) -> SqlUnitOfWork:
        await lock.acquire()
        try:
            return await enter(self)
        except BaseException:
            lock.release()
            raise

    async def locked_exit(self: SqlUnitOfWork, *exc: object) -> None:
        try:
            await leave(self, *exc)
        finally:
            lock.release()

    SqlUnitOfWork.__aenter__ = locked_enter  # type: ignore[method-assign,assignment]
    SqlUnitOfWork.__aexit__ = locked_exit  # type: ignore[method-assign]


def patch_settle() -> None:
    async def grouped_settle(self: OutboxStore, outcomes: Sequence[Outcome], *, now: datetime) -> None:
        if not outcomes:
            return
        groups: dict[tuple[Any, ...], list[int]] = {}
        for o in outcomes:
            groups.setdefault((o.status, o.next_attempt_at, o.error, o.burn_attempt), []).append(o.id)
        async with self._engine.begin() as conn:
            for (status, next_attempt_at, error, burn), ids in groups.items():
                values: dict[str, Any] = {"claimed_until": None, "last_error": error}
                if status is not None:
                    values["status"] = status.value
                if status in (RowStatus.DELIVERED, RowStatus.RECORDED):
                    values["delivered_at"] = now
                if next_attempt_at is not None:
                    values["next_attempt_at"] = next_attempt_at
                if burn:
                    values["attempts"] = OUTBOX.c.attempts + 1
                await conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(**values))

    OutboxStore.settle = grouped_settle  # type: ignore[method-assign]


PATCHES = {"cache": patch_cache, "lock": patch_lock, "settle": patch_settle}


async def commands(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="psa-whatif-") as tmp:
        url = sqlite_url(Path(tmp)) if args.backend == "sqlite" else (await reset_pg_database())[0]
        if url is None:
            raise SystemExit("PostgreSQL is not reachable")
        engine, directory = await prepare_database(url)
        try:
            bus = build_bus(engine, SystemClock())
            workload = Workload(directory, random.Random(1234))
            deadline = time.monotonic() + 120
            await run_workload(bus, workload, tickets=1, total=1, concurrency=1, deadline=deadline)
            await run_workload(bus, workload, tickets=8, total=40, concurrency=args.concurrency, deadline=deadline)
            timing = await run_workload(
                bus,
                workload,
                tickets=args.tickets,
                total=args.commands,
                concurrency=args.concurrency,
                deadline=deadline,
            )
        finally:
            await engine.dispose()
    print(f"{args.backend} c={args.concurrency} patches={args.patch or '-'}: {timing.summary()}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("commands", "drain"))
    parser.add_argument("--patch", action="append", choices=sorted(PATCHES), default=[])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--commands", type=int, default=3000)
    parser.add_argument("--tickets", type=int, default=300)
    args = parser.parse_args()
    for name in args.patch:
        PATCHES[name]()
    if args.what == "commands":
        asyncio.run(commands(args))
    else:
        outbox_drain.cli(["--backends", args.backend, "--json", os.devnull])


if __name__ == "__main__":
    cli()
