"""The SLA sweep: every minute the scheduler asks for threshold checks; each ticket is checked in its own unit of
work, so a conflict with a racing sweep or a technician re-checks only that ticket, on fresh state. Thresholds
live in the event stream, so a restart or a second sweep never raises the same warning twice.
"""

from __future__ import annotations

from psa_chatops.core import commands as c
from psa_chatops.core import events as ev
from psa_chatops.core import ticket_decisions as decide
from psa_chatops.core.errors import NotFoundError
from psa_chatops.handlers.messagebus import Deps, MessageBus
from psa_chatops.handlers.ports import CommandContext, UnitOfWork
from psa_chatops.handlers.tickets import sla_context
from psa_chatops.handlers.views import SlaSweepView

SWEEP_BATCH = 5_000


async def _due_numbers(uow: UnitOfWork) -> list[int]:
    async with uow:
        return await uow.tickets.due_for_sla_check(SWEEP_BATCH)


async def check_sla_breaches(cmd: c.CheckSlaBreaches, context: CommandContext, bus: MessageBus) -> SlaSweepView:
    """An orchestrator, not a handler: it fans out into one ``CheckTicketSla`` command per running ticket."""
    numbers: list[int] = list(cmd.numbers) or await bus.read(_due_numbers, context)
    warnings = breaches = 0
    for number in numbers:
        try:
            raised = await bus.handle(c.CheckTicketSla(number=number), context)
        except NotFoundError:
            continue
        warnings += sum(isinstance(e, ev.SlaWarningRaised) for e in raised)
        breaches += sum(isinstance(e, ev.SlaBreached) for e in raised)
    return SlaSweepView(checked=len(numbers), warnings=warnings, breaches=breaches)


async def check_ticket_sla(cmd: c.CheckTicketSla, uow: UnitOfWork, deps: Deps) -> list[ev.Event]:
    async with uow:
        ticket = await uow.tickets.get(cmd.number)
        events = decide.check_sla(ticket, now=deps.clock.now(), sla=await sla_context(uow, ticket.customer_id))
        if events:
            await uow.tickets.append(ticket, events)
            await uow.commit()
        return events
