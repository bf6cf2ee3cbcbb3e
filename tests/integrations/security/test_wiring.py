"""The SOC vendors as the service wires them: settings -> clients, the ``soc:`` notifier in the real dispatcher
(an outbox row reaches the SentinelOne fake), the poll jobs in the scheduler's work queue, the polled alerts through
the real ingest use-case, and ``psa doctor``'s view of the settings."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import build_bus
from psa_chatops.bot.doctor import soc_checks
from psa_chatops.bot.lifecycle import build_dispatcher, ingest_sink
from psa_chatops.bot.scheduler import ScheduledWork, add_interval_job, build_scheduler
from psa_chatops.bot.settings import Settings
from psa_chatops.core.alerts import AlertClassification, AlertSeverity, AlertSignal
from psa_chatops.integrations.security.defender_api import DefenderClient
from psa_chatops.integrations.security.notifier import SOC_KIND, soc_payload
from psa_chatops.integrations.security.sentinelone_api import SentinelOneClient
from psa_chatops.integrations.security.wiring import soc_clients, soc_pollers
from psa_chatops.storage import tables as t
from psa_chatops.storage.outbox import OutboxStore
from tests.conftest import FrozenClock
from tests.fakes.sentinelone import TOKEN, FakeSentinelOne
from tests.integrations.security.test_sentinelone_api import threat

OUTBOX = t.table_of(t.OutboxRow)
ALERTS = t.table_of(t.SecurityAlertRow)


def s1_settings(s1: FakeSentinelOne, **extra: Any) -> Settings:
    return Settings(sentinelone_url=s1.url, sentinelone_api_token=TOKEN, **extra)


def test_clients_follow_the_settings() -> None:
    assert soc_clients(Settings(), session=None) == {}  # type: ignore[arg-type]
    defender_only = Settings(defender_tenant_id="t-1", graph_client_id="app", graph_client_secret="s")
    clients = soc_clients(defender_only, session=None)  # type: ignore[arg-type]
    assert list(clients) == ["defender"]
    assert isinstance(clients["defender"], DefenderClient)
    both = Settings(sentinelone_url="https://s1.example", sentinelone_api_token="x", **_defender())
    assert {k: type(v) for k, v in soc_clients(both, session=None).items()} == {  # type: ignore[arg-type]
        "sentinelone": SentinelOneClient,
        "defender": DefenderClient,
    }


def _defender() -> dict[str, Any]:
    return {"defender_tenant_id": "t-1", "defender_client_id": "app", "defender_client_secret": "s"}


def test_doctor_reports_the_vendors() -> None:
    assert [(c.name, c.ok) for c in soc_checks(Settings())] == [("soc vendors", True)]
    half = soc_checks(Settings(defender_tenant_id="t-1"))
    assert [(c.name, c.ok, c.fix) for c in half] == [
        (
            "defender",
            False,
            "set PSA_DEFENDER_CLIENT_ID and PSA_DEFENDER_CLIENT_SECRET (or PSA_GRAPH_CLIENT_ID/_SECRET)",
        )
    ]
    plain = soc_checks(Settings(sentinelone_url="http://s1.example", sentinelone_api_token="tok-123", **_defender()))
    assert [(c.name, c.ok) for c in plain] == [("sentinelone", False), ("defender", True)]
    assert not any("tok-123" in f"{c.detail} {c.fix}" for c in plain)


async def test_a_soc_row_goes_through_the_dispatcher_to_sentinelone(
    s1: FakeSentinelOne, sqlite_engine: AsyncEngine, http_session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    s1.state.threats = [threat("77", 10)]
    dispatcher = build_dispatcher(
        s1_settings(s1), OutboxStore(sqlite_engine), http_session, clock, engine=sqlite_engine
    )
    assert SOC_KIND in dispatcher.notifiers.kinds()
    payload = soc_payload("resolve", "sentinelone", "77", classification=AlertClassification.TRUE_POSITIVE)
    async with sqlite_engine.begin() as conn:
        await conn.execute(
            insert(OUTBOX).values(
                idempotency_key="soc-77-resolve",
                destination="soc:sentinelone",
                event_type="SecurityAlertAction",
                ticket_number=None,
                payload=payload,
                status="pending",
                attempts=0,
                next_attempt_at=clock.now(),
                created_at=clock.now(),
            )
        )
    assert await dispatcher.drain() == 1
    async with sqlite_engine.connect() as conn:
        (status,) = (await conn.execute(select(OUTBOX.c.status))).one()
    assert status == "delivered"
    info = s1.state.threat("77")["threatInfo"]
    assert (info["analystVerdict"], info["incidentStatus"]) == ("true_positive", "resolved")


async def test_poll_jobs_run_through_the_work_queue(
    s1: FakeSentinelOne, sqlite_engine: AsyncEngine, http_session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    s1.state.threats = [threat("1", 10), threat("2", 20)]
    handed_on: list[str] = []
    polled = asyncio.Event()

    async def sink(signals: list[AlertSignal]) -> None:
        handed_on.extend(s.alert_id for s in signals)
        polled.set()

    jobs = soc_pollers(s1_settings(s1), http_session, sqlite_engine, None, lambda provider: sink)
    assert list(jobs) == ["poll-sentinelone"]
    work = ScheduledWork(build_bus(sqlite_engine, clock), sqlite_engine, clock)
    scheduler = build_scheduler(work, every_seconds=3600)
    add_interval_job(scheduler, work, "poll-sentinelone", jobs["poll-sentinelone"], every_seconds=60)
    assert scheduler.get_job("poll-sentinelone") is not None
    runner = asyncio.create_task(work.run())
    try:
        work.enqueue("poll-sentinelone")
        await asyncio.wait_for(polled.wait(), timeout=10)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    assert handed_on == ["1", "2"]  # one page of two (the default page size is 100)


async def test_polled_alerts_take_the_ingest_use_case(db: AsyncEngine, clock: FrozenClock) -> None:
    bus = build_bus(db, clock)
    signal = AlertSignal(
        provider="sentinelone",
        alert_id="4711",
        severity=AlertSeverity.HIGH,
        threat_type="trojan",
        title="Trojan: evil.exe",
        affected_asset="WS-CLIENT-042",
        vendor_account="site-unknown",
        observed_at=clock.now() - timedelta(minutes=5),
    )
    sink = ingest_sink(bus, "sentinelone")
    await sink([signal])
    await sink([signal])  # polled again: the same record, counted, not a second one
    async with db.connect() as conn:
        rows = (await conn.execute(select(ALERTS).where(ALERTS.c.provider == "sentinelone"))).all()
    assert [(r.alert_id, r._mapping["count"]) for r in rows] == [("4711", 2)]
    assert "poller:sentinelone" in rows[0].created_by
