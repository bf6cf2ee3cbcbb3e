"""Routing rules through the API, independent of the version: which destinations (Slack channels, Teams
conversations, webhooks, e-mail) hear which ticket events.

Rules are read through the directory's versioned cache by every command, so each write bumps the directory version
in its transaction. A rule for no customer hears every customer's events: only callers that see every customer may
see or write one. One enabled rule per destination: two matching one event would queue the same delivery twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from psa_chatops.bot.api.directory import Page, actor_of, customer_issues, invalid, invalidate, page_of, read, write
from psa_chatops.bot.api.operations import Call
from psa_chatops.core.errors import N_, ConflictError, NotFoundError
from psa_chatops.core.routing import RoutingRule
from psa_chatops.handlers import directory_queries as rules
from psa_chatops.handlers.actors import visible_customers
from psa_chatops.storage import directory as store
from psa_chatops.storage import directory_writer as writer
from psa_chatops.storage.directory import StoredRoutingRule
from psa_chatops.storage.tables import SqlConnection

LABEL = "routing-rule"
COLLECTION_TAG = "routing-rules"
MISSING = N_("Routing rule {id} does not exist.")


def tags(rule_id: int) -> tuple[str, ...]:
    return (f"{LABEL}:{rule_id}",)


async def search(
    call: Call,
    *,
    limit: int,
    cursor: str | None,
    customer_id: str | None = None,
    enabled: bool | None = None,
    text: str | None = None,
) -> Page[StoredRoutingRule]:
    listing = store.Listing(
        customer_ids=visible_customers(actor_of(call)),
        equals={k: v for k, v in {"customer_id": customer_id, "enabled": enabled}.items() if v is not None},
        text=text,
    )
    return await page_of(call, store.ROUTING_RULES, listing, limit, cursor, LABEL, int, lambda r: r.rule.id)


async def get(call: Call, rule_id: int) -> StoredRoutingRule:
    found = await read(call, lambda conn: store.find(conn, store.ROUTING_RULES, rule_id))
    if found is None or not rules.sees(actor_of(call), found.rule.customer_id):
        raise NotFoundError(MISSING, id=rule_id)
    return found


async def create(call: Call, rule: RoutingRule, *, enabled: bool) -> StoredRoutingRule:
    actor, now = actor_of(call), call.now()

    async def work(conn: SqlConnection) -> StoredRoutingRule:
        await _check(conn, call, rule, enabled=enabled, rule_id=None)
        new_id = await writer.insert_routing_rule(conn, rule, enabled=enabled, created_by=actor.id, now=now)
        return StoredRoutingRule(replace(rule, id=new_id), enabled, actor.id, now)

    stored = await write(call, work)
    await invalidate(call, COLLECTION_TAG, *tags(stored.rule.id))
    return stored


async def update(
    call: Call, rule_id: int, change: Callable[[StoredRoutingRule], StoredRoutingRule]
) -> StoredRoutingRule:
    actor = actor_of(call)

    async def work(conn: SqlConnection) -> StoredRoutingRule:
        current = await store.find(conn, store.ROUTING_RULES, rule_id, lock=True)
        if current is None or not rules.sees(actor, current.rule.customer_id):
            raise NotFoundError(MISSING, id=rule_id)
        stored = change(current)
        await _check(conn, call, stored.rule, enabled=stored.enabled, rule_id=rule_id)
        await writer.update_routing_rule(conn, stored.rule, enabled=stored.enabled)
        return stored

    stored = await write(call, work)
    await invalidate(call, COLLECTION_TAG, *tags(rule_id))
    return stored


async def delete(call: Call, rule_id: int) -> None:
    actor = actor_of(call)

    async def work(conn: SqlConnection) -> None:
        current = await store.find(conn, store.ROUTING_RULES, rule_id, lock=True)
        if current is None or not rules.sees(actor, current.rule.customer_id):
            raise NotFoundError(MISSING, id=rule_id)
        await writer.delete_routing_rule(conn, rule_id)

    await write(call, work)
    await invalidate(call, COLLECTION_TAG, *tags(rule_id))


async def _check(conn: SqlConnection, call: Call, rule: RoutingRule, *, enabled: bool, rule_id: int | None) -> None:
    """Who may route what (403), whether the rule makes sense (422), and one enabled rule per destination (409)."""
    actor = actor_of(call)
    if rule.customer_id is None:
        rules.ensure_sees_every_customer(actor)
    issues = rules.rule_issues(rule)
    if rule.customer_id is not None:
        issues += await customer_issues(conn, actor, "customer_id", [rule.customer_id])
    if issues:
        raise invalid(call.locale, issues)
    if enabled and await _destination_taken(conn, rule.destination, rule_id):
        raise ConflictError(
            N_("Another enabled routing rule already sends to {destination}; change that rule instead."),
            destination=rule.destination,
        )


async def _destination_taken(conn: SqlConnection, destination: str, rule_id: int | None) -> bool:
    listing = store.Listing(limit=2, equals={"destination": destination, "enabled": True})
    return any(o.rule.id != rule_id for o in await store.page(conn, store.ROUTING_RULES, listing))
