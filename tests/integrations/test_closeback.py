"""Close-back and isolation end to end: closing or resolving a security ticket (any channel: the bus as Slack and
Teams call it, and the REST API) writes exactly one ``soc:<provider>`` outbox row in the same transaction, and the
real dispatcher delivers it to the loopback SentinelOne fake, or through msal and Graph to the loopback Defender
fake (a 5xx there leaves the row for the next attempt); vendors without close-back get nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
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
from psa_chatops.integrations.calendar_graph import GRAPH_SCOPE
from psa_chatops.storage import tables as t
from psa_chatops.storage.outbox import OutboxStore
from tests.bot.api.conftest import Api, api, make_api
from tests.conftest import ContextFor, FrozenClock
from tests.fakes.defender import FakeDefender
from tests.fakes.graph import CLIENT_ID, CLIENT_SECRET, TENANT
from tests.fakes.sentinelone import TOKEN, FakeSentinelOne, start_fake_sentinelone
from tests.integrations.security.conftest import mde, tls, tls_session
from tests.integrations.security.test_defender_api import alert as graph_alert
from tests.integrations.security.test_sentinelone_api import threat

OUTBOX = t.table_of(t.OutboxRow)
# The REST API fixtures, used here as in tests/bot/api; the Defender fake and a session trusting its TLS, as in
# tests/integrations/security.
__all__ = ["api", "make_api", "mde", "tls", "tls_session"]


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


async def drain(engine: AsyncEngine, settings: Settings, session: aiohttp.ClientSession, clock: FrozenClock) -> int:
    """One pass of the real dispatcher, wired from ``settings`` as the service wires it."""
    dispatcher = build_dispatcher(settings, OutboxStore(engine), session, clock, engine=engine)
    return await dispatcher.drain()


async def deliver(engine: AsyncEngine, s1: FakeSentinelOne, session: aiohttp.ClientSession, clock: FrozenClock) -> int:
    return await drain(engine, Settings(sentinelone_url=s1.url, sentinelone_api_token=TOKEN), session, clock)


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


# --- Microsoft Defender: msal client credentials, then Graph PATCH /security/alerts_v2/{id} ------------------------

DEFENDER_ALERT = "da638702391234567890_-1122334455"  # Graph's alert ids look like this


def defender_settings(mde: FakeDefender) -> Settings:
    """Defender's own app credentials (no Graph calendar or mail settings: only the ``soc:`` notifier is on)."""
    return Settings(
        defender_tenant_id=TENANT,
        defender_client_id=CLIENT_ID,
        defender_client_secret=SecretStr(CLIENT_SECRET),
        graph_authority_url=mde.authority_url,
        graph_api_url=mde.graph_url,
        defender_endpoint_api_url=mde.endpoint_url,
    )


async def ingest_defender_alert(mde: FakeDefender, bus: MessageBus, ctx: CommandContext) -> int:
    """The alert known to the fake (unresolved) and ingested here, as the Graph poller hands it on."""
    mde.state.alerts = [graph_alert(DEFENDER_ALERT, 10, device="mde-1")]
    return await ingest(bus, ctx, s1_alert(provider="defender", alert_id=DEFENDER_ALERT, device_id="mde-1"))


async def test_a_false_positive_verdict_resolves_the_alert_in_graph(
    db: AsyncEngine,
    bus: MessageBus,
    context_for: ContextFor,
    mde: FakeDefender,
    tls_session: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    tom = await context_for("tom")
    number = await ingest_defender_alert(mde, bus, tom)
    verdict = c.ClassifyAlert(
        provider="defender",
        alert_id=DEFENDER_ALERT,
        classification=AlertClassification.FALSE_POSITIVE,
        comment="EICAR test file",
    )

    view: AlertView = await bus.handle(verdict, tom)  # closes the ticket with the verdict as its resolution
    rows = await soc_rows(db)

    assert (view.status, view.classification) == ("resolved", "false_positive")
    assert [(r.destination, r.event_type, r.ticket_number, r.status) for r in rows] == [
        ("soc:defender", "SecurityAlertAction", number, "pending")
    ]
    assert rows[0].payload == {
        "action": "resolve",
        "provider": "defender",
        "alert_id": DEFENDER_ALERT,
        "classification": "false_positive",
        "device": None,
    }
    assert mde.state.calls == []  # nothing reaches Defender before the dispatcher runs

    assert await drain(db, defender_settings(mde), tls_session, clock) == 1

    (token_request,) = mde.graph.of("token")
    assert (token_request.body["grant_type"], token_request.body["client_id"]) == ("client_credentials", CLIENT_ID)
    assert GRAPH_SCOPE in token_request.body["scope"].split()
    (issued,) = mde.graph.tokens
    (patch,) = mde.state.calls
    assert (patch.method, patch.path, patch.query) == ("PATCH", f"/v1.0/security/alerts_v2/{DEFENDER_ALERT}", {})
    assert patch.authorization == f"Bearer {issued}"
    assert patch.body == {"status": "resolved", "classification": "falsePositive", "determination": "notMalicious"}
    resolved = mde.state.alert(DEFENDER_ALERT)
    assert (resolved["status"], resolved["classification"], resolved["determination"]) == (
        "resolved",
        "falsePositive",
        "notMalicious",
    )
    assert [(r.status, r.attempts, r.last_error) for r in await soc_rows(db)] == [("delivered", 1, None)]


async def test_a_server_error_at_graph_keeps_the_row_for_the_next_attempt(
    db: AsyncEngine,
    bus: MessageBus,
    context_for: ContextFor,
    mde: FakeDefender,
    tls_session: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    tom = await context_for("tom")
    number = await ingest_defender_alert(mde, bus, tom)
    await bus.handle(c.CloseTicket(number=number, resolution="Reimaged the machine."), tom)
    mde.state.fail_next(1, status=500, retry_after=None)

    assert await drain(db, defender_settings(mde), tls_session, clock) == 1

    (row,) = await soc_rows(db)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at > clock.now()
    assert "500" in (row.last_error or "")
    assert mde.state.alert(DEFENDER_ALERT)["status"] == "new"  # the failed PATCH changed nothing
    assert await drain(db, defender_settings(mde), tls_session, clock) == 0  # backing off: not due yet

    clock.advance(minutes=15)  # past the longest backoff (PSA_OUTBOX_BACKOFF_CAP_SECONDS, 600 s)
    assert await drain(db, defender_settings(mde), tls_session, clock) == 1

    assert [call.body for call in mde.state.of("PATCH", "/v1.0/security/alerts_v2/")] == [
        {"status": "resolved", "classification": "truePositive", "determination": "other"}
    ] * 2  # the same request again: setting a status is idempotent
    assert mde.state.alert(DEFENDER_ALERT)["status"] == "resolved"
    assert [(r.status, r.attempts) for r in await soc_rows(db)] == [("delivered", 2)]
