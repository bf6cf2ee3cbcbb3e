"""The alert card in both channels (``cards.slack.alert``, ``cards.teams.alert``) and as a channel notification:
Block Kit parsed by slack_sdk within Slack's limits, Adaptive Card 1.5 schema and size, the buttons a viewer may
use, both languages, and vendor text that must not inject (``<!channel>``, markdown links, mention tags)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from psa_chatops.cards.slack import ids as slack_ids
from psa_chatops.cards.slack.alert import alert_card as slack_card
from psa_chatops.cards.slack.notifications import root_message, thread_line, webhook_message
from psa_chatops.cards.teams import ids as teams_ids
from psa_chatops.cards.teams.alert import alert_card as teams_card
from psa_chatops.cards.teams.notifications import root_card
from psa_chatops.cards.teams.notifications import webhook_message as teams_webhook
from psa_chatops.cards.wording import ALERT_EVENT_TYPES
from psa_chatops.handlers.alert_views import AlertView
from tests.cards.slack_factories import HOSTILE, INJECTIONS, PUBLIC_URL, routed_envelopes
from tests.cards.slack_limits import assert_matches_block_kit_schema, assert_within_slack_limits
from tests.cards.teams_limits import actions_of, assert_valid_card, markdown_texts, verbs_of

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EVERY_ACTION = ("acknowledge", "assign_to_me", "escalate", "false_positive", "isolate")
TEAMS_HOSTILE = "[click](https://evil.example) <at>all</at> **bold**"


def view(**changes: Any) -> AlertView:
    base = AlertView(
        provider="sentinelone",
        alert_id="1789",
        severity="critical",
        threat_type="Ransomware",
        title="Ransomware on WS-CLIENT-042",
        status="new",
        action="create_ticket",
        count=3,
        first_seen=NOW - timedelta(hours=1),
        last_seen=NOW,
        priority="critical",
        customer_id="CUST-789",
        customer_name="Müller Maschinenbau GmbH",
        affected_asset="WS-CLIENT-042.corp.local",
        asset_id="WS-CLIENT-042",
        asset="WS-CLIENT-042",
        ticket_number=12345,
        actions=EVERY_ACTION,
    )
    return replace(base, **changes)


def slack(message: Any) -> dict[str, Any]:
    data = assert_within_slack_limits(message)
    assert_matches_block_kit_schema(data)
    return data


def slack_buttons(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in data["blocks"] if b["type"] == "actions" for e in b["elements"]]


# --- Slack ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "de"])
def test_slack_card_shows_the_alert_and_every_button(locale: str) -> None:
    data = slack(slack_card(view(), locale=locale, public_url=PUBLIC_URL))
    text = json.dumps(data, ensure_ascii=False)
    assert ":rotating_light: *CRITICAL*" in text or ":rotating_light: *KRITISCH*" in text
    for shown in ("Ransomware", "WS-CLIENT-042", "Müller Maschinenbau GmbH", "SentinelOne", "<!date^"):
        assert shown in text
    assert f"<{PUBLIC_URL}/tickets/12345|#12345>" in text
    buttons = slack_buttons(data)
    assert [b["action_id"] for b in buttons] == [
        slack_ids.ALERT_ACKNOWLEDGE,
        slack_ids.ALERT_ASSIGN_TO_ME,
        slack_ids.ALERT_ESCALATE,
        slack_ids.ALERT_FALSE_POSITIVE,
        slack_ids.ALERT_ISOLATE,
        slack_ids.ALERT_OPEN_TICKET,
    ]
    assert all(b["value"] == "sentinelone/1789" for b in buttons if "value" in b)
    confirmed = {b["action_id"] for b in buttons if "confirm" in b}
    assert confirmed == {slack_ids.ALERT_ESCALATE, slack_ids.ALERT_FALSE_POSITIVE, slack_ids.ALERT_ISOLATE}
    isolate = next(b for b in buttons if b["action_id"] == slack_ids.ALERT_ISOLATE)
    assert (isolate["style"], isolate["confirm"]["style"]) == ("danger", "danger")


def test_slack_german_words() -> None:
    data = slack(slack_card(view(classification="false_positive", status="resolved", actions=()), locale="de",
                            public_url=PUBLIC_URL))  # fmt: skip
    text = json.dumps(data, ensure_ascii=False)
    assert "*KRITISCH*" in text
    assert "erledigt" in text or "gelöst" in text
    assert "Fehlalarm" in text
    assert "3-mal" in text
    assert not slack_buttons(data)  # a resolved alert offers nothing


def test_slack_notify_only_alert_offers_create_ticket_and_no_ticket_link() -> None:
    data = slack(slack_card(view(ticket_number=None, action="notify_only", actions=("create_ticket",)), locale="en",
                            public_url=PUBLIC_URL))  # fmt: skip
    assert [b["action_id"] for b in slack_buttons(data)] == [slack_ids.ALERT_CREATE_TICKET]
    assert "/tickets/" not in json.dumps(data)


def test_slack_vendor_text_cannot_inject() -> None:
    hostile = view(title=HOSTILE, threat_type=HOSTILE, asset=HOSTILE, customer_name=HOSTILE)
    data = slack(slack_card(hostile, locale="en", public_url=PUBLIC_URL))
    shown = json.dumps(data["blocks"]) + data["text"]
    for injection in INJECTIONS:
        assert injection not in shown
    assert "&lt;!channel&gt;" in shown


def test_slack_long_vendor_texts_stay_within_the_limits() -> None:
    slack(slack_card(view(title="T" * 5_000, threat_type="x" * 5_000, alert_id="9" * 255), locale="de",
                     public_url=PUBLIC_URL))  # fmt: skip


def test_slack_other_alerts_of_the_ticket_are_named() -> None:
    others = [view(alert_id="1790"), view(provider="defender", alert_id="da_1/x")]
    data = slack(slack_card(view(), locale="en", public_url=PUBLIC_URL, others=others))
    assert "Also on this ticket: sentinelone/1790, defender/da_1/x" in json.dumps(data)


# --- Teams ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "de"])
def test_teams_card_is_valid_with_every_action(locale: str) -> None:
    card = assert_valid_card(teams_card(view(), locale=locale, public_url=PUBLIC_URL))
    assert verbs_of(card) == {
        teams_ids.ALERT_ACKNOWLEDGE,
        teams_ids.ALERT_ASSIGN_TO_ME,
        teams_ids.ALERT_ESCALATE,
        teams_ids.ALERT_FALSE_POSITIVE,
        teams_ids.ALERT_ISOLATE,
    }
    executes = [a for a in actions_of(card) if a["type"] == "Action.Execute"]
    assert all(a["data"] == {"provider": "sentinelone", "alert_id": "1789"} for a in executes)
    assert all(a["fallback"]["type"] == "Action.Submit" and a["fallback"]["data"]["verb"] == a["verb"]
               for a in executes)  # fmt: skip
    top = [a["type"] for a in card["actions"]]
    assert top == [
        "Action.Execute",
        "Action.Execute",
        "Action.ShowCard",
        "Action.ShowCard",
        "Action.ShowCard",
        "Action.OpenUrl",
    ]
    inputs = {e["id"] for a in card["actions"] if a["type"] == "Action.ShowCard" for e in a["card"]["body"]
              if e["type"] == "Input.Text"}  # fmt: skip
    assert inputs == {teams_ids.ALERT_REASON, teams_ids.ALERT_COMMENT}
    text = json.dumps(card, ensure_ascii=False)
    assert "Müller Maschinenbau GmbH" in text
    assert "KRITISCH" in text if locale == "de" else "CRITICAL" in text


def test_teams_buttons_follow_the_view() -> None:
    card = assert_valid_card(teams_card(view(ticket_number=None, actions=("create_ticket",)), locale="en",
                                        public_url=PUBLIC_URL))  # fmt: skip
    assert verbs_of(card) == {teams_ids.ALERT_CREATE_TICKET}
    none = assert_valid_card(teams_card(view(actions=()), locale="en", public_url=PUBLIC_URL))
    assert "actions" not in none


def test_teams_vendor_text_cannot_inject() -> None:
    hostile = view(title=TEAMS_HOSTILE, threat_type=TEAMS_HOSTILE, asset=TEAMS_HOSTILE, customer_name=TEAMS_HOSTILE)
    card = assert_valid_card(teams_card(hostile, locale="en", public_url=PUBLIC_URL))
    shown = "\n".join(markdown_texts(card))
    assert "[click]" not in shown
    assert "<at>" not in shown
    assert "**bold**" not in shown
    assert "<at>" not in card["fallbackText"]


def test_teams_card_fits_even_with_huge_vendor_texts() -> None:
    assert_valid_card(teams_card(view(title="Ö" * 50_000, threat_type="x" * 50_000), locale="de",
                                 public_url=PUBLIC_URL))  # fmt: skip


# --- notifications ------------------------------------------------------------------------------------------------


def notify_only_envelope() -> dict[str, Any]:
    """A ticketless announcement, shaped as ``storage.security_alerts.SqlAlertStore.announce`` writes it."""
    received = routed_envelopes()["AlertReceived"]
    return {
        **copy.deepcopy(received),
        "event_id": "alert:sentinelone:1789",
        "number": None,
        "version": 0,
        "ticket": None,
        "alert": {
            "provider": "sentinelone",
            "alert_id": "1789",
            "ticket_number": None,
            "customer_id": "CUST-789",
            "severity": "critical",
            "threat_type": "Ransomware <!channel>",
            "title": "Ransomware on WS-CLIENT-042",
            "first_seen": NOW.isoformat(),
            "last_seen": NOW.isoformat(),
            "count": 4,
            "action": "notify_only",
            "status": "new",
            "affected_asset": "WS-CLIENT-042",
        },
    }


@pytest.mark.parametrize("event_type", sorted(ALERT_EVENT_TYPES))
def test_alert_events_render_the_alert_card_in_both_channels(event_type: str) -> None:
    envelope = routed_envelopes()[event_type]
    names = {"CUST-789": "Müller GmbH", "technician:tom": "Tom"}
    data = slack(root_message(envelope, locale="en", public_url=PUBLIC_URL, names=names))
    text = json.dumps(data, ensure_ascii=False)
    assert "Müller GmbH" in text
    assert "SentinelOne" in text
    assert "<!channel>" not in text
    assert data["text"].startswith("#12345 Ransomware on WS-CLIENT-042: ")
    line = thread_line(envelope, locale="en", public_url=PUBLIC_URL, names=names)
    assert line is not None
    assert line.text in data["text"]
    card = assert_valid_card(root_card(envelope, locale="de", public_url=PUBLIC_URL, names=names))
    assert "#12345" in card["body"][0]["text"]
    hook = slack(webhook_message(envelope, locale="de", public_url=PUBLIC_URL))
    assert not slack_buttons(hook)


def test_channel_cards_offer_a_technicians_buttons_by_alert_state() -> None:
    found = routed_envelopes()
    received = slack(root_message(found["AlertReceived"], locale="en", public_url=PUBLIC_URL))
    ids_shown = [b["action_id"] for b in slack_buttons(received)]
    assert slack_ids.ALERT_ACKNOWLEDGE in ids_shown
    assert slack_ids.ALERT_ISOLATE not in ids_shown  # admin only: never on a card everyone sees
    escalated = root_card(found["AlertEscalated"], locale="en", public_url=PUBLIC_URL)
    assert teams_ids.ALERT_ESCALATE not in verbs_of(escalated)
    assert teams_ids.ALERT_ACKNOWLEDGE not in verbs_of(escalated)
    classified = slack(root_message(found["AlertClassified"], locale="en", public_url=PUBLIC_URL))
    assert not slack_buttons(classified)


def test_a_notify_only_alert_renders_without_a_ticket() -> None:
    envelope = notify_only_envelope()
    data = slack(root_message(envelope, locale="en", public_url=PUBLIC_URL))
    assert [b["action_id"] for b in slack_buttons(data)] == [slack_ids.ALERT_CREATE_TICKET]
    text = json.dumps(data, ensure_ascii=False)
    assert "4 times" in text
    assert "/tickets/" not in text
    assert data["text"].startswith("CRITICAL: Ransomware on WS-CLIENT-042 (SentinelOne)")
    card = assert_valid_card(root_card(envelope, locale="en", public_url=PUBLIC_URL))
    assert verbs_of(card) == {teams_ids.ALERT_CREATE_TICKET}
    hook = teams_webhook(envelope, locale="de", public_url=PUBLIC_URL)
    content = assert_valid_card(hook["attachments"][0]["content"], limit=teams_ids.WORKFLOWS_CARD_LIMIT)
    assert [a["type"] for a in actions_of(content)] == ["Action.OpenUrl"]
