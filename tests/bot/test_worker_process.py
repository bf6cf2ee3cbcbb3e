"""``psa worker``: the background half on its own delivers what the web half committed, and stops cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from psa_chatops.bot.bootstrap import actor_for, build_bus, new_context
from psa_chatops.bot.settings import Settings
from psa_chatops.bot.worker_process import run_worker
from psa_chatops.core import commands as c
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.migrations import upgrade
from psa_chatops.storage.unit_of_work import SystemClock
from tests.fakes.sink import RunningSink
from tests.fixtures_directory import seed_directory


async def test_worker_delivers_and_stops_on_signal(tmp_path: Path, sink: RunningSink) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}"
    engine = await asyncio.to_thread(create_engine, url)
    await upgrade(engine)
    await seed_directory(engine, rules=(RoutingRule(0, sink.destination(), frozenset({Category.NEW})),))
    clock = SystemClock()
    tom = new_context(await actor_for(engine, clock, channel="test", external_id="tom"))
    await build_bus(engine, clock).handle(c.OpenTicket(title="Printer", customer_id="CUST-789"), tom)
    await engine.dispose()

    stop = asyncio.Event()
    settings = Settings(database_url=url, dispatcher_poll_seconds=0.05, sla_sweep_seconds=3600, log_format="text")
    worker = asyncio.create_task(run_worker(settings, stop=stop))
    try:
        received = await sink.state.wait_for(1, timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)
    assert received[0].json()["type"] == "TicketOpened"
    assert worker.done()
    assert worker.exception() is None
