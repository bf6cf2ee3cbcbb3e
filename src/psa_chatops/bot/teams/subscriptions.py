"""``subscribe`` and ``unsubscribe`` in a Teams chat or channel: the routing rule of destination
``teams:<conversation id>``, one enabled rule per destination as the REST API and Slack keep it (subscribing again
changes the rule). ``audience=customer`` marks the conversation customer-facing in ``teams_conversations`` (the
notifier then shows customers' view only); ``audience=internal`` clears the mark. Same permission rules as the
API: a rule for every customer needs an actor who sees every customer.
"""

from __future__ import annotations

from dataclasses import replace

from psa_chatops.bot.slack import texts as slack_texts
from psa_chatops.bot.teams.commands import CustomerSubscribe
from psa_chatops.bot.teams.runtime import TeamsRuntime
from psa_chatops.core.errors import InvalidError, NotFoundError
from psa_chatops.core.routing import RoutingRule
from psa_chatops.handlers import actors
from psa_chatops.handlers import directory_queries as rules
from psa_chatops.handlers.ports import Actor
from psa_chatops.storage import directory as store
from psa_chatops.storage import directory_writer as writer
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction


def destination(conversation_id: str) -> str:
    return f"teams:{conversation_id}"


async def customer_id(rt: TeamsRuntime, actor: Actor, text: str | None) -> str | None:
    """The customer a command names: its id, or the one customer whose id or name contains the text."""
    if not text:
        return None
    listing = store.Listing(limit=10, text=text, customer_ids=actors.visible_customers(actor))
    async with read_connection(rt.engine) as conn:
        found = await store.page(conn, store.CUSTOMERS, listing)
    exact = [c for c in found if c.id.casefold() == text.casefold()]
    if exact or len(found) == 1:
        return (exact or found)[0].id
    if not found:
        raise NotFoundError(slack_texts.NO_CUSTOMER, value=text)
    raise InvalidError(slack_texts.MANY_CUSTOMERS, value=text, names=", ".join(c.name for c in found[:5]))


async def _rules_of(conn: SqlConnection, target: str) -> list[store.StoredRoutingRule]:
    return await store.page(conn, store.ROUTING_RULES, store.Listing(limit=100, equals={"destination": target}))


async def subscribe(rt: TeamsRuntime, actor: Actor, conversation_id: str, request: CustomerSubscribe) -> RoutingRule:
    actors.ensure_technician(actor)
    wanted = request.rule
    customer = await customer_id(rt, actor, wanted.customer)
    if customer is None:
        rules.ensure_sees_every_customer(actor)
    rule = RoutingRule(0, destination(conversation_id), wanted.categories, customer, wanted.min_priority)
    issues = rules.rule_issues(rule)
    if issues:
        raise InvalidError(issues[0].template, **issues[0].params)
    now = rt.now()

    async def work(conn: SqlConnection) -> None:
        current = [r for r in await _rules_of(conn, rule.destination) if r.enabled]
        if current:
            await writer.update_routing_rule(conn, replace(rule, id=current[0].rule.id), enabled=True)
        else:
            await writer.insert_routing_rule(conn, rule, enabled=True, created_by=actor.id, now=now)

    await in_transaction(rt.engine, rt.writer, work)
    if request.customer_facing is not None:
        await rt.conversations.set_customer_facing(conversation_id, request.customer_facing, now=now)
    return rule


async def unsubscribe(rt: TeamsRuntime, actor: Actor, conversation_id: str) -> int:
    actors.ensure_technician(actor)
    target = destination(conversation_id)

    async def work(conn: SqlConnection) -> int:
        mine = [r for r in await _rules_of(conn, target) if rules.sees(actor, r.rule.customer_id)]
        for stored in mine:
            await writer.delete_routing_rule(conn, stored.rule.id)
        return len(mine)

    return await in_transaction(rt.engine, rt.writer, work)
