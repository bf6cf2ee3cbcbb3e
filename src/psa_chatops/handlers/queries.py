"""The read side: tickets as views for cards and the API. Reads never go through the bus (no events happen)."""

from __future__ import annotations

from datetime import datetime

from psa_chatops.core.errors import N_, NotFoundError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.sla import BusinessCalendar
from psa_chatops.core.tickets import SlaClock, Ticket
from psa_chatops.core.tickets_state import Status
from psa_chatops.handlers import actors
from psa_chatops.handlers.ports import RecordedEvent, TicketFilter, UnitOfWork
from psa_chatops.handlers.views import NoteView, SlaView, TicketListView, TicketSummaryView, TicketView

AT_RISK_PERCENT = 75.0
RECENT_NOTES = 5


def sla_state(clock: SlaClock, percent: float, ticket: Ticket) -> str:
    if clock.met_at is not None:
        return "met"
    if percent >= 100:
        return "breached"
    if not ticket.sla_running:
        return "paused"
    return "warning" if percent >= AT_RISK_PERCENT else "ok"


async def _calendar(uow: UnitOfWork, ticket: Ticket) -> BusinessCalendar:
    customer = await uow.directory.customer(ticket.customer_id)
    policy = await uow.directory.sla_policy(customer.sla_policy_id)
    return policy.calendar_for(ticket.priority, customer.calendar)


def sla_views(ticket: Ticket, calendar: BusinessCalendar, now: datetime) -> tuple[SlaView, ...]:
    views = []
    for name, clock in ticket.sla.items():
        running = clock.met_at is None
        elapsed = clock.elapsed(clock.met_at or now, calendar)
        percent = round(clock.percent_of(elapsed), 1) if running else 0.0
        views.append(
            SlaView(
                name.value,
                clock.due_at,
                percent,
                sla_state(clock, percent, ticket),
                target_seconds=clock.target_seconds,
                elapsed_seconds=round(elapsed),
            )
        )
    return tuple(views)


async def _name(uow: UnitOfWork, kind: str, key: str | None) -> str | None:
    if key is None:
        return None
    try:
        if kind == "technician":
            return (await uow.directory.technician(key)).name
        if kind == "contact":
            return (await uow.directory.contact(key)).name
        return (await uow.directory.asset(key)).name
    except NotFoundError:  # a dangling reference shows its id rather than failing the whole card
        return key


async def _author(uow: UnitOfWork, author_id: str) -> str:
    kind, _, key = author_id.partition(":")
    return (await _name(uow, kind, key) if kind in ("technician", "contact") else None) or author_id


async def ticket_view(uow: UnitOfWork, ticket: Ticket, now: datetime) -> TicketView:
    customer = await uow.directory.customer(ticket.customer_id)
    calendar = await _calendar(uow, ticket)
    notes = tuple(
        [
            NoteView(n.id, n.body, n.visibility.value, await _author(uow, n.author_id), n.created_at)
            for n in ticket.notes[-RECENT_NOTES:]
            if n.visibility.value == "public" or not uow.context.actor.contact
        ]
    )
    return TicketView(
        number=ticket.number,
        title=ticket.title,
        description=ticket.description,
        status=ticket.status.value,
        priority=ticket.priority.value,
        source=ticket.source.value,
        customer_id=ticket.customer_id,
        customer_name=customer.name,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        version=ticket.version,
        contact=await _name(uow, "contact", ticket.contact_id),
        asset=await _name(uow, "asset", ticket.asset_id),
        assignee_id=ticket.assignee_id,
        assignee=await _name(uow, "technician", ticket.assignee_id),
        contact_id=ticket.contact_id,
        asset_id=ticket.asset_id,
        tags=ticket.tags,
        resolution=ticket.resolution,
        escalation_level=ticket.escalation_level,
        sla=sla_views(ticket, calendar, now),
        notes=notes,
        actions=actors.allowed_actions(uow.context.actor, ticket),
    )


async def show_ticket(number: int, *, uow: UnitOfWork, now: datetime) -> TicketView:
    async with uow:
        actors.ensure_known(uow.context.actor)
        ticket = await uow.tickets.get(number)
        actors.ensure_sees_ticket(uow.context.actor, ticket)
        return await ticket_view(uow, ticket, now)


async def ticket_history(number: int, *, uow: UnitOfWork) -> list[RecordedEvent]:
    """Every event of a ticket, oldest first, if the actor may see the ticket."""
    async with uow:
        actors.ensure_known(uow.context.actor)
        ticket = await uow.tickets.get(number)
        actors.ensure_sees_ticket(uow.context.actor, ticket)
        return await uow.tickets.history(number)


async def summary(uow: UnitOfWork, ticket: Ticket, now: datetime) -> TicketSummaryView:
    customer = await uow.directory.customer(ticket.customer_id)
    slas = sla_views(ticket, await _calendar(uow, ticket), now)
    open_slas = [s for s in slas if s.state not in ("met",)]
    worst = max(open_slas, key=lambda s: s.percent, default=None)
    return TicketSummaryView(
        number=ticket.number,
        title=ticket.title,
        status=ticket.status.value,
        priority=ticket.priority.value,
        customer_name=customer.name,
        assignee=await _name(uow, "technician", ticket.assignee_id),
        next_due_at=min((s.due_at for s in open_slas if s.due_at), default=None),
        sla_state=worst.state if worst else "met",
        customer_id=ticket.customer_id,
        assignee_id=ticket.assignee_id,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
    )


async def list_tickets(query: TicketFilter, *, uow: UnitOfWork, now: datetime, title: str) -> TicketListView:
    async with uow:
        actors.ensure_known(uow.context.actor)
        scope = actors.visible_customers(uow.context.actor)
        if scope is not None:
            allowed = set(scope) if query.customer_ids is None else set(scope) & set(query.customer_ids)
            query = _with_customers(query, sorted(allowed))
        tickets = await uow.tickets.find(query)
        total = await uow.tickets.count(query)
        items = tuple([await summary(uow, t, now) for t in tickets])
    return TicketListView(title=title, tickets=items, total=total)


def _with_customers(query: TicketFilter, customers: list[str]) -> TicketFilter:
    from dataclasses import replace

    return replace(query, customer_ids=customers)


async def my_tickets(*, uow: UnitOfWork, now: datetime) -> TicketListView:
    actors.ensure_technician(uow.context.actor)
    tech = uow.context.actor.technician
    query = TicketFilter(assignee_id=tech.id if tech else None, open_only=True)
    return await list_tickets(query, uow=uow, now=now, title=N_("My open tickets"))


async def queue(
    *,
    uow: UnitOfWork,
    now: datetime,
    customer_id: str | None = None,
    statuses: tuple[Status, ...] = (),
    priorities: tuple[Priority, ...] = (),
) -> TicketListView:
    query = TicketFilter(
        customer_ids=[customer_id] if customer_id else None,
        statuses=[s.value for s in statuses],
        priorities=[p.value for p in priorities],
        open_only=True,
    )
    return await list_tickets(query, uow=uow, now=now, title=N_("Queue"))


async def search(text: str, *, uow: UnitOfWork, now: datetime, limit: int = 20) -> TicketListView:
    query = TicketFilter(text=text, limit=limit)
    return await list_tickets(query, uow=uow, now=now, title=N_("Search results"))


async def sla_at_risk(*, uow: UnitOfWork, now: datetime, limit: int = 50) -> TicketListView:
    """Open tickets whose SLA is at 75 % or more, most urgent first."""
    async with uow:
        actors.ensure_technician(uow.context.actor)
        scope = actors.visible_customers(uow.context.actor)
        tickets = await uow.tickets.find(TicketFilter(customer_ids=scope, open_only=True, limit=10_000))
        items = [await summary(uow, t, now) for t in tickets]
    risky = [s for s in items if s.sla_state in ("warning", "breached")]
    risky.sort(key=lambda s: (s.sla_state != "breached", s.next_due_at or now))
    return TicketListView(title=N_("SLA at risk"), tickets=tuple(risky[:limit]), total=len(risky))
