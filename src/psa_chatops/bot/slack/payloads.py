"""Pure predicates and extractors for Slack payloads (bolt's ``payload_utils`` style): no I/O, no Bolt."""

from __future__ import annotations

import json
from typing import Any

from psa_chatops.cards.slack import ids

Payload = dict[str, Any]


def to_metadata(**values: Any) -> str:
    """``private_metadata`` of our modals: a small JSON object (Slack allows 3,000 characters)."""
    return json.dumps({k: v for k, v in values.items() if v is not None}, separators=(",", ":"))


def parse_metadata(view: Payload) -> Payload:
    try:
        found = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def to_input(view: Payload, field: tuple[str, str]) -> str | None:
    """The value of a text input, select or radio group in a submitted (or suggested) view, or None."""
    block, action = field
    element = (((view.get("state") or {}).get("values") or {}).get(block) or {}).get(action) or {}
    if element.get("selected_option"):
        return str(element["selected_option"].get("value"))
    if element.get("selected_user"):
        return str(element["selected_user"])
    value = element.get("value")
    return str(value).strip() if value not in (None, "") else None


def to_user_id(body: Payload) -> str:
    user = body.get("user")
    if isinstance(user, dict):
        return str(user.get("id", ""))
    return str(body.get("user_id") or user or "")


def to_channel_id(body: Payload) -> str | None:
    channel = body.get("channel")
    if isinstance(channel, dict):
        return str(channel.get("id"))
    container = body.get("container") or {}
    return container.get("channel_id") or body.get("channel_id")


def to_card_action(body: Payload) -> tuple[str, int, int | None, Payload]:
    """(action id, ticket number, card version, the action) of a click on a ticket card."""
    action = (body.get("actions") or [{}])[0]
    value = action.get("value") or (action.get("selected_option") or {}).get("value", "")
    if action.get("action_id") == ids.SET_STATUS:
        value = action.get("block_id", "") if ":" in action.get("block_id", "") else value
    number, version = ids.parse_action_value(str(value))
    return str(action.get("action_id")), number, version, action


def is_thread_reply(event: Payload) -> bool:
    """A person's reply in a thread (not the root, not a bot, not an edit or a join)."""
    return bool(
        event.get("thread_ts")
        and event.get("thread_ts") != event.get("ts")
        and not event.get("bot_id")
        and not event.get("subtype")
    )
