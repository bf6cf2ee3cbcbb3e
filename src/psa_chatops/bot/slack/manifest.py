"""``psa manifest slack --url https://host``: the Slack app manifest for this service, from the packaged template
``manifest.json`` (placeholders ``{{URL}}``, ``{{DOMAIN}}``, ``{{BOT_SCOPES}}`` and the shortcut callback ids).

Least-privilege bot scopes (``oauth.BOT_SCOPES``): ``commands``; ``chat:write`` (cards, thread lines);
``users:read`` + ``users:read.email`` (``/psa link`` matches the verified e-mail); ``links:read`` +
``links:write`` (unfurls); ``app_mentions:read`` ("@PSA ticket 12345" in a channel); ``channels:history`` +
``groups:history`` (only so that replies in a ticket's thread become notes). Not requested: ``chat:write.public``
(the bot posts only where it was invited, which keeps channel owners in control), ``im:write`` (replies go
through ``response_url`` or the App Home messages tab).
"""

from __future__ import annotations

import asyncio
import json
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from psa_chatops.bot.slack.oauth import BOT_SCOPES
from psa_chatops.cards.slack import ids

TEMPLATE = "manifest.json"


def read_template() -> str:
    """Blocking file read: call it outside the event loop (the CLI) or through :func:`load`."""
    return (files(__package__) / TEMPLATE).read_text(encoding="utf-8")


async def load(url: str, *, ticket_reaction: bool = False) -> dict[str, Any]:
    return render(await asyncio.to_thread(read_template), url, ticket_reaction=ticket_reaction)


def render(template: str, url: str, *, ticket_reaction: bool = False) -> dict[str, Any]:
    """``ticket_reaction`` adds what the 🎫 reaction needs (``reaction_added``, ``reactions:read``), and only then."""
    base = url.rstrip("/")
    parts = urlsplit(base)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"Slack needs a public https URL, e.g. https://psa.example.com (got {url!r})")
    values: dict[str, Any] = {
        "URL": base,
        "DOMAIN": parts.hostname,
        "BOT_SCOPES": list(BOT_SCOPES),
        "CREATE_FROM_MESSAGE": ids.CREATE_FROM_MESSAGE,
        "NEW_TICKET_GLOBAL": ids.NEW_TICKET_GLOBAL,
    }
    filled: dict[str, Any] = _fill(json.loads(template), values)
    if ticket_reaction:
        filled["oauth_config"]["scopes"]["bot"].append("reactions:read")
        filled["settings"]["event_subscriptions"]["bot_events"].append("reaction_added")
    return filled


def _fill(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {k: _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    if isinstance(node, str) and node.startswith("{{") and node.endswith("}}") and node.count("{{") == 1:
        return values[node[2:-2]]
    if isinstance(node, str):
        for name, value in values.items():
            node = node.replace("{{" + name + "}}", str(value))
    return node
