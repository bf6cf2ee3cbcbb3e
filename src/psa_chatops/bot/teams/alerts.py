"""Alert card verbs in Teams (``alert.*`` of ``cards.teams.ids``): the invoke runs the alert use-case as the
clicking technician (``bot.chat_alerts``, once per click) and answers with the alert card as it is now, which
Teams shows in place. The ``Action.Submit`` fallback arrives through the same ``actions.act``. A precise error (an
alert already acknowledged, isolation asked by someone who is not an admin) comes back as a message; a click on an
out-of-date card gets the current card and nothing is written.
"""

from __future__ import annotations

from typing import Any

from psa_chatops.bot import chat_alerts
from psa_chatops.bot.teams import replies
from psa_chatops.bot.teams.runtime import TeamsRuntime
from psa_chatops.cards.teams import ids
from psa_chatops.cards.teams.alert import alert_card
from psa_chatops.core.errors import DomainError
from psa_chatops.handlers.ports import CommandContext

Payload = dict[str, Any]
VERBS = {
    ids.ALERT_ACKNOWLEDGE: "acknowledge",
    ids.ALERT_ASSIGN_TO_ME: "assign_to_me",
    ids.ALERT_CREATE_TICKET: "create_ticket",
    ids.ALERT_ESCALATE: "escalate",
    ids.ALERT_FALSE_POSITIVE: "false_positive",
    ids.ALERT_ISOLATE: "isolate",
}
TEXT_INPUTS = {ids.ALERT_ESCALATE: ids.ALERT_REASON, ids.ALERT_FALSE_POSITIVE: ids.ALERT_COMMENT}
MAX_TEXT = 1_000


def is_alert_verb(verb: str) -> bool:
    return verb in VERBS


def to_click(verb: str, data: Payload, user_id: str) -> chat_alerts.AlertClick:
    """``ValueError`` when the data does not name an alert."""
    provider, alert_id = data.get("provider"), data.get("alert_id")
    if not isinstance(provider, str) or not provider or not isinstance(alert_id, str) or not alert_id:
        raise ValueError("the action's data names no alert")
    text = data.get(TEXT_INPUTS.get(verb, ""), "")
    return chat_alerts.AlertClick(VERBS[verb], provider, alert_id, user_id, str(text or "").strip()[:MAX_TEXT])


async def act(rt: TeamsRuntime, context: CommandContext, *, verb: str, data: Payload, user_id: str) -> Payload:
    """The invoke response for an alert verb."""
    locale = rt.locale(context.actor)
    if context.actor.technician is None:
        return replies.message_response(replies.plain(replies.link_instructions(locale)))
    try:
        click = to_click(verb, data, user_id)
    except ValueError:
        return replies.error_response(400, "BadRequest", "the action's data names no alert")
    try:
        view, _ = await chat_alerts.act(rt, context, click)
    except DomainError as exc:
        return replies.message_response(replies.plain(replies.error(exc, locale)))
    return replies.card_response(alert_card(view, locale=locale, public_url=rt.public_url))
