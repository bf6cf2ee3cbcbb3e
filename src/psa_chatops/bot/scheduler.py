"""Scheduled work (APScheduler 3.x): jobs only enqueue commands on the bus; the SLA sweep runs every minute.

With several replicas on PostgreSQL, a transaction-level advisory lock lets only one sweep run at a time; the
event stream would stop a duplicate threshold anyway, the lock just saves the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import system_context
from psa_chatops.core.commands import CheckSlaBreaches
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import Clock

logger = logging.getLogger(__name__)
SLA_SWEEP_LOCK = 0x50534153  # "PSAS"


async def sla_sweep(bus: MessageBus, engine: AsyncEngine, clock: Clock) -> None:
    if engine.dialect.name != "postgresql":
        await _sweep(bus, clock)
        return
    async with engine.connect() as conn, conn.begin():
        got = (await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SLA_SWEEP_LOCK})).scalar()
        if not got:
            logger.info("SLA sweep skipped: another replica holds the lock")
            return
        await _sweep(bus, clock)


async def _sweep(bus: MessageBus, clock: Clock) -> None:
    result = await bus.handle(CheckSlaBreaches(now=clock.now()), system_context("sla-sweep"))
    if result.warnings or result.breaches:
        logger.info("SLA sweep: %d checked, %d warnings, %d breaches", result.checked, result.warnings, result.breaches)


class ScheduledWork:
    """APScheduler only drops a job name into this queue; our own background task runs the work, so shutdown
    cancels and awaits it like every other task instead of leaving a job running on a disposed engine."""

    def __init__(self, bus: MessageBus, engine: AsyncEngine, clock: Clock) -> None:
        self.bus, self.engine, self.clock = bus, engine, clock
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=16)

    def enqueue(self, job: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a backlog of sweeps is one sweep
            self.queue.put_nowait(job)

    async def run(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                if job == "sla-sweep":
                    await sla_sweep(self.bus, self.engine, self.clock)
            except Exception:  # one failed sweep must not stop the next one
                logger.exception("scheduled job %s failed", job)


def build_scheduler(work: ScheduledWork, *, every_seconds: float) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        work.enqueue,
        "interval",
        seconds=every_seconds,
        args=["sla-sweep"],
        id="sla-sweep",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )
    return scheduler
