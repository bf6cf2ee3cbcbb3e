"""Teams notifications (``cards.teams.notifications``): root card, replies for every routed event, the webhook."""

from __future__ import annotations

import json
from typing import Any

import pytest

from psa_chatops.cards.teams import ids
from psa_chatops.cards.teams.notifications import (
    ROUTED_EVENT_TYPES,
    reply_card,
    reply_text,
    root_card,
    webhook_message,
)
from tests.cards.slack_factories import PUBLIC_URL, envelopes, routed_envelopes
from tests.cards.teams_limits import actions_of, assert_valid_card, markdown_texts, verbs_of

LOCALES = ("en", "de")
NAMES = {"technician:tom": "Tom Technician", "mia": "Mia Muster", "CUST-789": "Müller GmbH"}
HOSTILE = "[click](https://evil.example) <at>all</at> **bold**"
ROUTED = sorted(ROUTED_EVENT_TYPES)


@pytest.mark.parametrize("event_type", ROUTED)
@pytest.mark.parametrize("locale", LOCALES)
def test_root_and_reply_for_every_routed_event(event_type: str, locale: str) -> None:
    envelope = routed_envelopes()[event_type]
    root = assert_valid_card(root_card(envelope, locale=locale, public_url=PUBLIC_URL, names=NAMES))
    assert "#12345" in root["body"][0]["text"]
    assert "Müller GmbH" in json.dumps(root, ensure_ascii=False)
    reply = reply_card(envelope, locale=locale, public_url=PUBLIC_URL, names=NAMES)
    assert reply is not None
    assert_valid_card(reply)
    line = reply_text(envelope, locale=locale, public_url=PUBLIC_URL, names=NAMES)
    assert line
    assert "\\" not in line
    assert "{{" not in line
    webhook = assert_valid_card(
        webhook_message(envelope, locale=locale, public_url=PUBLIC_URL, names=NAMES), limit=ids.WORKFLOWS_CARD_LIMIT
    )
    card = webhook["attachments"][0]["content"]
    assert not verbs_of(card)
    assert [a["type"] for a in actions_of(card)] == ["Action.OpenUrl"]


def test_root_card_actions_follow_the_ticket_state_and_refresh() -> None:
    by_type = routed_envelopes()
    opened = root_card(by_type["TicketOpened"], locale="en", public_url=PUBLIC_URL, viewer_ids=["29:a"] * 3)
    assert verbs_of(opened) == {
        ids.ASSIGN_TO_ME,
        ids.SET_STATUS,
        ids.ADD_NOTE,
        ids.ESCALATE,
        ids.CLOSE,
    }
    assert opened["refresh"]["userIds"] == ["29:a"]
    closed = envelopes()[-1]
    assert closed["ticket"]["status"] == "closed"
    assert "actions" not in assert_valid_card(root_card(closed, locale="en", public_url=PUBLIC_URL))


def test_sla_markers_on_the_root_card() -> None:
    by_type = routed_envelopes()
    warning = root_card(by_type["SlaWarningRaised"], locale="en", public_url=PUBLIC_URL)
    assert "⚠️ **at risk**" in json.dumps(warning, ensure_ascii=False)
    breached = root_card(by_type["SlaBreached"], locale="de", public_url=PUBLIC_URL)
    shown = json.dumps(breached, ensure_ascii=False)
    assert "🚨 **verletzt**" in shown or "🚨 **" in shown
    assert breached["body"][-1]["color"] == "Attention"


def _hostile(envelope: dict[str, Any]) -> dict[str, Any]:
    data = {
        k: HOSTILE if isinstance(v, str) and k in ("body", "reason", "resolution") else v
        for k, v in envelope["data"].items()
    }
    return {
        **envelope,
        "data": data,
        "ticket": {**envelope["ticket"], "title": HOSTILE},
        "actor": "technician:" + HOSTILE,
    }


@pytest.mark.parametrize("event_type", ROUTED)
def test_user_text_is_inert_everywhere(event_type: str) -> None:
    envelope = _hostile(routed_envelopes()[event_type])
    for card in (
        root_card(envelope, locale="en", public_url=PUBLIC_URL),
        reply_card(envelope, locale="en", public_url=PUBLIC_URL),
        webhook_message(envelope, locale="en", public_url=PUBLIC_URL)["attachments"][0]["content"],
    ):
        assert card is not None
        shown = "\n".join(markdown_texts(assert_valid_card(card)))
        assert "[click]" not in shown
        assert "<at>" not in shown
        assert "**bold**" not in shown
        assert "<at>" not in card["fallbackText"]
    line = reply_text(envelope, locale="en", public_url=PUBLIC_URL)
    assert line is not None
    assert "<at>" not in line


def test_long_notes_are_cut_with_a_link_and_the_webhook_stays_small() -> None:
    note = next(e for e in envelopes() if e["type"] == "NoteAdded")
    huge = {**note, "data": {**note["data"], "body": "Ö" * 50_000}, "ticket": {**note["ticket"], "title": "T" * 5_000}}
    reply = reply_card(huge, locale="de", public_url=PUBLIC_URL)
    assert reply is not None
    assert f"({PUBLIC_URL}/tickets/12345)" in reply["body"][0]["text"]
    assert_valid_card(webhook_message(huge, locale="de", public_url=PUBLIC_URL), limit=ids.WORKFLOWS_CARD_LIMIT)


def test_unrouted_events_get_no_reply() -> None:
    envelope = {**envelopes()[0], "type": "SlaPaused"}
    assert reply_card(envelope, locale="en", public_url=PUBLIC_URL) is None
    assert reply_text(envelope, locale="en", public_url=PUBLIC_URL) is None
    assert_valid_card(webhook_message(envelope, locale="en", public_url=PUBLIC_URL), limit=ids.WORKFLOWS_CARD_LIMIT)
