"""QRadarSyslogNotifier against a real rsyslogd on loopback: LEEF 2.0 in RFC 5424, octet-counted, TCP and TLS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.lifecycle import build_dispatcher
from psa_chatops.bot.settings import Settings
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.integrations.errors import PermanentDeliveryError, RetryableDeliveryError
from psa_chatops.integrations.resilience import BreakerBoard, BreakerPolicy
from psa_chatops.integrations.siem.build import close_siem
from psa_chatops.integrations.siem.config import QRadarDestination
from psa_chatops.integrations.siem.qradar import QRadarSyslogNotifier
from psa_chatops.storage.outbox import OutboxStore
from tests.bot.conftest import Monotonic
from tests.conftest import FrozenClock
from tests.integrations.siem.rsyslog import Rsyslog, rsyslogd_or_skip
from tests.integrations.siem.siem_support import alert_event, deliveries, delivery_for, open_tickets_for, rows

DEST = "qradar:soc"
EXPECTED_LEEF = (
    "LEEF:2.0|PSA ChatOps|psa-chatops|1.2.3|AlertReceived|"
    "devTime=2026-11-23T09:15:42.123+0000\tdevTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ\tsev=10\tcat=alert\t"
    "identHostName=WS-CLIENT-042\tusrName=technician:tom\teventId=12000:1\tticket=12000\tcustomer=CUST-789\t"
    "priority=high\tstatus=new\tprovider=rocketcyber\talertId=RC-2025-1234\tthreatType=ransomware\t"
    "correlationId=corr-7f3c\t"
    "msg=critical ransomware alert rocketcyber/RC-2025-1234 on WS-CLIENT-042: alert received (ticket #12000)"
)


_OPEN: list[QRadarSyslogNotifier] = []


@pytest.fixture
async def rsyslog(tmp_path: Path) -> AsyncIterator[Rsyslog]:
    daemon = Rsyslog(rsyslogd_or_skip(), tmp_path / "rsyslog")
    yield daemon
    while _OPEN:
        await _OPEN.pop().close()
    await daemon.stop()


def make_notifier(rsyslog: Rsyslog, **overrides: Any) -> QRadarSyslogNotifier:
    """A notifier at ``rsyslog`` (PRI 130 = local0 * 8 + crit for the critical alert); closed after the test."""
    config = QRadarDestination(**{"host": "127.0.0.1", "port": rsyslog.port, "hostname": "psa01", **overrides})
    notifier = QRadarSyslogNotifier({"soc": config}, version="1.2.3")
    _OPEN.append(notifier)
    return notifier


async def test_exact_leef_lines_arrive_in_one_write(rsyslog: Rsyslog) -> None:
    await rsyslog.start()
    qradar = make_notifier(rsyslog)
    batch = [delivery_for(alert_event(), DEST), *deliveries(DEST, 2, start=12001)]

    await asyncio.gather(*(qradar.deliver(d) for d in batch))

    raw = await rsyslog.lines(rsyslog.raw_log, 3)
    assert raw[0] == f"<130>1 2026-11-23T09:15:42.123Z psa01 psa-chatops - AlertReceived - {EXPECTED_LEEF}"
    parsed = await rsyslog.lines(rsyslog.parsed_log, 3)
    pri, stamp, host, app, procid, msgid, msg = parsed[0].split("\t", 6)
    assert (pri, host, app, procid, msgid) == ("130", "psa01", "psa-chatops", "-", "AlertReceived")
    assert stamp.startswith("2026-11-23T09:15:42.123")
    assert msg == EXPECTED_LEEF  # rsyslog's RFC 5424 parser finds MSG exactly where QRadar will
    assert [line.split("\t")[6].split("|")[4] for line in parsed] == ["AlertReceived"] * 3
    assert "ticket=12001" in parsed[1]
    assert "ticket=12002" in parsed[2]
    assert qradar.batchers["soc"].batches_sent == 1
    assert qradar.connections["soc"].connects == 1


async def test_tls_with_a_verified_certificate(rsyslog: Rsyslog, tmp_path: Path) -> None:
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    files = (tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem")
    await asyncio.to_thread(ca.cert_pem.write_to_path, str(files[0]))
    await asyncio.to_thread(server.cert_chain_pems[0].write_to_path, str(files[1]))
    await asyncio.to_thread(server.private_key_pem.write_to_path, str(files[2]))
    rsyslog.tls_files = files
    await rsyslog.start()

    qradar = make_notifier(rsyslog, tls=True, ca_file=str(files[0]))
    await qradar.deliver(delivery_for(alert_event(), DEST))
    [raw] = await rsyslog.lines(rsyslog.raw_log, 1)
    assert raw.endswith(EXPECTED_LEEF)

    stranger = tmp_path / "other-ca.pem"
    await asyncio.to_thread(trustme.CA().cert_pem.write_to_path, str(stranger))
    untrusting = make_notifier(rsyslog, tls=True, ca_file=str(stranger))
    with pytest.raises(PermanentDeliveryError, match="certificate not trusted"):
        await untrusting.deliver(delivery_for(alert_event(), DEST))


async def test_reconnects_after_the_collector_restarts(rsyslog: Rsyslog) -> None:
    await rsyslog.start()
    qradar = make_notifier(rsyslog)
    await qradar.deliver(delivery_for(alert_event(12000), DEST))
    await rsyslog.lines(rsyslog.raw_log, 1)

    await rsyslog.stop()
    with pytest.raises(RetryableDeliveryError, match=r"cannot connect to syslog 127\.0\.0\.1"):
        await qradar.deliver(delivery_for(alert_event(12001), DEST))
    await rsyslog.start()
    await qradar.deliver(delivery_for(alert_event(12002), DEST))

    raw = await rsyslog.lines(rsyslog.raw_log, 2)
    assert ["ticket=12000" in raw[0], "ticket=12002" in raw[1]] == [True, True]
    assert qradar.connections["soc"].connects == 2


async def test_collector_outage_breaker_then_every_event_once(
    rsyslog: Rsyslog, engine: AsyncEngine, clock: FrozenClock, http_session: aiohttp.ClientSession
) -> None:
    """The dispatcher from the settings: while rsyslog is down the rows wait (breaker open, attempts kept), after
    it comes back every ticket's event arrives exactly once."""
    await open_tickets_for(engine, clock, RoutingRule(0, DEST, frozenset({Category.NEW})), 3)
    settings = Settings(siem_qradar={"soc": {"host": "127.0.0.1", "port": rsyslog.port, "hostname": "psa01"}})
    dispatcher = build_dispatcher(settings, OutboxStore(engine), http_session, clock, engine=engine)
    mono = Monotonic()
    dispatcher.breakers = BreakerBoard(BreakerPolicy(failure_threshold=2, reset_timeout=30.0), now=mono)
    try:
        assert await dispatcher.run_once() == 3  # nobody listens: connection refused, one attempt each
        assert dispatcher.breakers.state(DEST) == "open"
        clock.advance(seconds=60)
        assert await dispatcher.run_once() == 3  # deferred without burning an attempt
        assert await rows(engine) == [("pending", 1)] * 3

        await rsyslog.start()
        for _ in range(10):
            clock.advance(seconds=600)
            mono.advance(timedelta(seconds=600))
            await dispatcher.run_once()
        assert [s for s, _ in await rows(engine)] == ["delivered"] * 3
        # a marker through the same connection: a duplicate written earlier would arrive before it (TCP order)
        await dispatcher.notifiers.for_destination(DEST).deliver(delivery_for(alert_event(99999), DEST))
        parsed = await rsyslog.lines(rsyslog.parsed_log, 4)
        tickets = [next(a for a in line.split("\t") if a.startswith("ticket=")) for line in parsed]
        assert len(set(tickets[:3])) == 3
        assert tickets[3] == "ticket=99999"
    finally:
        await close_siem(dispatcher.notifiers)
