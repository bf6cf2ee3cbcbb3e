"""The App Home tab (``cards.slack.home``)."""

from __future__ import annotations

import json

import pytest

from psa_chatops.cards.slack import ids
from psa_chatops.cards.slack.home import HOME_LIST_ROWS, home_view
from psa_chatops.handlers.views import TicketListView
from tests.cards.slack_factories import PUBLIC_URL, ticket_list
from tests.cards.slack_limits import assert_matches_block_kit_schema, assert_within_slack_limits

LOCALES = ("en", "de")


def action_ids(view: dict[str, object]) -> list[str]:
    blocks = view["blocks"]
    assert isinstance(blocks, list)
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize("locale", LOCALES)
def test_linked_home_shows_both_lists_and_quick_actions(locale: str) -> None:
    at_risk = ticket_list(3, title="SLA at risk")
    view = home_view(ticket_list(2), at_risk, locale=locale, public_url=PUBLIC_URL, linked=True)
    assert_within_slack_limits(view)
    assert_matches_block_kit_schema(view)
    assert view["type"] == "home"
    assert action_ids(view) == [ids.HOME_NEW_TICKET, ids.HOME_REFRESH, ids.OPEN_IN_PSA]
    text = json.dumps(view, ensure_ascii=False)
    assert ("My open tickets (2)" if locale == "en" else "Meine offenen Tickets (2)") in text
    assert ("SLA at risk (3)" if locale == "en" else "SLA gefährdet (3)") in text
    assert f"<{PUBLIC_URL}/tickets/10002|#10002>" in text


@pytest.mark.parametrize("locale", LOCALES)
def test_unlinked_home_explains_how_to_link(locale: str) -> None:
    empty = TicketListView(title="My open tickets", tickets=(), total=0)
    view = home_view(empty, empty, locale=locale, public_url=PUBLIC_URL, linked=False, email_hint="mia@example.com")
    assert_within_slack_limits(view)
    assert_matches_block_kit_schema(view)
    text = json.dumps(view)
    assert "/psa link" in text
    assert "mia@example.com" in text
    assert ids.HOME_NEW_TICKET not in action_ids(view)
    assert "My open tickets" not in text


def test_home_with_100_tickets_per_list_stays_under_100_blocks() -> None:
    view = home_view(
        ticket_list(100, total=400),
        ticket_list(100, total=120, title="SLA at risk"),
        locale="de",
        public_url=PUBLIC_URL,
        linked=True,
    )
    assert_within_slack_limits(view)
    blocks = view["blocks"]
    assert len(blocks) <= 100
    assert sum(1 for b in blocks if b["type"] == "section") == 2 * HOME_LIST_ROWS
    text = json.dumps(view)
    assert "380 weitere Tickets" in text
    assert "100 weitere Tickets" in text


def test_empty_lists_say_so() -> None:
    empty = TicketListView(title="My open tickets", tickets=(), total=0)
    view = home_view(empty, empty, locale="en", public_url=PUBLIC_URL, linked=True)
    assert_within_slack_limits(view)
    assert json.dumps(view).count("No tickets.") == 2
