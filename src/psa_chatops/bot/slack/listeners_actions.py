"""Clicks on ticket cards. The ack is empty (Slack wants it within 3 s); the lazy listener runs the command as the
clicking technician and replaces the card in place with its fresh state. Thread lines for routed channels come
from the outbox notifier, never from here (no double posts).

A card carries the version it showed. A click on an older card still acts, unless the ticket moved on in a way
that makes the click wrong (closed meanwhile, assigned to someone else): then the user gets a polite note and the
current card. A double click carries the same (user, action, card version) and runs once.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from psa_chatops.bot import chat_queries
from psa_chatops.bot.slack import modals, payloads, replies, texts
from psa_chatops.bot.slack.runtime import SlackRuntime
from psa_chatops.cards.slack import ids
from psa_chatops.core import commands as cmd
from psa_chatops.core.errors import DomainError
from psa_chatops.core.tickets_state import Status
from psa_chatops.handlers.ports import CommandContext
from psa_chatops.handlers.views import TicketView
from psa_chatops.i18n import translate

Payload = dict[str, Any]
VERBS = {
    ids.ASSIGN_TO_ME: "assign_to_me",
    ids.SET_STATUS: "set_status",
    ids.ESCALATE: "escalate",
    ids.CLOSE: "close",
    ids.ADD_NOTE: "add_note",
}


def register(bolt: AsyncApp, rt: SlackRuntime) -> None:
    async def card_ack(ack: AsyncAck) -> None:
        await ack()

    async def card_act(body: Payload, client: AsyncWebClient, respond: AsyncRespond) -> None:
        await act(rt, body, client, respond)

    bolt.action(re.compile("^" + re.escape(ids.ACTION_PREFIX)))(ack=card_ack, lazy=[card_act])


class Click:
    def __init__(self, rt: SlackRuntime, body: Payload, context: CommandContext) -> None:
        self.rt, self.body, self.context = rt, body, context
        self.action_id, self.number, self.version, self.action = payloads.to_card_action(body)
        self.locale = rt.locale(context.actor)
        self.ephemeral = bool((body.get("container") or {}).get("is_ephemeral"))

    def card(self, view: TicketView) -> Payload:
        return replies.card(view, self.locale, self.rt.public_url, ephemeral_card=self.ephemeral)

    async def current(self) -> TicketView:
        return await chat_queries.ticket(self.rt, self.context, self.number)


async def act(rt: SlackRuntime, body: Payload, client: AsyncWebClient, respond: AsyncRespond) -> None:
    context = await rt.context(payloads.to_user_id(body), correlation_id=body.get("trigger_id"))
    try:
        click = Click(rt, body, context)
    except ValueError:
        return  # not one of our values (or the URL button): nothing to do
    if click.action_id == ids.OPEN_IN_PSA:
        return
    if not (context.actor.technician or context.actor.contact):
        await respond(replies.ephemeral(replies.link_instructions(click.locale)), replace_original=False)
        return
    try:
        await _act(click, client, respond)
    except DomainError as exc:
        await respond({**replies.ephemeral(replies.error(exc, click.locale)), "replace_original": False})


async def _act(click: Click, client: AsyncWebClient, respond: AsyncRespond) -> None:
    rt, body = click.rt, click.body
    extra = {"ephemeral": click.ephemeral}
    if click.action_id == ids.ADD_NOTE:
        await modals.open_note_modal(rt, client, body, click.context, number=click.number, **extra)
    elif click.action_id == ids.CLOSE:
        await modals.open_close_modal(rt, client, body, click.context, number=click.number, **extra)
    elif click.action_id == ids.SHARE:
        await share(click, client, respond)
    else:
        await change(click, respond)


def command_of(click: Click) -> cmd.Command:
    actor = click.context.actor
    if click.action_id == ids.ASSIGN_TO_ME and actor.technician:
        return cmd.AssignTicket(number=click.number, assignee_id=actor.technician.id)
    if click.action_id == ids.SET_STATUS:
        status = Status((click.action.get("selected_option") or {}).get("value", ""))
        return cmd.ChangeStatus(number=click.number, status=status)
    if click.action_id == ids.ESCALATE:
        return cmd.EscalateTicket(number=click.number, reason=translate(texts.ESCALATED_FROM_SLACK, click.locale))
    raise ValueError(click.action_id)


def conflicts(click: Click, view: TicketView) -> bool:
    """Whether a click on an older card would now do the wrong thing."""
    if click.version is None or click.version == view.version:
        return False
    me = click.context.actor.technician
    taken = click.action_id == ids.ASSIGN_TO_ME and view.assignee_id not in (None, me.id if me else None)
    return taken or VERBS.get(click.action_id) not in view.actions


async def change(click: Click, respond: AsyncRespond) -> None:
    view = await click.current()
    if conflicts(click, view):
        await respond({**click.card(view), "replace_original": True})
        await respond({**replies.stale(view.number, click.locale, click.rt.public_url), "replace_original": False})
        return
    command = command_of(click)
    key = f"action:{payloads.to_user_id(click.body)}:{click.action_id}:{click.number}:{click.version}"
    key += f":{getattr(command, 'status', '')}"

    async def run() -> Payload:
        await click.rt.handle(command, click.context)
        return {"number": click.number}

    await click.rt.once(key, run)
    await respond({**click.card(await click.current()), "replace_original": True})


async def share(click: Click, client: AsyncWebClient, respond: AsyncRespond) -> None:
    view = await click.current()
    channel = payloads.to_channel_id(click.body)
    if not channel:
        return
    await client.chat_postMessage(channel=channel, **replies.card(view, click.locale, click.rt.public_url))
    await respond({"delete_original": True})
