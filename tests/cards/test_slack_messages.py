"""The small replies of ``/psa`` (``cards.slack.messages``): help, errors, information, linking, subscriptions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from psa_chatops.cards.slack.messages import (
    COMMANDS,
    Message,
    closest_command,
    command_list,
    error_message,
    help_message,
    info_message,
    link_instructions,
    subscription_summary,
    unsubscribed_message,
)
from psa_chatops.core.errors import N_, InvalidError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.core.tickets_state import Status
from tests.cards.slack_limits import assert_matches_block_kit_schema, assert_within_slack_limits

LOCALES = ("en", "de")


def check(message: Message) -> dict[str, Any]:
    data = assert_within_slack_limits(message)
    assert_matches_block_kit_schema(data)
    return data


def test_message_as_dict() -> None:
    message = Message("hi", [{"type": "divider"}])
    assert message.as_dict() == {"text": "hi", "blocks": [{"type": "divider"}]}
    assert message.as_dict()["blocks"] is not message.blocks


@pytest.mark.parametrize("locale", LOCALES)
def test_help_lists_every_command_with_examples(locale: str) -> None:
    data = check(help_message(locale))
    text = json.dumps(data, ensure_ascii=False)
    for command in COMMANDS:
        assert command.usage.replace("<", "&lt;").replace(">", "&gt;") in text
    for example in ("/psa ticket 12345", "/psa note 12345 --public We are on it.", "/psa subscribe customer=CUST-789"):
        assert example in text
    assert ("Show a ticket" if locale == "en" else "Zeigt ein Ticket") in text


def test_command_list_is_translated() -> None:
    usage, description, example = command_list("de")[0]
    assert usage == "/psa ticket <number>"
    assert example == "/psa ticket 12345"
    assert description != "Show a ticket with its buttons."


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("tiket", "ticket"), ("subscibe", "subscribe"), ("unsub", "unsubscribe"), ("SLA", "sla"), ("hlep", "help")],
)
def test_closest_command(typed: str, meant: str) -> None:
    assert closest_command(typed) == meant


@pytest.mark.parametrize("typed", ["", "xyzzy", "s"])
def test_no_suggestion_when_nothing_is_close(typed: str) -> None:
    assert closest_command(typed) is None


@pytest.mark.parametrize("locale", LOCALES)
def test_unknown_subcommand_suggests_the_closest(locale: str) -> None:
    data = check(help_message(locale, unknown="subscibe", suggestion="subscribe"))
    lead = data["blocks"][0]["text"]["text"]
    assert "`subscibe`" in lead
    assert "`/psa subscribe`" in lead
    assert data["text"] == lead


def test_unknown_subcommand_is_escaped() -> None:
    data = check(help_message("en", unknown="<!channel>`x`", suggestion=None))
    lead = data["blocks"][0]["text"]["text"]
    assert "<!channel>" not in lead
    assert "&lt;!channel&gt;" in lead
    assert "Did you mean" not in lead


@pytest.mark.parametrize("locale", LOCALES)
def test_error_message_translates_the_template_and_its_labels(locale: str) -> None:
    exc = InvalidError(
        N_("Ticket #{number} cannot go from {current} to {target}."),
        number=5,
        current=Status.CLOSED.label,
        target=Status.IN_PROGRESS.label,
    )
    data = check(error_message(exc.template, exc.params, locale))
    expected = {
        "en": "Ticket #5 cannot go from closed to in progress.",
        "de": "Ticket #5 kann nicht vom Status geschlossen in den Status in Bearbeitung wechseln.",
    }[locale]
    assert data["text"] == expected
    assert data["blocks"][0]["text"]["text"] == f":warning: {expected}"


def test_error_message_escapes_user_parameters() -> None:
    data = check(error_message("No customer matches {query}.", {"query": "<!here>"}, "en"))
    assert "<!here>" not in json.dumps(data)


def test_info_message() -> None:
    data = check(info_message(N_("Ticket #{number} does not exist."), "de", number=9))
    assert data["text"] == "Ticket #9 existiert nicht."


@pytest.mark.parametrize("locale", LOCALES)
def test_link_instructions(locale: str) -> None:
    plain = check(link_instructions(locale))
    assert "/psa link" in json.dumps(plain)
    hinted = check(link_instructions(locale, email_hint="mia@<evil>.example"))
    text = json.dumps(hinted)
    assert "mia@&lt;evil&gt;.example" in text
    assert "/psa link" in text


@pytest.mark.parametrize("locale", LOCALES)
def test_subscription_summary(locale: str) -> None:
    rule = RoutingRule(
        3, "slack:C1", frozenset({Category.NEW, Category.SLA}), "CUST-789", Priority.HIGH, dispatchers=True
    )
    data = check(subscription_summary(rule, locale, customer_name="Müller & Co"))
    text = json.dumps(data, ensure_ascii=False)
    assert "Müller &amp; Co" in text
    if locale == "en":
        assert "new tickets, SLA warnings and breaches" in text
        assert "Priority: high or higher" in text
    else:
        assert "neue Tickets, SLA-Warnungen und -Verletzungen" in text
        assert "Priorität: hoch oder höher" in text


def test_subscription_summary_without_filters() -> None:
    rule = RoutingRule(1, "slack:C1", frozenset(Category))
    text = json.dumps(check(subscription_summary(rule, "en")))
    assert "Customers: all" in text
    assert "Priorities: all" in text
    assert "escalations" in text


@pytest.mark.parametrize(("removed", "expected"), [(0, "had no"), (1, "1 subscription;"), (3, "3 subscriptions;")])
def test_unsubscribed_message(removed: int, expected: str) -> None:
    assert expected in check(unsubscribed_message(removed, "en"))["text"]
