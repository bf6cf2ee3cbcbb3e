"""Options for the external selects of the New ticket modal: customers matching what the user typed (only those
the user may see), and assets of the customer chosen above. Answered in the ack, from the database."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from psa_chatops.bot.slack import payloads
from psa_chatops.bot.slack.runtime import SlackRuntime
from psa_chatops.cards.slack import ids, modals
from psa_chatops.handlers import actors
from psa_chatops.handlers.ports import Actor
from psa_chatops.storage import directory as store
from psa_chatops.storage.engine import read_connection

Payload = dict[str, Any]
LIMIT = 50


def register(bolt: AsyncApp, rt: SlackRuntime) -> None:
    async def customer_options(ack: AsyncAck, body: Payload) -> None:
        await ack(options=await customers(rt, body))

    async def asset_options(ack: AsyncAck, body: Payload) -> None:
        await ack(options=await assets(rt, body))

    bolt.options(ids.CUSTOMER[1])(customer_options)
    bolt.options(ids.ASSET[1])(asset_options)


async def _actor(rt: SlackRuntime, body: Payload) -> Actor | None:
    actor = await rt.identity.actor(payloads.to_user_id(body))
    return actor if actors.acts_as_technician(actor) else None


async def customers(rt: SlackRuntime, body: Payload) -> list[Payload]:
    actor = await _actor(rt, body)
    if actor is None:
        return []
    text = str(body.get("value") or "").strip() or None
    listing = store.Listing(limit=LIMIT, text=text, customer_ids=actors.visible_customers(actor))
    async with read_connection(rt.engine) as conn:
        found = await store.page(conn, store.CUSTOMERS, listing)
    return list(modals.options([(c.id, c.name) for c in found])["options"])


async def assets(rt: SlackRuntime, body: Payload) -> list[Payload]:
    actor = await _actor(rt, body)
    customer = payloads.to_input(body.get("view") or {}, ids.CUSTOMER)
    if actor is None or customer is None or not actors.can_see_customer(actor, customer):
        return []
    text = str(body.get("value") or "").strip() or None
    listing = store.Listing(limit=LIMIT, text=text, customer_ids=[customer])
    async with read_connection(rt.engine) as conn:
        found = await store.page(conn, store.ASSETS, listing)
    return list(modals.options([(a.id, f"{a.name} ({a.hostname})") for a in found])["options"])
