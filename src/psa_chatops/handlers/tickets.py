"""Ticket use-cases: resolve and authorise the actor, decide in the core, append inside the unit of work, return
a TicketView. Every channel (Slack, Teams, REST, e-mail, alerts) calls these same functions through the bus.
"""

from __future__ import annotations

from psa_chatops.core import commands as c
from psa_chatops.core import events as ev
from psa_chatops.core import ticket_decisions as decide
from psa_chatops.core.errors import N_, ConflictError, ForbiddenError, InvalidError, PreconditionFailedError
from psa_chatops.core.tickets import SlaContext, Ticket
from psa_chatops.core.tickets_state import Status, Visibility
from psa_chatops.handlers import actors
from psa_chatops.handlers.messagebus import Deps
from psa_chatops.handlers.ports import UnitOfWork
from psa_chatops.handlers.queries import ticket_view
from psa_chatops.handlers.views import TicketView


async def sla_context(uow: UnitOfWork, customer_id: str) -> SlaContext:
    customer = await uow.directory.customer(customer_id)
    return SlaContext(await uow.directory.sla_policy(customer.sla_policy_id), customer.calendar)


async def _load(uow: UnitOfWork, number: int) -> Ticket:
    ticket = await uow.tickets.get(number)
    actors.ensure_sees_ticket(uow.context.actor, ticket)
    return ticket


async def open_ticket(cmd: c.OpenTicket, uow: UnitOfWork, deps: Deps) -> TicketView:
    actor = uow.context.actor
    async with uow:
        actors.ensure_known(actor)
        if not actors.can_see_customer(actor, cmd.customer_id):
            raise ForbiddenError(N_("You cannot open tickets for customer {id}."), id=cmd.customer_id)
        sla = await sla_context(uow, cmd.customer_id)
        await _check_references(uow, cmd)
        if cmd.assignee_id:
            actors.ensure_may_assign(actor, cmd.assignee_id)
            await uow.directory.technician(cmd.assignee_id)
        number = await uow.tickets.next_number()
        events = decide.open_ticket(cmd, number=number, now=deps.clock.now(), sla=sla)
        ticket = await uow.tickets.append(None, events)
        return await _commit_view(uow, ticket, deps)


async def _check_references(uow: UnitOfWork, cmd: c.OpenTicket) -> None:
    if cmd.contact_id and (await uow.directory.contact(cmd.contact_id)).customer_id != cmd.customer_id:
        raise InvalidError(
            N_("Contact {id} does not belong to customer {customer}."), id=cmd.contact_id, customer=cmd.customer_id
        )
    if cmd.asset_id and (await uow.directory.asset(cmd.asset_id)).customer_id != cmd.customer_id:
        raise InvalidError(
            N_("Asset {id} does not belong to customer {customer}."), id=cmd.asset_id, customer=cmd.customer_id
        )


async def assign_ticket(cmd: c.AssignTicket, uow: UnitOfWork, deps: Deps) -> TicketView:
    async with uow:
        actors.ensure_may_assign(uow.context.actor, cmd.assignee_id)
        ticket = await _load(uow, cmd.number)
        assignee = await uow.directory.technician(cmd.assignee_id)
        if ticket.assignee_id == assignee.id:
            raise ConflictError(
                N_("Ticket #{number} is already assigned to {assignee}."), number=ticket.number, assignee=assignee.name
            )
        if not assignee.can_see_customer(ticket.customer_id):
            raise InvalidError(N_("{name} does not work for this ticket's customer."), name=assignee.name)
        ticket = await uow.tickets.append(ticket, decide.assign_ticket(ticket, cmd, now=deps.clock.now()))
        return await _commit_view(uow, ticket, deps)


async def change_status(cmd: c.ChangeStatus, uow: UnitOfWork, deps: Deps) -> TicketView:
    async with uow:
        actors.ensure_technician(uow.context.actor)
        ticket = await _load(uow, cmd.number)
        sla = await sla_context(uow, ticket.customer_id)
        events = decide.change_status(ticket, cmd.status, now=deps.clock.now(), sla=sla, resolution=cmd.resolution)
        ticket = await uow.tickets.append(ticket, events)
        return await _commit_view(uow, ticket, deps)


async def close_ticket(cmd: c.CloseTicket, uow: UnitOfWork, deps: Deps) -> TicketView:
    return await change_status(
        c.ChangeStatus(number=cmd.number, status=Status.CLOSED, resolution=cmd.resolution), uow, deps
    )


async def add_note(cmd: c.AddNote, uow: UnitOfWork, deps: Deps) -> TicketView:
    actor = uow.context.actor
    async with uow:
        actors.ensure_known(actor)
        if actor.contact and cmd.visibility is Visibility.INTERNAL:
            raise ForbiddenError(N_("Customers can only add public replies."))
        ticket = await _load(uow, cmd.number)
        events = decide.add_note(ticket, cmd, author_id=actor.id, now=deps.clock.now())
        if actor.contact:  # a customer's reply is no first response by us
            events = [e for e in events if not isinstance(e, ev.FirstResponseMet)]
        ticket = await uow.tickets.append(ticket, events)
        return await _commit_view(uow, ticket, deps)


async def change_priority(cmd: c.ChangePriority, uow: UnitOfWork, deps: Deps) -> TicketView:
    async with uow:
        actors.ensure_technician(uow.context.actor)
        ticket = await _load(uow, cmd.number)
        sla = await sla_context(uow, ticket.customer_id)
        ticket = await uow.tickets.append(
            ticket, decide.change_priority(ticket, cmd.priority, now=deps.clock.now(), sla=sla)
        )
        return await _commit_view(uow, ticket, deps)


async def escalate_ticket(cmd: c.EscalateTicket, uow: UnitOfWork, deps: Deps) -> TicketView:
    async with uow:
        actors.ensure_technician(uow.context.actor)
        ticket = await _load(uow, cmd.number)
        sla = await sla_context(uow, ticket.customer_id)
        ticket = await uow.tickets.append(ticket, decide.escalate_ticket(ticket, cmd, now=deps.clock.now(), sla=sla))
        return await _commit_view(uow, ticket, deps)


async def update_ticket(cmd: c.UpdateTicket, uow: UnitOfWork, deps: Deps) -> TicketView:
    """Priority, assignee and status in that order, as one append: all or nothing, one version check."""
    async with uow:
        actors.ensure_technician(uow.context.actor)
        ticket = await _load(uow, cmd.number)
        if cmd.expected_version is not None and ticket.version != cmd.expected_version:
            raise PreconditionFailedError(
                N_("Ticket #{number} has changed since you read it (version {current}, you sent {expected})."),
                number=ticket.number,
                current=ticket.version,
                expected=cmd.expected_version,
            )
        events = await _update_events(cmd, ticket, uow, deps)
        if events:
            ticket = await uow.tickets.append(ticket, events)
        return await _commit_view(uow, ticket, deps)


async def _update_events(cmd: c.UpdateTicket, ticket: Ticket, uow: UnitOfWork, deps: Deps) -> list[ev.Event]:
    now, events = deps.clock.now(), []
    current = ticket
    if cmd.priority is not None and cmd.priority is not current.priority:
        sla = await sla_context(uow, ticket.customer_id)
        events += decide.change_priority(current, cmd.priority, now=now, sla=sla)
        current = ticket.evolved(events)
    if cmd.assignee_id is not None and cmd.assignee_id != current.assignee_id:
        actors.ensure_may_assign(uow.context.actor, cmd.assignee_id)
        assignee = await uow.directory.technician(cmd.assignee_id)
        if not assignee.can_see_customer(ticket.customer_id):
            raise InvalidError(N_("{name} does not work for this ticket's customer."), name=assignee.name)
        events += decide.assign_ticket(current, c.AssignTicket(number=ticket.number, assignee_id=assignee.id), now=now)
        current = ticket.evolved(events)
    if cmd.status is not None and cmd.status is not current.status:
        sla = await sla_context(uow, ticket.customer_id)
        events += decide.change_status(current, cmd.status, now=now, sla=sla, resolution=cmd.resolution)
    return events


async def _commit_view(uow: UnitOfWork, ticket: Ticket, deps: Deps) -> TicketView:
    view = await ticket_view(uow, ticket, deps.clock.now())
    await uow.commit()
    return view
