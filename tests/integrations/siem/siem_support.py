"""Outbox deliveries for the SIEM tests, built with the outbox's own ``envelope`` (so they are what rows hold),
and real outbox rows written through the bus."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import actor_for, build_bus, new_context
from psa_chatops.core import commands as c
from psa_chatops.core import events as ev
from psa_chatops.core.alerts import AlertSeverity
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import RoutingRule
from psa_chatops.core.tickets_state import Source
from psa_chatops.handlers.ports import Delivery, RecordedEvent
from psa_chatops.storage import tables as t
from psa_chatops.storage.outbox import envelope, idempotency_key
from tests.conftest import FrozenClock
from tests.fixtures_directory import seed_directory

OUTBOX = t.table_of(t.OutboxRow)
OCCURRED = datetime(2026, 11, 23, 9, 15, 42, 123456, tzinfo=UTC)


def ticket_summary(number: int = 12000, **overrides: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "number": number,
        "title": "Ransomware auf WS-CLIENT-042",
        "customer_id": "CUST-789",
        "contact_id": None,
        "asset_id": "WS-CLIENT-042",
        "priority": "high",
        "status": "new",
        "source": "alert",
        "assignee_id": None,
        "tags": ["security"],
        "escalation_level": 0,
        "version": 1,
        "first_response_due": "2026-11-23T10:15:00+00:00",
        "resolution_due": "2026-11-23T17:15:00+00:00",
    }
    return summary | overrides


def alert_event(number: int = 12000, *, asset: str | None = "WS-CLIENT-042", threat: str = "ransomware") -> ev.Event:
    link = ev.AlertLink(
        provider="rocketcyber",
        alert_id="RC-2025-1234",
        severity=AlertSeverity.CRITICAL,
        threat_type=threat,
        title="Ransomware behaviour detected",
        affected_asset=asset,
    )
    return ev.AlertReceived(number=number, occurred_at=OCCURRED, alert=link)


def opened_event(number: int = 12000) -> ev.Event:
    return ev.TicketOpened(
        number=number,
        occurred_at=OCCURRED,
        title="Drucker im 2. OG streikt",
        description="Papierstau\tund\nFehler 0x80",
        customer_id="CUST-789",
        priority=Priority.MEDIUM,
        source=Source.API,
    )


def delivery_for(
    event: ev.Event,
    destination: str,
    *,
    version: int = 1,
    row_id: int = 1,
    ticket: dict[str, Any] | None = None,
) -> Delivery:
    record = RecordedEvent(event, version, "technician:tom", "corr-7f3c", None)
    payload = envelope(record, ticket if ticket is not None else ticket_summary(event.number))
    return Delivery(
        id=row_id,
        idempotency_key=idempotency_key(record.event_id, destination),
        destination=destination,
        event_type=event.type,
        payload=payload,
    )


def deliveries(destination: str, n: int, *, start: int = 12000) -> list[Delivery]:
    return [delivery_for(alert_event(start + i), destination, row_id=i + 1) for i in range(n)]


async def open_tickets_for(engine: AsyncEngine, clock: FrozenClock, rule: RoutingRule, n: int) -> None:
    """``n`` tickets opened through the real bus, with ``rule`` as the only routing rule: ``n`` outbox rows."""
    await seed_directory(engine, rules=(rule,))
    bus = build_bus(engine, clock)
    tom = new_context(await actor_for(engine, clock, channel="test", external_id="tom"))
    for i in range(n):
        await bus.handle(c.OpenTicket(title=f"Firewall meldet Angriff {i}", customer_id="CUST-789"), tom)


async def rows(engine: AsyncEngine) -> list[tuple[str, int]]:
    async with engine.connect() as conn:
        return [(r.status, r.attempts) for r in (await conn.execute(select(OUTBOX).order_by(OUTBOX.c.id))).all()]
