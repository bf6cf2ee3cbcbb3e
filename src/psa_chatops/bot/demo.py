"""``psa demo seed``: fills a sandbox with a realistic, deterministic MSP (fixed random seed).

Tickets are created through the real bus on a clock that walks through the past, so their histories, SLA
clocks and projections are exactly what production would have; a final sweep at "now" raises the warnings,
breaches and escalations that are due. Running it twice changes nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot import demo_data as d
from psa_chatops.bot.bootstrap import build_bus, new_context, system_context
from psa_chatops.core import commands as c
from psa_chatops.core.directory import Asset, Contact, Customer
from psa_chatops.core.priorities import Priority
from psa_chatops.core.tickets_state import Source, Status, Visibility
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import Actor, CommandContext
from psa_chatops.storage import directory_writer as w
from psa_chatops.storage import tables as t

DEMO_MARKER = "demo_seed"
DEMO_TICKETS = 500
SANDBOX_CHANNEL = "sandbox"
PRIORITY_WEIGHTS = ((Priority.CRITICAL, 4), (Priority.HIGH, 18), (Priority.MEDIUM, 50), (Priority.LOW, 28))


@dataclass
class WalkingClock:
    moment: datetime

    def now(self) -> datetime:
        return self.moment


@dataclass(frozen=True)
class SeedReport:
    customers: int
    assets: int
    technicians: int
    contacts: int
    tickets: int
    skipped: bool


async def _already_seeded(engine: AsyncEngine) -> bool:
    table = t.table_of(t.CounterRow)
    async with engine.connect() as conn:
        return (await conn.execute(select(table.c.value).where(table.c.name == DEMO_MARKER))).first() is not None


async def seed_directory(engine: AsyncEngine, now: datetime, rng: random.Random) -> dict[str, list[object]]:
    custs = d.customers()
    people, things = d.contacts(rng, custs), d.assets(rng, custs)
    async with engine.begin() as conn:
        await w.add_policies(conn, d.POLICIES)
        await w.add_customers(conn, custs)
        await w.add_technicians(conn, d.TECHNICIANS)
        await w.add_contacts(conn, people)
        await w.add_assets(conn, things)
        await w.add_maintenance_windows(conn, d.maintenance_windows(now, custs, things))
        for tech in d.TECHNICIANS:
            await w.link_actor(
                conn, channel=SANDBOX_CHANNEL, external_id=tech.id, kind="technician", target_id=tech.id, now=now
            )
        for rule in d.ROUTING_RULES:
            await w.add_routing_rule(conn, rule, created_by="demo-seed", now=now)
    return {"customers": list(custs), "contacts": list(people), "assets": list(things)}


async def seed(
    engine: AsyncEngine, *, now: datetime, tickets: int = DEMO_TICKETS, progress: Callable[[int], None] | None = None
) -> SeedReport:
    rng = random.Random(d.SEED)
    directory = await seed_directory(engine, now, rng)
    counts = {k: len(v) for k, v in directory.items()}
    if await _already_seeded(engine):
        return SeedReport(counts["customers"], counts["assets"], len(d.TECHNICIANS), counts["contacts"], 0, True)
    clock = WalkingClock(now)
    bus = build_bus(engine, clock)
    maker = _TicketMaker(bus, clock, rng, directory, now)
    for i in range(tickets):
        await maker.make(i)
        if progress:
            progress(1)
    clock.moment = now
    await bus.handle(c.CheckSlaBreaches(now=now), system_context("demo-seed"))
    async with engine.begin() as conn:
        await conn.execute(insert(t.table_of(t.CounterRow)).values(name=DEMO_MARKER, value=tickets))
    return SeedReport(counts["customers"], counts["assets"], len(d.TECHNICIANS), counts["contacts"], tickets, False)


def _tech_actor(tech_id: str) -> Actor:
    tech = next(x for x in d.TECHNICIANS if x.id == tech_id)
    return Actor(channel=SANDBOX_CHANNEL, external_id=tech.id, technician=tech, locale=tech.locale)


class _TicketMaker:
    """One ticket's life, replayed on the walking clock: opened, assigned, worked, waited, resolved, closed."""

    def __init__(
        self,
        bus: MessageBus,
        clock: WalkingClock,
        rng: random.Random,
        directory: dict[str, list[object]],
        now: datetime,
    ) -> None:
        self.bus, self.clock, self.rng, self.now = bus, clock, rng, now
        self.customers: list[Customer] = directory["customers"]  # type: ignore[assignment]
        self.contacts: list[Contact] = directory["contacts"]  # type: ignore[assignment]
        self.assets: list[Asset] = directory["assets"]  # type: ignore[assignment]

    def _ctx(self, tech_id: str) -> CommandContext:
        return new_context(_tech_actor(tech_id))

    def _tech_for(self, customer_id: str) -> str:
        able = [x.id for x in d.TECHNICIANS if x.can_see_customer(customer_id) and x.role.value == "technician"]
        return self.rng.choice(able)

    async def _at(self, minutes: float, command: c.Command, tech_id: str) -> bool:
        moment = self.clock.moment + timedelta(minutes=minutes)
        if moment >= self.now:
            return False
        self.clock.moment = moment
        await self.bus.handle(command, self._ctx(tech_id))
        return True

    async def make(self, i: int) -> None:
        rng = self.rng
        customer = rng.choice(self.customers)
        german = customer.locale == "de"
        asset = rng.choice([a for a in self.assets if a.customer_id == customer.id] or [None])
        title = rng.choice(d.TICKET_TITLES)[0 if german else 1].format(asset=asset.name if asset else "SRV-01")
        priority = rng.choices([p for p, _ in PRIORITY_WEIGHTS], [w for _, w in PRIORITY_WEIGHTS])[0]
        old = rng.random() < 0.45
        age = timedelta(days=rng.uniform(3, 30)) if old else timedelta(hours=rng.uniform(0.1, 60))
        self.clock.moment = self.now - age
        contact = rng.choice([p for p in self.contacts if p.customer_id == customer.id])
        view = await self.bus.handle(
            c.OpenTicket(
                title=title,
                customer_id=customer.id,
                priority=priority,
                contact_id=contact.id,
                asset_id=asset.id if asset else None,
                description=f"{title}.\n\n— {contact.name}",
                source=rng.choice(list(Source)),
                tags=("demo",),
            ),
            self._ctx("t-dispatch"),
        )
        await self._work(view.number, customer.id, old=old, german=german)

    async def _work(self, number: int, customer_id: str, *, old: bool, german: bool) -> None:
        rng, tech = self.rng, self._tech_for(customer_id)
        if not old and rng.random() < 0.3:
            return  # still new and unassigned: these are the ones at risk
        if not await self._at(rng.uniform(5, 90), c.AssignTicket(number=number, assignee_id=tech), "t-dispatch"):
            return
        reply = "Wir kümmern uns darum." if german else "We are looking into it."
        await self._at(rng.uniform(5, 60), c.AddNote(number=number, body=reply, visibility=Visibility.PUBLIC), tech)
        if rng.random() < 0.5:
            await self._at(rng.uniform(10, 120), c.ChangeStatus(number=number, status=Status.IN_PROGRESS), tech)
        if rng.random() < 0.25 and not await self._at(
            rng.uniform(10, 240), c.ChangeStatus(number=number, status=Status.WAITING_CUSTOMER), tech
        ):
            return
        if old:
            resolution = "Problem behoben." if german else "Issue fixed."
            await self._at(
                rng.uniform(60, 600), c.ChangeStatus(number=number, status=Status.RESOLVED, resolution=resolution), tech
            )
            if rng.random() < 0.7:
                await self._at(rng.uniform(60, 2000), c.CloseTicket(number=number, resolution=resolution), tech)
