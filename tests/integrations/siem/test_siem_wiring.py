"""SIEM forwarding end to end: routing rule -> outbox row -> the real dispatcher (from the settings) -> HEC fake.

During an outage the breaker opens, rows wait without burning attempts, and after recovery every event arrives
exactly once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.lifecycle import build_dispatcher
from psa_chatops.bot.settings import Settings
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.integrations.resilience import BreakerBoard, BreakerPolicy
from psa_chatops.integrations.siem.elastic import ElasticBulkNotifier
from psa_chatops.integrations.siem.qradar import QRadarSyslogNotifier
from psa_chatops.integrations.siem.splunk import SplunkHecNotifier
from psa_chatops.storage.outbox import OutboxStore
from tests.bot.conftest import Monotonic
from tests.conftest import FrozenClock
from tests.fakes.splunk_hec import TOKEN, RunningHec, start_fake_hec
from tests.integrations.siem.siem_support import open_tickets_for, rows

DEST = "splunk:main"


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
async def hec(aiohttp_server: AiohttpServer) -> RunningHec:
    return await start_fake_hec(aiohttp_server)


def siem_settings(hec: RunningHec, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "siem_splunk": {"main": {"url": hec.url, "token": TOKEN, "host": "psa01"}},
        "breaker_failure_threshold": 2,
        "outbox_backoff_base_seconds": 1.0,
        "outbox_backoff_cap_seconds": 10.0,
    }
    return Settings(**{**values, **overrides})


async def open_tickets(engine: AsyncEngine, clock: FrozenClock, n: int) -> None:
    await open_tickets_for(engine, clock, RoutingRule(0, DEST, frozenset({Category.NEW})), n)


async def test_outage_opens_the_breaker_nothing_is_lost_and_all_arrive_once(
    engine: AsyncEngine,
    clock: FrozenClock,
    hec: RunningHec,
    http_session: aiohttp.ClientSession,
    monotonic: Monotonic,
) -> None:
    await open_tickets(engine, clock, 3)
    dispatcher = build_dispatcher(siem_settings(hec), OutboxStore(engine), http_session, clock, engine=engine)
    dispatcher.breakers = BreakerBoard(BreakerPolicy(failure_threshold=2, reset_timeout=30.0), now=monotonic)
    hec.state.down()

    assert await dispatcher.run_once() == 3
    assert len(hec.state.requests) == 1  # the three rows of the claim went out in one request
    assert await rows(engine) == [("pending", 1)] * 3
    assert dispatcher.breakers.state(DEST) == "open"
    clock.advance(seconds=60)
    assert await dispatcher.run_once() == 3  # deferred: no request, no attempt burnt
    assert len(hec.state.requests) == 1
    assert await rows(engine) == [("pending", 1)] * 3

    hec.state.up()
    for _ in range(10):
        clock.advance(seconds=120)
        monotonic.advance(timedelta(seconds=120))
        await dispatcher.run_once()
    assert [s for s, _ in await rows(engine)] == ["delivered"] * 3
    assert dispatcher.breakers.state(DEST) == "closed"
    keys = [e["fields"]["idempotency_key"] for e in hec.state.events]
    assert len(keys) == len(set(keys)) == 3
    assert {e["event"]["event_type"] for e in hec.state.events} == {"TicketOpened"}


async def test_sandbox_records_siem_rows_and_sends_nothing(
    engine: AsyncEngine, clock: FrozenClock, hec: RunningHec, http_session: aiohttp.ClientSession
) -> None:
    await open_tickets(engine, clock, 1)
    dispatcher = build_dispatcher(
        siem_settings(hec, sandbox=True), OutboxStore(engine), http_session, clock, engine=engine
    )
    assert await dispatcher.drain() == 1
    assert await rows(engine) == [("recorded", 1)]
    assert hec.state.requests == []


async def test_build_dispatcher_registers_each_configured_siem_kind(
    sqlite_engine: AsyncEngine, clock: FrozenClock, hec: RunningHec, http_session: aiohttp.ClientSession
) -> None:
    store = OutboxStore(sqlite_engine)
    plain = build_dispatcher(Settings(), store, http_session, clock, engine=sqlite_engine)
    assert not {"splunk", "elastic", "qradar"} & plain.notifiers.kinds()
    settings = siem_settings(
        hec,
        siem_elastic={"main": {"url": "https://es.example:9200", "api_key": "k"}},
        siem_qradar={"soc": {"host": "qradar.example", "tls": True}},
    )
    full = build_dispatcher(settings, store, http_session, clock, engine=sqlite_engine)
    assert isinstance(full.notifiers.for_destination("splunk:main"), SplunkHecNotifier)
    assert isinstance(full.notifiers.for_destination("elastic:main"), ElasticBulkNotifier)
    assert isinstance(full.notifiers.for_destination("qradar:soc"), QRadarSyslogNotifier)
    assert settings.siem_qradar["soc"].effective_port == 6514


def test_settings_name_the_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from psa_chatops.bot.settings import describe_validation_error

    monkeypatch.setenv("PSA_SIEM_QRADAR", '{"soc": {"host": "q", "delimiter": "="}}')
    with pytest.raises(Exception) as raised:  # noqa: PT011 - pydantic's ValidationError, described below
        Settings()
    assert "PSA_SIEM_QRADAR_SOC_DELIMITER" in describe_validation_error(raised.value)
    monkeypatch.setenv("PSA_SIEM_QRADAR", '{"soc": {"host": "q", "tokn": "x"}}')
    with pytest.raises(Exception) as raised:  # noqa: PT011
        Settings()
    assert "PSA_SIEM_QRADAR_SOC_TOKN: Extra inputs are not permitted" in describe_validation_error(raised.value)
