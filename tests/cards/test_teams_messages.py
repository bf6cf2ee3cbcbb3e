"""Teams replies (``cards.teams.messages``): help, errors, info, linking, subscriptions, wrappers."""

from __future__ import annotations

import json

import pytest

from psa_chatops.cards.teams import ids
from psa_chatops.cards.teams.messages import (
    CARD_CONTENT_TYPE,
    attachment,
    closest_command,
    error_card,
    help_card,
    info_card,
    link_instructions_card,
    message_activity,
    subscription_card,
    unsubscribed_card,
    workflows_payload,
)
from psa_chatops.core.errors import N_
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category, RoutingRule
from tests.cards.teams_limits import assert_valid_card, markdown_texts

LOCALES = ("en", "de")
COMMAND_WORDS = ("help", "ticket", "mine", "queue", "search", "sla", "new", "note", "close", "link", "subscribe")


@pytest.mark.parametrize("locale", LOCALES)
def test_help_lists_every_command(locale: str) -> None:
    card = assert_valid_card(help_card(locale))
    shown = "\n".join(markdown_texts(card))
    for word in (*COMMAND_WORDS, "unsubscribe", "ticket 12345", "note 12345", "close 12345"):
        assert f"`{word}" in shown, word
    assert "\\[" not in shown  # code spans are literal: no escapes inside


@pytest.mark.parametrize(("typed", "meant"), [("subscibe", "subscribe"), ("tick", "ticket"), ("xyzzy", None)])
def test_unknown_text_gets_help_with_the_closest_command(typed: str, meant: str | None) -> None:
    assert closest_command(typed) == meant
    card = assert_valid_card(help_card("de", unknown=typed, suggestion=meant))
    first = card["body"][0]["text"]
    assert f"`{typed}`" in first
    assert meant is None or f"`{meant}`" in first
    assert typed in card["fallbackText"]


def test_unknown_text_is_not_injected() -> None:
    card = assert_valid_card(help_card("en", unknown="<at>all</at>`[x](y)"))
    assert "<at>" not in json.dumps(card)


@pytest.mark.parametrize("locale", LOCALES)
def test_error_info_link_cards(locale: str) -> None:
    error = assert_valid_card(error_card(N_("Ticket #{number} was not found."), {"number": 7}, locale))
    assert "#7" in error["fallbackText"]
    assert error["body"][0]["color"] == "Attention"
    assert_valid_card(info_card(N_("No tickets."), locale))
    linked = assert_valid_card(link_instructions_card(locale, email_hint="[x](y)@evil", link_url="https://p/l"))
    assert "\\[x\\]\\(y\\)" in linked["body"][0]["text"]
    assert linked["actions"][0]["url"] == "https://p/l"
    assert_valid_card(link_instructions_card(locale))


@pytest.mark.parametrize("locale", LOCALES)
def test_subscription_cards(locale: str) -> None:
    rule = RoutingRule(1, "teams:x", frozenset(Category), "CUST-1", Priority.HIGH, dispatchers=True)
    card = assert_valid_card(subscription_card(rule, locale, customer_name="**Globex**"))
    assert "\\*\\*Globex\\*\\*" in card["body"][0]["text"]
    assert_valid_card(subscription_card(RoutingRule(2, "teams:x", frozenset()), locale))
    for removed in (0, 1, 3):
        assert_valid_card(unsubscribed_card(removed, locale))


def test_wrappers() -> None:
    card = info_card(N_("No tickets."), "en")
    assert attachment(card) == {"contentType": CARD_CONTENT_TYPE, "content": card}
    activity = message_activity(card)
    assert activity["type"] == "message"
    assert activity["summary"] == "No tickets."
    payload = assert_valid_card(workflows_payload(card), limit=ids.WORKFLOWS_CARD_LIMIT)
    assert payload == {"type": "message", "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}]}
