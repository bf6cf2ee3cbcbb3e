"""Scheduled work (APScheduler 3.x): jobs only enqueue commands on the bus; the SLA sweep runs every minute.

With several replicas on PostgreSQL, a transaction-level advisory lock lets only one sweep run at a time; the
event stream would stop a duplicate threshold anyway, the lock just saves the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import system_context
from psa_chatops.core.commands import CheckSlaBreaches
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import Clock
from psa_chatops.handlers.reports import WEEK, ReportMail, build_reports
from psa_chatops.storage.mail_sent import enqueue_reports, load_report_inputs
from psa_chatops.storage.sqlite_writer import SqliteWriter

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
        self.jobs: dict[str, Callable[[], Awaitable[object]]] = {}  # further jobs by name (the SOC pollers)

    def enqueue(self, job: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a backlog of sweeps is one sweep
            self.queue.put_nowait(job)

    async def run(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                if job == "sla-sweep":
                    await sla_sweep(self.bus, self.engine, self.clock)
                elif job in self.jobs:
                    await self.jobs[job]()
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


def add_interval_job(
    scheduler: AsyncIOScheduler,
    work: ScheduledWork,
    name: str,
    job: Callable[[], Awaitable[object]],
    *,
    every_seconds: float,
) -> None:
    """Run ``job`` every ``every_seconds`` through the work queue, like the SLA sweep (first run at once)."""
    work.jobs[name] = job
    scheduler.add_job(
        work.enqueue,
        "interval",
        seconds=every_seconds,
        args=[name],
        id=name,
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )


# --- scheduled reports: the daily SLA digest and the weekly customer summary, queued as outbox rows ---


async def send_report(
    report: str, *, engine: AsyncEngine, writer: SqliteWriter | None, clock: Clock, dry_run: bool = False
) -> tuple[list[ReportMail], int]:
    """Build ``report`` from one snapshot and queue its mails in one transaction (none with ``dry_run``); returns
    the mails and how many rows were added (a period already queued adds none, so a rerun never sends twice)."""
    now = clock.now()
    inputs = await load_report_inputs(engine, since=now - WEEK)
    mails = build_reports(report, inputs, now=now)
    if dry_run:
        return mails, 0
    added = await enqueue_reports(engine, writer, mails, now)
    logger.info("report %s: %d mails, %d queued", report, len(mails), added)
    return mails, added


def add_cron_job(
    scheduler: AsyncIOScheduler,
    work: ScheduledWork,
    name: str,
    job: Callable[[], Awaitable[object]],
    *,
    crontab: str,
    timezone: str,
) -> None:
    """Run ``job`` at the times of a crontab expression (in ``timezone``) through the work queue."""
    work.jobs[name] = job
    trigger = CronTrigger.from_crontab(crontab, timezone=timezone)
    scheduler.add_job(
        work.enqueue, trigger, args=[name], id=name, max_instances=1, coalesce=True, misfire_grace_time=3600
    )


def add_report_jobs(
    scheduler: AsyncIOScheduler,
    work: ScheduledWork,
    *,
    writer: SqliteWriter | None,
    schedules: dict[str, str],
    timezone: str,
) -> list[str]:
    """One cron job per report with a schedule (report name -> crontab; empty: off); returns the job names."""
    names = []
    for report, crontab in schedules.items():
        if not crontab:
            continue
        name = f"report:{report}"
        job = partial(send_report, report, engine=work.engine, writer=writer, clock=work.clock)
        add_cron_job(scheduler, work, name, job, crontab=crontab, timezone=timezone)
        names.append(name)
    return names


# --- end scheduled reports ---
