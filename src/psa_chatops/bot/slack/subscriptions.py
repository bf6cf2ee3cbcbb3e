"""``/psa subscribe`` and ``/psa unsubscribe``: the routing rule of the current channel (``slack:<channel id>``).

The rules themselves (one enabled rule per destination, the API's permissions) are ``bot.chat_subscriptions``'.
"""

from __future__ import annotations

from typing import Any

from psa_chatops.bot import chat_subscriptions as chat
from psa_chatops.bot.slack import replies
from psa_chatops.bot.slack.commands import Subscribe
from psa_chatops.bot.slack.runtime import SlackRuntime
from psa_chatops.handlers.ports import Actor

Payload = dict[str, Any]


def destination(channel_id: str) -> str:
    return f"slack:{channel_id}"


def _db(rt: SlackRuntime) -> chat.Store:
    return chat.Store(rt.engine, rt.writer)


async def customer_id(rt: SlackRuntime, actor: Actor, text: str | None) -> str | None:
    return await chat.customer_id(_db(rt), actor, text)


async def subscribe(rt: SlackRuntime, actor: Actor, channel_id: str, request: Subscribe) -> Payload:
    rule = await chat.subscribe(
        _db(rt),
        actor,
        destination(channel_id),
        categories=request.categories,
        customer=request.customer,
        min_priority=request.min_priority,
        now=rt.now(),
    )
    named = request.customer if rule.customer_id else None
    return replies.subscribed(rule, rt.locale(actor), customer_name=named)


async def unsubscribe(rt: SlackRuntime, actor: Actor, channel_id: str) -> Payload:
    removed = await chat.unsubscribe(_db(rt), actor, destination(channel_id))
    return replies.unsubscribed(removed, rt.locale(actor))
