"""``subscribe`` and ``unsubscribe`` in a Teams chat or channel: the routing rule of destination
``teams:<conversation id>``, one enabled rule per destination as the REST API and Slack keep it (subscribing again
changes the rule). ``audience=customer`` marks the conversation customer-facing in ``teams_conversations`` (the
notifier then shows customers' view only); ``audience=internal`` clears the mark. Same permission rules as the
API: a rule for every customer needs an actor who sees every customer.
"""

from __future__ import annotations

from psa_chatops.bot import chat_subscriptions as chat
from psa_chatops.bot.teams.commands import CustomerSubscribe
from psa_chatops.bot.teams.runtime import TeamsRuntime
from psa_chatops.core.routing import RoutingRule
from psa_chatops.handlers.ports import Actor


def destination(conversation_id: str) -> str:
    return f"teams:{conversation_id}"


def _db(rt: TeamsRuntime) -> chat.Store:
    return chat.Store(rt.engine, rt.writer)


async def customer_id(rt: TeamsRuntime, actor: Actor, text: str | None) -> str | None:
    return await chat.customer_id(_db(rt), actor, text)


async def subscribe(rt: TeamsRuntime, actor: Actor, conversation_id: str, request: CustomerSubscribe) -> RoutingRule:
    wanted, now = request.rule, rt.now()
    rule = await chat.subscribe(
        _db(rt),
        actor,
        destination(conversation_id),
        categories=wanted.categories,
        customer=wanted.customer,
        min_priority=wanted.min_priority,
        now=now,
    )
    if request.customer_facing is not None:
        await rt.conversations.set_customer_facing(conversation_id, request.customer_facing, now=now)
    return rule


async def unsubscribe(rt: TeamsRuntime, actor: Actor, conversation_id: str) -> int:
    return await chat.unsubscribe(_db(rt), actor, destination(conversation_id))
