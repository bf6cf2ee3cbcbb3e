"""Clicks on alert cards (``cards.slack.alert``). The ack is empty; the lazy listener runs the alert use-case as
the clicking technician (``bot.chat_alerts``, once per click) and replaces the card in place with the alert as it
is now. Thread lines come from the outbox notifier, as for ticket cards. Errors (an alert already acknowledged, a
technician who is not an admin asking to isolate) come back as an ephemeral note; the card stays.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from psa_chatops.bot import chat_alerts
from psa_chatops.bot.slack import payloads, replies
from psa_chatops.bot.slack.runtime import SlackRuntime
from psa_chatops.cards import alert_facts
from psa_chatops.cards.slack import ids
from psa_chatops.cards.slack.alert import alert_card
from psa_chatops.core.errors import N_, DomainError
from psa_chatops.handlers.alert_views import AlertView

Payload = dict[str, Any]
ACTIONS = {
    ids.ALERT_ACKNOWLEDGE: "acknowledge",
    ids.ALERT_ASSIGN_TO_ME: "assign_to_me",
    ids.ALERT_CREATE_TICKET: "create_ticket",
    ids.ALERT_ESCALATE: "escalate",
    ids.ALERT_FALSE_POSITIVE: "false_positive",
    ids.ALERT_ISOLATE: "isolate",
}
STALE = N_("This alert has changed since the card was posted, so nothing was done. The card now shows it as it is.")


def register(bolt: AsyncApp, rt: SlackRuntime) -> None:
    async def alert_ack(ack: AsyncAck) -> None:
        await ack()

    async def alert_act(body: Payload, respond: AsyncRespond) -> None:
        await act(rt, body, respond)

    bolt.action(re.compile("^" + re.escape(ids.ALERT_PREFIX)))(ack=alert_ack, lazy=[alert_act])


def card(view: AlertView, locale: str, public_url: str) -> Payload:
    return alert_card(view, locale=locale, public_url=public_url).as_dict()


def to_click(body: Payload) -> chat_alerts.AlertClick | None:
    """The click, or None for what is not one of ours (the URL button, a foreign value)."""
    action = (body.get("actions") or [{}])[0]
    name = ACTIONS.get(str(action.get("action_id")))
    if name is None:
        return None
    try:
        provider, alert_id = alert_facts.parse_alert_value(str(action.get("value") or ""))
    except ValueError:
        return None
    return chat_alerts.AlertClick(name, provider, alert_id, payloads.to_user_id(body))


async def act(rt: SlackRuntime, body: Payload, respond: AsyncRespond) -> None:
    context = await rt.context(payloads.to_user_id(body), correlation_id=body.get("trigger_id"))
    click = to_click(body)
    if click is None:
        return
    locale = rt.locale(context.actor)
    if not context.actor.technician:
        await respond(replies.ephemeral(replies.link_instructions(locale)), replace_original=False)
        return
    try:
        view, done = await chat_alerts.act(rt, context, click)
    except DomainError as exc:
        await respond({**replies.ephemeral(replies.error(exc, locale)), "replace_original": False})
        return
    await respond({**card(view, locale, rt.public_url), "replace_original": True})
    if not done:
        await respond({**replies.ephemeral(replies.info(STALE, locale)), "replace_original": False})
