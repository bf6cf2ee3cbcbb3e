"""The read commands every chat channel answers alike (``ticket N``, ``mine``, ``queue``, ``search``, ``sla``):
which view a parsed command asks for. Each channel only renders the view in its own card format."""

from __future__ import annotations

from typing import Any

from psa_chatops.bot import chat_subscriptions
from psa_chatops.bot.chat_runtime import ChatRuntime
from psa_chatops.bot.slack import commands as c
from psa_chatops.core.errors import N_, NotFoundError
from psa_chatops.handlers import queries
from psa_chatops.handlers.alert_queries import show_alert, ticket_alerts
from psa_chatops.handlers.alert_views import AlertView
from psa_chatops.handlers.ports import CommandContext
from psa_chatops.handlers.views import TicketListView, TicketView

ListRequest = c.Mine | c.Queue | c.Search | c.Sla


async def ticket(rt: ChatRuntime[Any], context: CommandContext, number: int) -> TicketView:
    now = rt.now()
    view: TicketView = await rt.read(lambda uow: queries.show_ticket(number, uow=uow, now=now), context)
    return view


async def listing(rt: ChatRuntime[Any], context: CommandContext, request: ListRequest) -> TicketListView:
    now = rt.now()
    if isinstance(request, c.Queue):
        db = chat_subscriptions.Store(rt.engine, rt.writer)
        customer_id = await chat_subscriptions.customer_id(db, context.actor, request.customer)
        statuses = (request.status,) if request.status else ()
        view = await rt.read(
            lambda uow: queries.queue(uow=uow, now=now, customer_id=customer_id, statuses=statuses), context
        )
    elif isinstance(request, c.Search):
        view = await rt.read(lambda uow: queries.search(request.text, uow=uow, now=now), context)
    elif isinstance(request, c.Sla):
        view = await rt.read(lambda uow: queries.sla_at_risk(uow=uow, now=now), context)
    else:
        view = await rt.read(lambda uow: queries.my_tickets(uow=uow, now=now), context)
    found: TicketListView = view
    return found


async def alerts(rt: ChatRuntime[Any], context: CommandContext, request: c.ShowAlert) -> tuple[AlertView, ...]:
    """``alert <provider>/<id>``: that alert; ``alert <number>``: the ticket's alerts, the one that opened it first."""
    if request.number is not None:
        number = request.number
        found: tuple[AlertView, ...] = await rt.read(lambda uow: ticket_alerts(number, uow=uow), context)
        if not found:
            raise NotFoundError(N_("Ticket #{number} has no security alert."), number=number)
        return found
    provider, alert_id = request.provider or "", request.alert_id or ""
    view: AlertView = await rt.read(lambda uow: show_alert(provider, alert_id, uow=uow), context)
    return (view,)
