"""Alert card buttons, the same for Slack and Teams: which use-case a button runs, as the clicking technician, once.

A button names the alert (provider and id), not a version: alert actions are state changes that refuse to run
twice on their own (an acknowledged alert cannot be acknowledged again), so a click on an older card either does
what it says or is answered with the current card and a note. "Isolate device" is not checked here: the use-case
refuses anyone but an admin with a precise error, whatever the card showed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psa_chatops.bot.chat_runtime import ChatRuntime
from psa_chatops.core import commands as cmd
from psa_chatops.core.alerts import AlertClassification
from psa_chatops.core.errors import N_, ConflictError, ForbiddenError
from psa_chatops.handlers.alert_queries import show_alert
from psa_chatops.handlers.alert_views import AlertView
from psa_chatops.handlers.ports import CommandContext

ALWAYS_ASKED = frozenset({"isolate"})  # the use-case decides (admins only), not the card


@dataclass(frozen=True)
class AlertClick:
    """One click: ``action`` is one of ``cards.alert_facts.ACTIONS``; ``text`` is the comment or reason given."""

    action: str
    provider: str
    alert_id: str
    user_id: str
    text: str = ""


async def alert(rt: ChatRuntime[Any], context: CommandContext, provider: str, alert_id: str) -> AlertView:
    view: AlertView = await rt.read(lambda uow: show_alert(provider, alert_id, uow=uow), context)
    return view


def command_of(click: AlertClick, view: AlertView, context: CommandContext) -> cmd.Command:
    """The use-case behind a button; ``ValueError`` for an action that is not one of ours."""
    where = {"provider": click.provider, "alert_id": click.alert_id}
    if click.action == "acknowledge":
        return cmd.AcknowledgeAlert(**where)
    if click.action == "create_ticket":
        return cmd.OpenAlertTicket(**where)
    if click.action == "escalate":
        return cmd.EscalateAlert(**where, reason=click.text)
    if click.action == "false_positive":
        return cmd.ClassifyAlert(**where, classification=AlertClassification.FALSE_POSITIVE, comment=click.text)
    if click.action == "isolate":
        return cmd.IsolateDevice(**where)
    if click.action == "assign_to_me":
        tech = context.actor.technician
        if tech is None:
            raise ForbiddenError(N_("Only technicians can do this."))
        if view.ticket_number is None:
            raise ConflictError(N_("Alert {id} has no ticket yet; create one first."), id=view.alert_id)
        return cmd.AssignTicket(number=view.ticket_number, assignee_id=tech.id)
    raise ValueError(click.action)


async def act(rt: ChatRuntime[Any], context: CommandContext, click: AlertClick) -> tuple[AlertView, bool]:
    """Run the click once (double clicks and chat retries carry the same key) and return the alert as it is now,
    with False when nothing was done because the card was out of date."""
    view = await alert(rt, context, click.provider, click.alert_id)
    if click.action not in view.actions and click.action not in ALWAYS_ASKED:
        return view, False
    command = command_of(click, view, context)
    key = f"alert:{click.user_id}:{click.action}:{click.provider}/{click.alert_id}:{view.status}:{view.ticket_number}"

    async def run() -> dict[str, Any]:
        await rt.handle(command, context)
        return {"done": click.action}

    await rt.once(key, run)
    return await alert(rt, context, click.provider, click.alert_id), True
