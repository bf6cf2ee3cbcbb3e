"""Close-back and isolation end to end: closing or resolving a security ticket (any channel: the bus as Slack and
Teams call it, and the REST API) writes exactly one ``soc:<provider>`` outbox row in the same transaction, and the
real dispatcher delivers it to the loopback SentinelOne fake; vendors without close-back get nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot import keys
from psa_chatops.bot.lifecycle import build_dispatcher
from psa_chatops.bot.settings import Settings
from psa_chatops.core import commands as c
from psa_chatops.core.alerts import AlertClassification, AlertSeverity, AlertSignal
from psa_chatops.core.errors import ForbiddenError, InvalidError
from psa_chatops.core.tickets_state import Status
from psa_chatops.handlers.alert_queries import show_alert
from psa_chatops.handlers.alert_views import AlertIngestView, AlertView
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import CommandContext
from psa_chatops.storage import tables as t
from psa_chatops.storage.outbox import OutboxStore
from tests.bot.api.conftest import Api, api, make_api
from tests.conftest import ContextFor, FrozenClock
from tests.fakes.sentinelone import TOKEN, FakeSentinelOne, start_fake_sentinelone
from tests.integrations.security.test_sentinelone_api import threat

OUTBOX = t.table_of(t.OutboxRow)
__all__ = ["api", "make_api"]  # the REST API fixtures, used here as in tests/bot/api


@pytest.fixture
async def s1(aiohttp_server: AiohttpServer) -> FakeSentinelOne:
    fake = await start_fake_sentinelone(aiohttp_server)
    fake.state.threats = [threat("77", 10, agent="agent-1")]
    fake.state.agents = {"agent-1"}
    return fake


def s1_alert(**changes: Any) -> AlertSignal:
    base = AlertSignal(
        provider="sentinelone",
        alert_id="77",
        severity=AlertSeverity.HIGH,
        threat_type="Malware",
        title="evil-77.exe",
        affected_asset="WS-CLIENT-042",
        customer_ref="CUST-789",
        device_id="agent-1",
    )
    return replace(base, **changes)


async def ingest(bus: MessageBus, ctx: CommandContext, signal: AlertSignal) -> int:
    result: AlertIngestView = await bus.handle(c.IngestAlert(signal=signal), ctx)
    assert result.ticket is not None
    return result.ticket.number


async def soc_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        stmt = select(OUTBOX).where(OUTBOX.c.destination.like("soc:%")).order_by(OUTBOX.c.id)
        return list((await conn.execute(stmt)).all())


async def deliver(engine: AsyncEngine, s1: FakeSentinelOne, session: aiohttp.ClientSession, clock: FrozenClock) -> int:
    settings = Settings(sentinelone_url=s1.url, sentinelone_api_token=TOKEN)
    dispatcher = build_dispatcher(settings, OutboxStore(engine), session, clock, engine=engine)
    return await dispatcher.drain()


async def test_closing_an_alert_ticket_resolves_the_alert_at_sentinelone(
    db: AsyncEngine,
    bus: MessageBus,
    context_for: ContextFor,
    s1: FakeSentinelOne,
    http_session: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    tom = await context_for("tom")
    number = await ingest(bus, tom, s1_alert())
    assert await soc_rows(db) == []

    await bus.handle(c.CloseTicket(number=number, resolution="Reimaged the machine."), tom)

    rows = await soc_rows(db)
    assert [(r.destination, r.event_type, r.ticket_number, r.status) for r in rows] == [
        ("soc:sentinelone", "SecurityAlertAction", number, "pending")
    ]
    assert rows[0].payload == {
        "action": "resolve",
        "provider": "sentinelone",
        "alert_id": "77",
        "classification": "true_positive",  # closed normally: it was real work
        "device": None,
    }
    view: AlertView = await bus.read(lambda uow: _show(uow), tom)
    assert (view.status, view.classification, view.actions) == ("resolved", "true_positive", ())

    assert await deliver(db, s1, http_session, clock) >= 1
    info = s1.state.threat("77")["threatInfo"]
    assert (info["analystVerdict"], info["incidentStatus"]) == ("true_positive", "resolved")
    assert [r.status for r in await soc_rows(db)] == ["delivered"]


async def _show(uow: Any) -> AlertView:
    return await show_alert("sentinelone", "77", uow=uow)


async def test_resolved_then_closed_writes_one_row_and_a_false_positive_carries_its_verdict(
    db: AsyncEngine,
    bus: MessageBus,
    context_for: ContextFor,
    s1: FakeSentinelOne,
    http_session: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    tom = await context_for("tom")
    number = await ingest(bus, tom, s1_alert())
    await bus.handle(c.ChangeStatus(number=number, status=Status.RESOLVED), tom)
    await bus.handle(c.CloseTicket(number=number, resolution="done"), tom)
    assert len(await soc_rows(db)) == 1  # resolved -> closed finishes nothing new

    other = await ingest(bus, tom, s1_alert(alert_id="78", affected_asset="WS-OTHER", title="x"))
    await bus.handle(
        c.ClassifyAlert(
            provider="sentinelone", alert_id="78", classification=AlertClassification.FALSE_POSITIVE, comment="EICAR"
        ),
        tom,
    )
    rows = await soc_rows(db)
    assert len(rows) == 2
    assert (rows[1].ticket_number, rows[1].payload["classification"]) == (other, "false_positive")
    s1.state.threats.append(threat("78", 11))
    assert await deliver(db, s1, http_session, clock) >= 2
    assert s1.state.threat("78")["threatInfo"]["analystVerdict"] == "false_positive"


@pytest.mark.parametrize("provider", ["rocketcyber", "barracuda-xdr", "acme-siem"])
async def test_providers_without_close_back_get_no_row(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor, provider: str
) -> None:
    tom = await context_for("tom")
    number = await ingest(bus, tom, s1_alert(provider=provider, device_id=None))
    await bus.handle(c.CloseTicket(number=number, resolution="done"), tom)
    assert await soc_rows(db) == []


async def test_isolation_is_for_admins_and_reaches_the_vendor(
    db: AsyncEngine,
    bus: MessageBus,
    context_for: ContextFor,
    s1: FakeSentinelOne,
    http_session: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    tom, alice = await context_for("tom"), await context_for("alice")
    await ingest(bus, tom, s1_alert())
    with pytest.raises(ForbiddenError):
        await bus.handle(c.IsolateDevice(provider="sentinelone", alert_id="77"), tom)
    assert await soc_rows(db) == []

    view: AlertView = await bus.handle(c.IsolateDevice(provider="sentinelone", alert_id="77"), alice)
    assert "isolate" in view.actions  # alice is an admin; the device id is known
    rows = await soc_rows(db)
    assert [r.payload for r in rows] == [
        {"action": "isolate", "provider": "sentinelone", "alert_id": "77", "classification": None, "device": "agent-1"}
    ]
    assert await deliver(db, s1, http_session, clock) >= 1
    assert s1.state.disconnected == ["agent-1"]


async def test_no_isolation_without_a_device_id(db: AsyncEngine, bus: MessageBus, context_for: ContextFor) -> None:
    alice = await context_for("alice")
    await ingest(bus, alice, s1_alert(device_id=None))
    with pytest.raises(InvalidError):
        await bus.handle(c.IsolateDevice(provider="sentinelone", alert_id="77"), alice)
    assert await soc_rows(db) == []


async def test_resolving_through_the_rest_api_writes_the_row_in_the_same_transaction(api: Api) -> None:
    document = {
        "provider": "SentinelOne",
        "alert_id": "S1-4711",
        "severity": "critical",
        "threat_type": "ransomware",
        "affected_asset": "WS-CLIENT-042",
        "customer_id": "CUST-789",
        "action": "create_ticket",
    }
    auth = await api.auth("alerts:write", "tickets:read", "tickets:write")
    created = await api.client.post("/api/v1/security/alerts", json=document, headers=auth)
    assert created.status == 201, await created.text()
    number = (await created.json())["ticket_number"]
    engine = api.app[keys.ENGINE]
    assert await soc_rows(engine) == []

    changed = await api.client.patch(f"/api/v1/tickets/{number}", json={"status": "resolved"}, headers=auth)
    assert changed.status == 200, await changed.text()

    rows = await soc_rows(engine)
    assert [(r.destination, r.ticket_number, r.payload["action"], r.payload["classification"]) for r in rows] == [
        ("soc:sentinelone", number, "resolve", "true_positive")
    ]
    assert rows[0].payload["alert_id"] == "S1-4711"
