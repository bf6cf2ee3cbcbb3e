"""Workarounds for the Agents SDK (1.9), each with the reason; remove one when the SDK fixes it.

``get_product_info()`` (the connector clients' ``User-Agent``) calls ``importlib.metadata.version`` on every
turn, twice (the user-token client and the connector client are built per turn), and that scans ``sys.path`` with
blocking ``stat``/``listdir`` calls on the event loop. It is also evaluated eagerly, as the default argument of
``headers.get("User-Agent", get_product_info())``, so passing our own header does not avoid it. We compute the
string once in a worker thread at start-up and let the two client modules use that value.
"""

from __future__ import annotations

import asyncio
import importlib

from microsoft_agents.hosting.core.connector.client import connector_client, user_token_client


async def cache_product_info() -> None:
    module = importlib.import_module("microsoft_agents.hosting.core.connector.get_product_info")
    value: str = await asyncio.to_thread(module.get_product_info)

    def cached() -> str:
        return value

    for client in (connector_client, user_token_client):
        client.get_product_info = cached  # type: ignore[attr-defined]  # the module imported the function by name
