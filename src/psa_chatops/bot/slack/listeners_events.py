"""Shortcuts and the Events API. Acks are empty; everything that calls Slack runs lazily.

- Message shortcut "Create PSA ticket": the New ticket modal prefilled from the message and its permalink; once
  the ticket exists its card is posted in the message's thread and the thread is remembered.
- ``message`` events: a person's reply in a remembered thread becomes an internal note (a thread is where the team
  talks; customers hear about notes only through public ones, which need the card's Add note). Once per
  ``event_id``, so Slack's retries (``X-Slack-Retry-Num``) add nothing.
- ``app_home_opened``: the Home tab (my open tickets, SLA at risk). ``link_shared``: unfurls for PSA ticket URLs.
- ``reaction_added`` with 🎫 (when ``slack_ticket_reaction`` is on): an ephemeral prompt for the reacting user;
  its button carries a trigger, so it opens the same prefilled New ticket modal as the message shortcut.
- ``app_mention``: "@PSA ticket 12345" in a channel runs the same command as ``/psa ticket 12345`` and answers in
  the mention's thread, visible to the channel (a mention is a public question). Once per ``event_id``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from psa_chatops.bot import chat_queries
from psa_chatops.bot.slack import modals, payloads, threads
from psa_chatops.bot.slack.listeners_commands import answer
from psa_chatops.bot.slack.runtime import SlackRuntime
from psa_chatops.cards.slack import home, ids, messages, unfurl
from psa_chatops.cards.slack.modals import prefill_from_message
from psa_chatops.core import commands as cmd
from psa_chatops.core.errors import DomainError
from psa_chatops.core.tickets_state import Visibility
from psa_chatops.handlers import actors, queries
from psa_chatops.handlers.ports import CommandContext
from psa_chatops.handlers.views import TicketListView, TicketView

Payload = dict[str, Any]


async def just_ack(ack: AsyncAck) -> None:
    await ack()


def register(bolt: AsyncApp, rt: SlackRuntime) -> None:
    async def from_message(body: Payload, client: AsyncWebClient) -> None:
        await create_from_message(rt, body, client)

    async def new_ticket(body: Payload, client: AsyncWebClient) -> None:
        context = await rt.context(payloads.to_user_id(body))
        if actors.acts_as_technician(context.actor):
            await modals.open_new_ticket_modal(rt, client, body, context)

    async def thread_reply(body: Payload) -> None:
        await note_from_reply(rt, body)

    async def home_opened(body: Payload, client: AsyncWebClient) -> None:
        await publish_home(rt, body, client)

    async def links(body: Payload, client: AsyncWebClient) -> None:
        await unfurl_links(rt, body, client)

    async def mentioned(body: Payload, client: AsyncWebClient) -> None:
        await answer_mention(rt, body, client)

    bolt.shortcut(ids.CREATE_FROM_MESSAGE)(ack=just_ack, lazy=[from_message])
    bolt.shortcut(ids.NEW_TICKET_GLOBAL)(ack=just_ack, lazy=[new_ticket])
    bolt.action(ids.HOME_NEW_TICKET)(ack=just_ack, lazy=[new_ticket])
    bolt.action(ids.HOME_REFRESH)(ack=just_ack, lazy=[home_opened])
    bolt.event("message")(ack=just_ack, lazy=[thread_reply])
    bolt.event("app_home_opened")(ack=just_ack, lazy=[home_opened])
    bolt.event("link_shared")(ack=just_ack, lazy=[links])
    bolt.event("app_mention")(ack=just_ack, lazy=[mentioned])
    if rt.settings.slack_ticket_reaction:
        register_reaction(bolt, rt)


def register_reaction(bolt: AsyncApp, rt: SlackRuntime) -> None:
    async def reacted(body: Payload, client: AsyncWebClient) -> None:
        await prompt_for_reaction(rt, body, client)

    async def from_reaction(body: Payload, client: AsyncWebClient) -> None:
        await create_from_reaction(rt, body, client)

    bolt.event("reaction_added")(ack=just_ack, lazy=[reacted])
    bolt.action(ids.CREATE_FROM_REACTION)(ack=just_ack, lazy=[from_reaction])


async def prompt_for_reaction(rt: SlackRuntime, body: Payload, client: AsyncWebClient) -> None:
    event = body.get("event") or {}
    item = event.get("item") or {}
    if event.get("reaction") != ids.TICKET_REACTION or item.get("type") != "message":
        return
    context = await rt.context(str(event.get("user", "")))
    if not actors.acts_as_technician(context.actor):
        return
    channel, ts = str(item.get("channel")), str(item.get("ts"))
    prompt = messages.reaction_prompt(rt.locale(context.actor), channel=channel, ts=ts).as_dict()

    async def send() -> Payload:
        await client.chat_postEphemeral(channel=channel, user=str(event.get("user")), **prompt)
        return {"prompted": True}

    await rt.once(f"event:{body.get('event_id')}", send)


async def create_from_reaction(rt: SlackRuntime, body: Payload, client: AsyncWebClient) -> None:
    """The prompt's button: fetch the reacted message, then the message shortcut's flow."""
    action = (body.get("actions") or [{}])[0]
    try:
        where = json.loads(str(action.get("value")))
        channel, ts = str(where["channel"]), str(where["ts"])
    except (ValueError, KeyError, TypeError):
        return  # not a value we wrote
    found = await client.conversations_history(channel=channel, latest=ts, inclusive=True, limit=1)
    message = next(iter(found.get("messages") or []), None)
    if message is None:
        return
    shortcut = {**body, "channel": {"id": channel}, "message": {**message, "ts": ts}}
    await create_from_message(rt, shortcut, client)


MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>\s*")


async def answer_mention(rt: SlackRuntime, body: Payload, client: AsyncWebClient) -> None:
    """The command after the bot's mention, answered in the mention's thread (slow commands such as modals need
    a trigger, which mentions do not carry: those answer with how to use ``/psa`` instead)."""
    event = body.get("event") or {}
    text = MENTION.sub("", str(event.get("text", "")), count=1)
    command_body = {"user_id": event.get("user"), "text": text, "channel_id": event.get("channel")}

    async def reply() -> Payload:
        message = await answer(rt, command_body) or {}
        message.pop("response_type", None)
        if message:
            thread = str(event.get("thread_ts") or event.get("ts"))
            await client.chat_postMessage(channel=str(event.get("channel")), thread_ts=thread, **message)
        return {"answered": bool(message)}

    await rt.once(f"event:{body.get('event_id')}", reply)


async def create_from_message(rt: SlackRuntime, body: Payload, client: AsyncWebClient) -> None:
    context = await rt.context(payloads.to_user_id(body))
    if not actors.acts_as_technician(context.actor):
        return
    channel, message = payloads.to_channel_id(body), body.get("message") or {}
    ts = str(message.get("thread_ts") or message.get("ts") or body.get("message_ts"))
    link = await client.chat_getPermalink(channel=str(channel), message_ts=ts)
    permalink = str(link.get("permalink") or "")
    title, description = prefill_from_message(str(message.get("text") or ""), permalink, rt.locale(context.actor))
    await modals.open_new_ticket_modal(rt, client, body, context, title=title, description=description, message_ts=ts)


async def note_from_reply(rt: SlackRuntime, body: Payload) -> None:
    event = body.get("event") or {}
    if not payloads.is_thread_reply(event):
        return
    number = await threads.ticket_of(rt.engine, channel=str(event.get("channel")), thread_ts=str(event["thread_ts"]))
    if number is None:
        return
    context = await rt.context(str(event.get("user", "")), correlation_id=body.get("event_id"))
    if not actors.acts_as_technician(context.actor):
        return
    command = cmd.AddNote(number=number, body=str(event.get("text", "")), visibility=Visibility.INTERNAL)

    async def add() -> Payload:
        await rt.handle(command, context)
        return {"number": number}

    await rt.once(f"event:{body.get('event_id')}", add)


async def publish_home(rt: SlackRuntime, body: Payload, client: AsyncWebClient) -> None:
    user_id = payloads.to_user_id(body) or str((body.get("event") or {}).get("user", ""))
    context = await rt.context(user_id)
    locale, now = rt.locale(context.actor), rt.now()
    linked = actors.acts_as_technician(context.actor)
    empty = TicketListView(title="", tickets=(), total=0)
    mine = await rt.read(lambda uow: queries.my_tickets(uow=uow, now=now), context) if linked else empty
    risky = await rt.read(lambda uow: queries.sla_at_risk(uow=uow, now=now), context) if linked else empty
    view = home.home_view(mine, risky, locale=locale, public_url=rt.public_url, linked=linked)
    await client.views_publish(user_id=user_id, view=modals.as_view(view))


async def _show(rt: SlackRuntime, context: CommandContext, number: int) -> TicketView:
    view: TicketView = await chat_queries.ticket(rt, context, number)
    return view


async def unfurl_links(rt: SlackRuntime, body: Payload, client: AsyncWebClient) -> None:
    event = body.get("event") or {}
    context = await rt.context(str(event.get("user", "")))
    locale = rt.locale(context.actor)
    unfurls: Payload = {}
    for link in event.get("links") or []:
        number = unfurl.number_from_url(rt.public_url, str(link.get("url", "")))
        if number is None:
            continue
        try:
            view = await _show(rt, context, number)
        except DomainError:
            continue  # not linked, or not allowed to see it: no preview rather than an error in the channel
        unfurls[link["url"]] = unfurl.unfurl(view, locale=locale, public_url=rt.public_url)
    if unfurls:
        await client.chat_unfurl(channel=str(event.get("channel")), ts=str(event.get("message_ts")), unfurls=unfurls)
