"""Subscribing a chat destination (a Slack channel, a Teams conversation) to ticket events: its routing rule.

One enabled rule per destination, as the REST API keeps it (two would queue every delivery twice): subscribing
again changes the rule. The same permission rules as the API: a rule for every customer needs an actor who sees
every customer. Also resolves a customer named in a command (its id, or a unique name fragment).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core.errors import N_, InvalidError, NotFoundError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.handlers import actors
from psa_chatops.handlers import directory_queries as rules
from psa_chatops.handlers.ports import Actor
from psa_chatops.storage import directory as store
from psa_chatops.storage import directory_writer as writer
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

NO_CUSTOMER = N_("No customer matches “{value}”.")
MANY_CUSTOMERS = N_("Several customers match “{value}”: {names}. Use the customer id.")


@dataclass(frozen=True)
class Store:
    engine: AsyncEngine
    writer: SqliteWriter | None


async def customer_id(db: Store, actor: Actor, text: str | None) -> str | None:
    if not text:
        return None
    listing = store.Listing(limit=10, text=text, customer_ids=actors.visible_customers(actor))
    async with read_connection(db.engine) as conn:
        found = await store.page(conn, store.CUSTOMERS, listing)
    exact = [c for c in found if c.id.casefold() == text.casefold()]
    if exact or len(found) == 1:
        return (exact or found)[0].id
    if not found:
        raise NotFoundError(NO_CUSTOMER, value=text)
    raise InvalidError(MANY_CUSTOMERS, value=text, names=", ".join(c.name for c in found[:5]))


async def _rules_of(conn: SqlConnection, target: str) -> list[store.StoredRoutingRule]:
    return await store.page(conn, store.ROUTING_RULES, store.Listing(limit=100, equals={"destination": target}))


async def subscribe(
    db: Store,
    actor: Actor,
    target: str,
    *,
    categories: frozenset[Category],
    customer: str | None,
    min_priority: Priority | None,
    now: datetime,
) -> RoutingRule:
    actors.ensure_technician(actor)
    found = await customer_id(db, actor, customer)
    if found is None:
        rules.ensure_sees_every_customer(actor)
    rule = RoutingRule(0, target, categories, found, min_priority)
    issues = rules.rule_issues(rule)
    if issues:
        raise InvalidError(issues[0].template, **issues[0].params)

    async def work(conn: SqlConnection) -> None:
        current = [r for r in await _rules_of(conn, rule.destination) if r.enabled]
        if current:
            await writer.update_routing_rule(conn, replace(rule, id=current[0].rule.id), enabled=True)
        else:
            await writer.insert_routing_rule(conn, rule, enabled=True, created_by=actor.id, now=now)

    await in_transaction(db.engine, db.writer, work)
    return rule


async def unsubscribe(db: Store, actor: Actor, target: str) -> int:
    """Deletes the destination's rules that the actor may see; returns how many."""
    actors.ensure_technician(actor)

    async def work(conn: SqlConnection) -> int:
        mine = [r for r in await _rules_of(conn, target) if rules.sees(actor, r.rule.customer_id)]
        for stored in mine:
            await writer.delete_routing_rule(conn, stored.rule.id)
        return len(mine)

    return await in_transaction(db.engine, db.writer, work)
