"""The command driver for ``bench.kill9``: runs commands through the real bus against the service's database, one
at a time, and prints ``ACK <index> <ticket> <version>`` (flushed) only after each one committed.

Command ``i`` opens a ticket when ``i % 5 == 0`` and otherwise adds a note to the ticket opened by the last such
command; its title or note carries the marker ``[k9-<i>]``, so the checker can find every command in
``ticket_events``. Restarted with ``--start i``, it continues where the killed driver's last ACK left off.

    .venv/bin/python -m bench.kill9_driver --url sqlite+aiosqlite:///psa.db --start 0 --total 1000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import DISPATCHER, Directory, Workload
from psa_chatops.bot import demo_data as d
from psa_chatops.bot.bootstrap import build_bus
from psa_chatops.core import commands as c
from psa_chatops.core.tickets_state import Visibility
from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.unit_of_work import SystemClock

OPEN_EVERY = 5


def marker(index: int) -> str:
    return f"[k9-{index}]"


def demo_directory() -> Directory:
    """The directory ``seed_directory`` wrote (same seed, same order of random draws)."""
    rng = random.Random(d.SEED)
    customers = d.customers()
    contacts = d.contacts(rng, customers)
    return Directory(customers, contacts, d.assets(rng, customers))


async def main(url: str, start: int, total: int, pace: float, deadline: float) -> int:
    engine = create_engine(url)
    try:
        bus = build_bus(engine, SystemClock())
        workload = Workload(demo_directory(), random.Random(start))
        context = workload.context(DISPATCHER)
        current = await _ticket_opened_by(engine, start - start % OPEN_EVERY) if start % OPEN_EVERY else None
        for i in range(start, total):
            if time.monotonic() > deadline:
                print("TIMEOUT", flush=True)
                return 3
            command: c.Command
            if i % OPEN_EVERY == 0:
                command = workload.open_command(marker(i))
            else:
                assert current is not None
                command = c.AddNote(number=current, body=f"{marker(i)} still on it", visibility=Visibility.INTERNAL)
            view = await bus.handle(command, context)
            current = view.number
            print(f"ACK {i} {view.number} {view.version}", flush=True)
            if pace:
                await asyncio.sleep(pace)
        print("DONE", flush=True)
        return 0
    finally:
        await engine.dispose()


async def _ticket_opened_by(engine: AsyncEngine, index: int) -> int:
    table = t.table_of(t.TicketRow)
    async with engine.connect() as conn:
        stmt = select(table.c.number).where(table.c.title.contains(marker(index))).order_by(table.c.number.desc())
        number = (await conn.execute(stmt)).scalar()
    if number is None:
        raise SystemExit(f"ticket opened by command {index} not found; was it acknowledged?")
    return int(number)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--total", type=int, default=1000)
    parser.add_argument("--pace-ms", type=float, default=0.0, help="pause after each ACK")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_seconds
    sys.exit(asyncio.run(main(args.url, args.start, args.total, args.pace_ms / 1000, deadline)))


if __name__ == "__main__":
    cli()
