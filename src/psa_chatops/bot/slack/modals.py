"""Opening our modals (``views.open`` with the trigger of the click or command). Called from lazy listeners only:
it is a Web API call, and the ack must not wait for Slack."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from psa_chatops.bot import chat_queries
from psa_chatops.bot.slack import payloads
from psa_chatops.bot.slack.runtime import SlackRuntime
from psa_chatops.cards.slack import modals
from psa_chatops.handlers.ports import CommandContext

Payload = dict[str, Any]


def as_view(rendered: Any) -> Payload:
    return dict(rendered.as_dict() if hasattr(rendered, "as_dict") else rendered)


def origin(body: Payload) -> dict[str, Any]:
    """Where the modal was opened from, so its submission can answer there."""
    return {
        "channel": payloads.to_channel_id(body),
        "response_url": body.get("response_url"),
        "user": payloads.to_user_id(body),
    }


async def open_new_ticket_modal(
    rt: SlackRuntime,
    client: AsyncWebClient,
    body: Payload,
    context: CommandContext,
    *,
    title: str = "",
    description: str = "",
    **extra: Any,
) -> None:
    metadata = payloads.to_metadata(**origin(body), **extra)
    view = modals.new_ticket_modal(
        rt.locale(context.actor), title=title, description=description, private_metadata=metadata
    )
    await client.views_open(trigger_id=body["trigger_id"], view=as_view(view))


async def open_close_modal(
    rt: SlackRuntime, client: AsyncWebClient, body: Payload, context: CommandContext, *, number: int, **extra: Any
) -> None:
    ticket = await chat_queries.ticket(rt, context, number)
    metadata = payloads.to_metadata(number=number, **origin(body), **extra)
    view = modals.close_modal(ticket, rt.locale(context.actor), private_metadata=metadata)
    await client.views_open(trigger_id=body["trigger_id"], view=as_view(view))


async def open_note_modal(
    rt: SlackRuntime, client: AsyncWebClient, body: Payload, context: CommandContext, *, number: int, **extra: Any
) -> None:
    ticket = await chat_queries.ticket(rt, context, number)
    metadata = payloads.to_metadata(number=number, **origin(body), **extra)
    view = modals.add_note_modal(ticket, rt.locale(context.actor), private_metadata=metadata)
    await client.views_open(trigger_id=body["trigger_id"], view=as_view(view))
