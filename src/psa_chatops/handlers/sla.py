"""The SLA sweep: every minute the scheduler asks for threshold checks; each ticket is checked in its own unit of
work, so a conflict with a racing sweep or a technician re-checks only that ticket, on fresh state. Thresholds
live in the event stream, so a restart or a second sweep never raises the same warning twice.
"""

from __future__ import annotations

from psa_chatops.core import commands as c
from psa_chatops.core import events as ev
from psa_chatops.core import ticket_decisions as decide
from psa_chatops.core.errors import NotFoundError
from psa_chatops.handlers.messagebus import Deps
from psa_chatops.handlers.ports import UnitOfWork
from psa_chatops.handlers.tickets import sla_context
from psa_chatops.handlers.views import SlaSweepView

SWEEP_BATCH = 5_000


async def check_sla_breaches(cmd: c.CheckSlaBreaches, uow: UnitOfWork, deps: Deps) -> SlaSweepView:
    async with uow:
        numbers = list(cmd.numbers) or await uow.tickets.due_for_sla_check(SWEEP_BATCH)
    if deps.bus is None:
        raise RuntimeError("the SLA sweep needs the bus to fan out")
    warnings = breaches = 0
    for number in numbers:
        try:
            raised = await deps.bus.handle(c.CheckTicketSla(number=number), uow.context)
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
