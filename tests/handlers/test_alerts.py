"""Alert use-cases through the bus on SQLite and PostgreSQL: de-duplication, correlation, triage, severity
mapping, ``ignore``/``notify_only``, and the card actions (acknowledge, false positive, escalate, create ticket)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core import commands as c
from psa_chatops.core.alerts import AlertAction, AlertClassification, AlertSeverity, AlertSignal
from psa_chatops.core.errors import ConflictError, ForbiddenError, NotFoundError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.handlers import alert_queries, queries
from psa_chatops.handlers.alert_ports import AlertFilter
from psa_chatops.handlers.alert_views import AlertIngestView, AlertView
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import CommandContext
from psa_chatops.storage import directory_writer as w
from psa_chatops.storage import security_alerts as sa
from psa_chatops.storage import tables as t
from tests.conftest import FrozenClock
from tests.handlers.conftest import ContextFor

SOC = RoutingRule(0, "webhook:http://127.0.0.1:9/soc", frozenset({Category.ALERT}))
NEW = RoutingRule(0, "webhook:http://127.0.0.1:9/new", frozenset({Category.NEW}))


def alert(alert_id: str = "RC-2025-1234", **changes: Any) -> AlertSignal:
    base = AlertSignal(
        provider="rocketcyber",
        alert_id=alert_id,
        severity=AlertSeverity.HIGH,
        threat_type="ransomware",
        title="",
        affected_asset="ws-client-042",  # the asset's short hostname, lower case
        customer_ref="CUST-789",
    )
    return replace(base, **changes)


@pytest.fixture
async def routed(db: AsyncEngine) -> AsyncEngine:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.begin() as conn:
        for rule in (SOC, NEW):
            await w.add_routing_rule(conn, rule, created_by="test", now=now)
    return db


@pytest.fixture
async def alice(context_for: ContextFor) -> CommandContext:
    return await context_for("alice")


async def ingest(bus: MessageBus, ctx: CommandContext, signal: AlertSignal) -> AlertIngestView:
    result: AlertIngestView = await bus.handle(c.IngestAlert(signal=signal), ctx)
    return result


async def outbox_rows(engine: AsyncEngine) -> list[Any]:
    table = t.table_of(t.OutboxRow)
    async with engine.connect() as conn:
        return list((await conn.execute(select(table).order_by(table.c.id))).all())


async def count(engine: AsyncEngine, model: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(t.table_of(model)))).scalar_one())


async def test_a_new_alert_opens_a_ticket_with_the_alert_link(
    routed: AsyncEngine, bus: MessageBus, alice: CommandContext
) -> None:
    result = await ingest(bus, alice, alert())

    assert result.outcome == "new_ticket"
    assert result.created
    assert result.ticket is not None
    assert (result.ticket.source, result.ticket.priority, result.ticket.customer_id) == ("alert", "high", "CUST-789")
    assert result.ticket.asset_id == "WS-CLIENT-042"  # short host name matched the asset's FQDN
    assert result.ticket.title == "ransomware - ws-client-042"
    assert result.alert.ticket_number == result.ticket.number
    assert (result.alert.count, result.alert.status, result.alert.asset) == (1, "new", "WS-CLIENT-042")
    rows = await outbox_rows(routed)
    assert sorted((r.destination.rsplit("/", 1)[1], r.event_type) for r in rows) == [
        ("new", "TicketOpened"),
        ("soc", "AlertReceived"),
    ]
    alert_row = next(r for r in rows if r.event_type == "AlertReceived")
    assert alert_row.payload["data"]["alert"] == {
        "provider": "rocketcyber",
        "alert_id": "RC-2025-1234",
        "severity": "high",
        "threat_type": "ransomware",
        "title": "ransomware - ws-client-042",
        "affected_asset": "ws-client-042",
        "asset_id": "WS-CLIENT-042",
    }


async def test_a_duplicate_counts_on_the_same_ticket_and_sends_nothing(
    routed: AsyncEngine, bus: MessageBus, alice: CommandContext, clock: FrozenClock
) -> None:
    first = await ingest(bus, alice, alert())
    clock.advance(minutes=5)
    again = await ingest(bus, alice, alert(severity=AlertSeverity.CRITICAL))

    assert again.outcome == "duplicate"
    assert not again.created
    assert again.ticket is None
    assert again.alert.ticket_number == first.alert.ticket_number
    assert again.alert.count == 2
    assert again.alert.first_seen == first.alert.first_seen
    assert again.alert.last_seen == clock.now()
    assert len(await outbox_rows(routed)) == 2  # only the first alert's rows
    assert await count(routed, t.TicketRow) == 1


async def test_concurrent_copies_of_one_alert_make_one_ticket(
    db: AsyncEngine, bus: MessageBus, alice: CommandContext
) -> None:
    results = await asyncio.gather(*(ingest(bus, alice, alert()) for _ in range(40)))

    assert sorted(r.outcome for r in results).count("new_ticket") == 1
    assert {r.alert.ticket_number for r in results} == {results[0].alert.ticket_number}
    assert await count(db, t.TicketRow) == 1
    assert await count(db, t.SecurityAlertRow) == 1
    stored = await bus.read(lambda uow: alert_queries.show_alert("rocketcyber", "RC-2025-1234", uow=uow), alice)
    assert stored.count == 40


async def test_the_same_asset_and_threat_within_the_window_joins_the_open_ticket(
    routed: AsyncEngine, bus: MessageBus, alice: CommandContext, clock: FrozenClock
) -> None:
    first = await ingest(bus, alice, alert("A-1"))
    clock.advance(minutes=30)
    second = await ingest(bus, alice, alert("A-2", affected_asset="WS-CLIENT-042.mueller.local", title="Again"))
    clock.advance(minutes=59)  # the window runs from the last alert seen
    third = await ingest(bus, alice, alert("A-3", severity=AlertSeverity.CRITICAL))

    assert (second.outcome, third.outcome) == ("correlated", "correlated")
    assert first.alert.ticket_number == second.alert.ticket_number == third.alert.ticket_number
    assert third.ticket is not None
    assert third.ticket.priority == "critical"
    history = await bus.read(
        lambda uow: queries.ticket_history(first.alert.ticket_number or 0, uow=uow),
        alice,
    )
    received = [r.event for r in history if r.event.type == "AlertReceived"]
    assert [(e.alert.alert_id, e.correlated) for e in received] == [("A-1", False), ("A-2", True), ("A-3", True)]
    on_ticket = await bus.read(lambda uow: alert_queries.ticket_alerts(first.alert.ticket_number or 0, uow=uow), alice)
    assert [a.alert_id for a in on_ticket] == ["A-1", "A-2", "A-3"]


async def test_outside_the_window_or_on_another_threat_a_new_ticket_opens(
    db: AsyncEngine, bus: MessageBus, alice: CommandContext, clock: FrozenClock
) -> None:
    first = await ingest(bus, alice, alert("A-1"))
    clock.advance(minutes=61)
    late = await ingest(bus, alice, alert("A-2"))
    other = await ingest(bus, alice, alert("A-3", threat_type="phishing"))

    assert (late.outcome, other.outcome) == ("new_ticket", "new_ticket")
    assert len({first.alert.ticket_number, late.alert.ticket_number, other.alert.ticket_number}) == 3


async def test_a_closed_ticket_takes_no_more_alerts(db: AsyncEngine, bus: MessageBus, alice: CommandContext) -> None:
    first = await ingest(bus, alice, alert("A-1"))
    await bus.handle(
        c.ClassifyAlert(provider="rocketcyber", alert_id="A-1", classification=AlertClassification.TRUE_POSITIVE),
        alice,
    )
    second = await ingest(bus, alice, alert("A-2"))

    assert second.outcome == "new_ticket"
    assert second.alert.ticket_number != first.alert.ticket_number


async def test_an_alert_of_no_known_customer_goes_to_triage_and_notifies(
    routed: AsyncEngine, bus: MessageBus, alice: CommandContext
) -> None:
    result = await ingest(bus, alice, alert(customer_ref="CUST-404", vendor_account="site-77"))

    assert result.outcome == "triage"
    assert result.created
    assert result.ticket is not None
    assert result.ticket.customer_id == "TRIAGE"
    assert "triage" in result.ticket.tags
    assert result.alert.customer_id is None
    assert result.alert.customer_ref == "CUST-404"
    assert result.alert.asset_id is None
    assert {r.event_type for r in await outbox_rows(routed)} == {"TicketOpened", "AlertReceived"}
    again = await ingest(bus, alice, alert("RC-2", customer_ref=None, vendor_account="site-77"))
    assert again.outcome == "triage"
    assert again.alert.ticket_number != result.alert.ticket_number


async def test_a_vendor_account_mapping_names_the_customer(
    db: AsyncEngine, bus: MessageBus, alice: CommandContext, clock: FrozenClock
) -> None:
    async with db.begin() as conn:
        await sa.put_mapping(
            conn, provider="sentinelone", account="site-9", customer_id="CUST-100", actor="test", now=clock.now()
        )
    result = await ingest(bus, alice, alert(provider="sentinelone", customer_ref=None, vendor_account="site-9"))

    assert result.outcome == "new_ticket"
    assert result.alert.customer_id == "CUST-100"
    assert result.alert.asset_id is None  # WS-CLIENT-042 belongs to another customer


async def test_a_new_mapping_takes_effect_for_the_next_alert(
    db: AsyncEngine, bus: MessageBus, alice: CommandContext, clock: FrozenClock
) -> None:
    before = await ingest(bus, alice, alert("S-1", provider="sentinelone", customer_ref=None, vendor_account="site-9"))
    async with db.begin() as conn:
        await sa.put_mapping(
            conn, provider="sentinelone", account="site-9", customer_id="CUST-789", actor="test", now=clock.now()
        )
    after = await ingest(bus, alice, alert("S-2", provider="sentinelone", customer_ref=None, vendor_account="site-9"))

    assert (before.outcome, before.alert.customer_id) == ("triage", None)
    assert (after.outcome, after.alert.customer_id, after.alert.asset_id) == ("new_ticket", "CUST-789", "WS-CLIENT-042")


async def test_severity_maps_to_priority_by_default_and_per_customer(
    db: AsyncEngine, bus: MessageBus, alice: CommandContext, clock: FrozenClock
) -> None:
    info = await ingest(bus, alice, alert("I-1", severity=AlertSeverity.INFORMATIONAL, affected_asset=None))
    async with db.begin() as conn:
        overrides = {AlertSeverity.INFORMATIONAL: Priority.MEDIUM, AlertSeverity.HIGH: Priority.CRITICAL}
        await sa.put_overrides(conn, "CUST-789", overrides, actor="test", now=clock.now())
    info2 = await ingest(bus, alice, alert("I-2", severity=AlertSeverity.INFORMATIONAL, affected_asset=None))
    high = await ingest(bus, alice, alert("H-1", affected_asset=None))
    medium = await ingest(bus, alice, alert("M-1", severity=AlertSeverity.MEDIUM, affected_asset=None))

    assert info.ticket is not None
    assert info.ticket.priority == "low"
    assert [r.ticket.priority for r in (info2, high, medium) if r.ticket] == ["medium", "critical", "medium"]


async def test_ignore_is_recorded_without_ticket_or_outbox_rows(
    routed: AsyncEngine, bus: MessageBus, alice: CommandContext
) -> None:
    result = await ingest(bus, alice, alert(action=AlertAction.IGNORE))

    assert result.outcome == "ignored"
    assert result.ticket is None
    assert (result.alert.status, result.alert.ticket_number, result.alert.action) == ("ignored", None, "ignore")
    assert await outbox_rows(routed) == []
    assert await count(routed, t.TicketEventRow) == 0


async def test_notify_only_announces_without_a_ticket_until_one_is_asked_for(
    routed: AsyncEngine, bus: MessageBus, alice: CommandContext
) -> None:
    result = await ingest(bus, alice, alert(action=AlertAction.NOTIFY_ONLY))

    assert result.outcome == "notify_only"
    assert result.ticket is None
    rows = await outbox_rows(routed)
    assert [(r.event_type, r.ticket_number) for r in rows] == [("AlertReceived", None)]
    assert rows[0].payload["ticket"] is None
    assert rows[0].payload["alert"]["alert_id"] == "RC-2025-1234"
    assert result.alert.actions[0] == "create_ticket"

    repeat = await ingest(bus, alice, alert(action=AlertAction.NOTIFY_ONLY))
    assert repeat.outcome == "duplicate"
    assert len(await outbox_rows(routed)) == 1
    upgraded = await ingest(bus, alice, alert())
    assert upgraded.outcome == "new_ticket"
    assert upgraded.alert.count == 3
    assert upgraded.ticket is not None


async def test_concurrent_requests_for_a_ticket_open_one(
    db: AsyncEngine, bus: MessageBus, alice: CommandContext
) -> None:
    await ingest(bus, alice, alert(action=AlertAction.NOTIFY_ONLY))

    results = await asyncio.gather(*(ingest(bus, alice, alert()) for _ in range(20)))

    assert sorted(r.outcome for r in results).count("new_ticket") == 1
    assert len({r.alert.ticket_number for r in results}) == 1
    assert await count(db, t.TicketRow) == 1


async def test_the_card_can_open_a_ticket_for_a_notify_only_alert(
    db: AsyncEngine, bus: MessageBus, alice: CommandContext
) -> None:
    await ingest(bus, alice, alert(action=AlertAction.NOTIFY_ONLY))
    opened: AlertIngestView = await bus.handle(
        c.OpenAlertTicket(provider="rocketcyber", alert_id="RC-2025-1234"), alice
    )

    assert opened.created
    assert opened.ticket is not None
    assert opened.alert.ticket_number == opened.ticket.number
    with pytest.raises(ConflictError):
        await bus.handle(c.OpenAlertTicket(provider="rocketcyber", alert_id="RC-2025-1234"), alice)


async def test_acknowledge_escalate_and_false_positive(
    routed: AsyncEngine, bus: MessageBus, alice: CommandContext
) -> None:
    result = await ingest(bus, alice, alert())
    key = {"provider": "rocketcyber", "alert_id": "RC-2025-1234"}

    acked: AlertView = await bus.handle(c.AcknowledgeAlert(**key), alice)
    assert acked.status == "acknowledged"
    assert "acknowledge" not in acked.actions
    with pytest.raises(ConflictError):
        await bus.handle(c.AcknowledgeAlert(**key), alice)
    escalated: AlertView = await bus.handle(c.EscalateAlert(**key, reason="lateral movement"), alice)
    assert escalated.status == "escalated"
    closed: AlertView = await bus.handle(
        c.ClassifyAlert(**key, classification=AlertClassification.FALSE_POSITIVE, comment="backup tool"), alice
    )
    assert (closed.status, closed.classification, closed.actions) == ("resolved", "false_positive", ())
    ticket = await bus.read(
        lambda uow: queries.show_ticket(
            result.alert.ticket_number or 0, uow=uow, now=datetime(2026, 11, 23, tzinfo=UTC)
        ),
        alice,
    )
    assert (ticket.status, ticket.resolution) == ("closed", "false_positive: backup tool")
    types = [r.event_type for r in await outbox_rows(routed)]
    assert types.count("AlertAcknowledged") == types.count("AlertEscalated") == types.count("AlertClassified") == 1


async def test_scoped_actors_see_only_their_customers_alerts(
    db: AsyncEngine, bus: MessageBus, alice: CommandContext, context_for: ContextFor
) -> None:
    await ingest(bus, alice, alert("A-1"))
    await ingest(bus, alice, alert("T-1", customer_ref=None))
    await ingest(bus, alice, alert("G-1", customer_ref="CUST-100", affected_asset=None))
    sam = await context_for("sam")  # CUST-100 only

    everything = await bus.read(lambda uow: alert_queries.list_alerts(AlertFilter(), uow=uow), alice)
    mine = await bus.read(lambda uow: alert_queries.list_alerts(AlertFilter(), uow=uow), sam)
    triage = await bus.read(lambda uow: alert_queries.list_alerts(AlertFilter(triage=True), uow=uow), alice)

    assert [a.alert_id for a in everything.alerts] == ["G-1", "T-1", "A-1"]
    assert [a.alert_id for a in mine.alerts] == ["G-1"]
    assert [a.alert_id for a in triage.alerts] == ["T-1"]
    with pytest.raises(NotFoundError):
        await bus.read(lambda uow: alert_queries.show_alert("rocketcyber", "A-1", uow=uow), sam)
    with pytest.raises(ForbiddenError):
        await ingest(bus, sam, alert("A-2"))


async def test_pages_continue_from_the_last_row(db: AsyncEngine, bus: MessageBus, alice: CommandContext) -> None:
    for i in range(5):
        await ingest(bus, alice, alert(f"P-{i}", action=AlertAction.IGNORE))

    first = await bus.read(lambda uow: alert_queries.list_alerts(AlertFilter(limit=3), uow=uow), alice)
    rest = await bus.read(
        lambda uow: alert_queries.list_alerts(AlertFilter(limit=3, before_id=first.next_before), uow=uow), alice
    )

    assert [a.alert_id for a in first.alerts] == ["P-4", "P-3", "P-2"]
    assert [a.alert_id for a in rest.alerts] == ["P-1", "P-0"]
    assert rest.next_before is None
