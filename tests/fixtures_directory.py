"""A small, fixed directory for tests: two customers, a scoped technician, a dispatcher, a contact, assets."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core.directory import Asset, Contact, Customer, Role, Technician
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.core.sla import BusinessCalendar, SlaPolicy, SlaTarget
from psa_chatops.storage import directory_writer as w

STANDARD = SlaPolicy(
    "standard",
    "Standard",
    {
        Priority.CRITICAL: SlaTarget(timedelta(minutes=30), timedelta(hours=4)),
        Priority.HIGH: SlaTarget(timedelta(hours=1), timedelta(hours=8)),
        Priority.MEDIUM: SlaTarget(timedelta(hours=4), timedelta(hours=16)),
        Priority.LOW: SlaTarget(timedelta(hours=8), timedelta(hours=40)),
    },
    frozenset({Priority.CRITICAL}),
)
BERLIN = BusinessCalendar("Europe/Berlin", tuple([((time(8), time(17)),)] * 5 + [(), ()]), frozenset())
ACME = Customer("CUST-789", "Müller Maschinenbau GmbH", ("mueller-mb.de",), BERLIN, "standard", "de")
GLOBEX = Customer("CUST-100", "Globex Ltd", ("globex.co.uk",), BusinessCalendar("Europe/London"), "standard", "en")
ALICE = Technician("alice", "Alice Admin", "alice@msp.example", Role.ADMIN)
DORA = Technician("dora", "Dora Dispatcher", "dora@msp.example", Role.DISPATCHER)
TOM = Technician("tom", "Tom Technician", "tom@msp.example", Role.TECHNICIAN)
SCOPED = Technician("sam", "Sam Scoped", "sam@msp.example", Role.TECHNICIAN, frozenset({"CUST-100"}))
CONTACT = Contact("c-1", "CUST-789", "Petra Kunde", "petra@mueller-mb.de", "de")
WS42 = Asset("WS-CLIENT-042", "CUST-789", "WS-CLIENT-042", "ws-client-042.mueller.local")
SINK_RULE = RoutingRule(0, "webhook:http://127.0.0.1:9/hook", frozenset(Category), None, None, True)


async def seed_directory(engine: AsyncEngine, *, rules: tuple[RoutingRule, ...] = ()) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with engine.begin() as conn:
        await w.add_policies(conn, [STANDARD])
        await w.add_customers(conn, [ACME, GLOBEX])
        await w.add_technicians(conn, [ALICE, DORA, TOM, SCOPED])
        await w.add_contacts(conn, [CONTACT])
        await w.add_assets(conn, [WS42])
        for tech in (ALICE, DORA, TOM, SCOPED):
            await w.link_actor(conn, channel="test", external_id=tech.id, kind="technician", target_id=tech.id, now=now)
        await w.link_actor(conn, channel="test", external_id="petra", kind="contact", target_id=CONTACT.id, now=now)
        for rule in rules:
            await w.add_routing_rule(conn, rule, created_by="test", now=now)
