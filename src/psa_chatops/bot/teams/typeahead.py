"""Adaptive Card typeahead (``application/search`` invoke, ``Data.Query``): the New ticket form's customer field
asks for matches as the user types. Answered with the customers the user may see, by id or name."""

from __future__ import annotations

from typing import Any

from psa_chatops.bot.teams.conversation import Said
from psa_chatops.handlers import actors
from psa_chatops.storage import directory as store
from psa_chatops.storage.engine import read_connection

Payload = dict[str, Any]
SEARCH = "application/search"
SEARCH_RESPONSE = "application/vnd.microsoft.search.searchResponse"
DATASETS = ("customers",)
MAX_RESULTS = 50


def _error(status: int, message: str) -> Payload:
    return {
        "statusCode": status,
        "type": "application/vnd.microsoft.error",
        "value": {"code": str(status), "message": message},
    }


async def answer(said: Said, value: Any) -> Payload:
    asked = value if isinstance(value, dict) else {}
    if asked.get("dataset") not in DATASETS:
        return _error(400, f"unknown dataset {asked.get('dataset')!r}; known: {', '.join(DATASETS)}")
    actor = said.context.actor
    if not actors.acts_as_technician(actor):
        return {"statusCode": 200, "type": SEARCH_RESPONSE, "value": {"results": []}}
    raw_options = asked.get("queryOptions")
    options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
    top = max(1, min(int(options.get("top") or 15), MAX_RESULTS))
    text = str(asked.get("queryText") or "").strip() or None
    listing = store.Listing(limit=top, text=text, customer_ids=actors.visible_customers(actor))
    async with read_connection(said.rt.engine) as conn:
        found = await store.page(conn, store.CUSTOMERS, listing)
    results = [{"title": f"{c.name} ({c.id})", "value": c.id} for c in found]
    return {"statusCode": 200, "type": SEARCH_RESPONSE, "value": {"results": results}}
