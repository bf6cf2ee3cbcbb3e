"""Where the result of a modal goes: the card replaced in place (a card's Add note / Close), the new ticket in
the thread of the message it came from (shortcut, reaction: the thread is remembered so replies become notes),
or the ticket card shown to the user who asked (``/psa ticket new``, App Home)."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from psa_chatops.bot import chat_queries
from psa_chatops.bot.slack import payloads, replies, threads
from psa_chatops.bot.slack.runtime import SlackRuntime
from psa_chatops.handlers.views import TicketView

Payload = dict[str, Any]


async def fresh(rt: SlackRuntime, user_id: str, number: int) -> tuple[TicketView, str]:
    context = await rt.context(user_id)
    view = await chat_queries.ticket(rt, context, number)
    return view, rt.locale(context.actor)


async def replace_card(rt: SlackRuntime, response_url: str, view: TicketView, locale: str, *, ephemeral: bool) -> None:
    message = replies.card(view, locale, rt.public_url, ephemeral_card=ephemeral)
    await AsyncWebhookClient(response_url).send_dict({**message, "replace_original": True})


async def result(rt: SlackRuntime, client: AsyncWebClient, body: Payload, metadata: Payload, number: int) -> None:
    user_id = payloads.to_user_id(body)
    view, locale = await fresh(rt, user_id, number)
    channel, response_url = metadata.get("channel"), metadata.get("response_url")
    if metadata.get("message_ts") and channel:
        await in_thread(rt, client, view, locale, channel=channel, thread_ts=str(metadata["message_ts"]))
    elif response_url and metadata.get("number"):
        await replace_card(rt, response_url, view, locale, ephemeral=bool(metadata.get("ephemeral")))
    elif response_url:
        message = replies.ephemeral(replies.card(view, locale, rt.public_url, ephemeral_card=True))
        await AsyncWebhookClient(response_url).send_dict(message)
    else:
        await client.chat_postMessage(channel=user_id, **replies.card(view, locale, rt.public_url))


async def in_thread(
    rt: SlackRuntime, client: AsyncWebClient, view: TicketView, locale: str, *, channel: str, thread_ts: str
) -> None:
    await threads.remember(rt.engine, rt.writer, channel=channel, thread_ts=thread_ts, number=view.number, now=rt.now())
    await client.chat_postMessage(channel=channel, thread_ts=thread_ts, **replies.card(view, locale, rt.public_url))
