"""The Teams ticket card and lists (``cards.teams.ticket``): facts, SLA markers, actions, refresh, limits, escaping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from psa_chatops.cards.teams import ids
from psa_chatops.cards.teams.messages import card_size, workflows_payload
from psa_chatops.cards.teams.ticket import MAX_NOTES, stale_card, ticket_actions, ticket_card, ticket_list_card
from tests.cards.slack_factories import PUBLIC_URL, full_view, minimal_view, note, sla
from tests.cards.slack_factories import ticket_list as make_list
from tests.cards.teams_limits import actions_of, assert_valid_card, markdown_texts, verbs_of, walk

LOCALES = ("en", "de")
URL = f"{PUBLIC_URL}/tickets/12345"
HOSTILE = "[click](https://evil.example) <at>all</at> **bold** _x_ `y` # z"
ALL_VERBS = {ids.ASSIGN_TO_ME, ids.SET_STATUS, ids.ADD_NOTE, ids.ESCALATE, ids.CLOSE}


def text(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


@pytest.mark.parametrize("locale", LOCALES)
def test_full_card_shows_every_fact_and_is_valid(locale: str) -> None:
    card = assert_valid_card(ticket_card(full_view(), locale=locale, public_url=PUBLIC_URL))
    shown = text(card)
    assert card["body"][0]["text"].startswith("#12345 Mail server down")
    for fact in ("Müller Maschinenbau GmbH", "WS\\\\-CLIENT\\\\-042", "Tom Technician", "Petra Kunde", "{{DATE("):
        assert fact in shown or fact.replace("\\\\", "") in shown, fact
    labels = {"en": ("Status", "Priority", "Customer", "Assignee", "Asset"), "de": ("Status", "Priorität", "Kunde")}
    facts = [f["title"] for n in walk(card) if n.get("type") == "FactSet" for f in n["facts"]]
    assert set(labels[locale]) <= set(facts)
    assert card["lang"] == locale
    assert card["version"] == "1.5"
    assert ("at risk" if locale == "en" else "gefährdet") in shown


def test_at_risk_and_breached_markers_are_loud() -> None:
    risky = ticket_card(full_view(), locale="en", public_url=PUBLIC_URL)
    banner = risky["body"][1]
    assert banner["type"] == "Container"
    assert banner["style"] == "warning"
    assert "⚠️" in banner["items"][0]["text"]
    assert banner["items"][0]["color"] == "Warning"
    breached = ticket_card(
        full_view(sla=(sla("resolution", state="breached", percent=120.0),)), locale="en", public_url=PUBLIC_URL
    )
    banner = assert_valid_card(breached)["body"][1]
    assert banner["style"] == "attention"
    assert "🚨" in banner["items"][0]["text"]
    assert "breached" in banner["items"][0]["text"]
    calm = ticket_card(full_view(sla=(sla(state="ok"),)), locale="en", public_url=PUBLIC_URL)
    assert calm["body"][1]["type"] == "FactSet"


def test_actions_are_execute_with_submit_fallback_and_show_cards() -> None:
    card = ticket_card(full_view(), locale="en", public_url=PUBLIC_URL)
    assert verbs_of(card) == ALL_VERBS
    for action in actions_of(card):
        if action["type"] == "Action.Execute":
            assert action["data"] == {"number": 12345, "version": 7}
            assert action["fallback"] == {
                "type": "Action.Submit",
                "title": action["title"],
                "data": {"number": 12345, "version": 7, "verb": action["verb"]},
                **({"style": action["style"]} if "style" in action else {}),
            }
    top = [a["type"] for a in card["actions"]]
    assert top == ["Action.Execute", *["Action.ShowCard"] * 4, "Action.OpenUrl"]
    assert card["actions"][-1]["url"] == URL
    inputs = {n["id"]: n for n in walk(card) if str(n.get("type", "")).startswith("Input.")}
    assert set(inputs) == {ids.STATUS, ids.NOTE_BODY, ids.NOTE_VISIBILITY, ids.ESCALATION_REASON, ids.RESOLUTION}
    assert inputs[ids.NOTE_BODY]["isMultiline"] is True
    assert inputs[ids.STATUS]["type"] == "Input.ChoiceSet"
    assert {c["value"] for c in inputs[ids.NOTE_VISIBILITY]["choices"]} == {"internal", "public"}
    assert "closed" not in {c["value"] for c in inputs[ids.STATUS]["choices"]}


@pytest.mark.parametrize(
    ("allowed", "verbs"),
    [
        ((), set()),
        (("add_note",), {ids.ADD_NOTE}),
        (("set_status", "close"), {ids.SET_STATUS, ids.CLOSE}),
        (("assign_to_me",), {ids.ASSIGN_TO_ME}),
    ],
)
def test_only_the_actions_the_view_allows(allowed: tuple[str, ...], verbs: set[str]) -> None:
    card = assert_valid_card(ticket_card(full_view(actions=allowed), locale="en", public_url=PUBLIC_URL))
    assert verbs_of(card) == verbs
    assert ("actions" in card) is bool(verbs)


def test_closed_ticket_has_no_actions_and_summary_dicts_use_channel_rules() -> None:
    assert ticket_actions(minimal_view(status="closed", actions=()), locale="en", public_url=PUBLIC_URL) == []
    summary = {"number": 5, "version": 2, "status": "resolved"}
    actions = ticket_actions(summary, locale="en", public_url=PUBLIC_URL)
    assert {a["title"] for a in actions} >= {"Add note", "Set status", "Close", "Open in PSA"}
    assert "Escalate" not in {a["title"] for a in actions}


def test_refresh_is_capped_at_60_viewers() -> None:
    users = [f"29:user-{i}" for i in range(100)] + ["29:user-1", ""]
    card = assert_valid_card(ticket_card(full_view(), locale="en", public_url=PUBLIC_URL, viewer_ids=users))
    assert card["refresh"]["action"] == {
        "type": "Action.Execute",
        "verb": ids.REFRESH,
        "data": {"number": 12345, "version": 7},
    }
    assert card["refresh"]["userIds"] == users[: ids.MAX_REFRESH_USERS]
    assert "refresh" not in ticket_card(full_view(), locale="en", public_url=PUBLIC_URL)


@pytest.mark.parametrize("locale", LOCALES)
def test_minimal_card_is_valid(locale: str) -> None:
    card = assert_valid_card(ticket_card(minimal_view(), locale=locale, public_url=PUBLIC_URL))
    assert "actions" not in card


@pytest.mark.parametrize("locale", LOCALES)
def test_huge_ticket_is_truncated_with_a_link_and_fits_the_webhook_limit(locale: str) -> None:
    notes = tuple(note(i, body=("Ä[x](y) " * 700)[:5_000]) for i in range(30))
    view = full_view(title="T" * 5_000, description="D*" * 2_500, notes=notes)
    card = assert_valid_card(ticket_card(view, locale=locale, public_url=PUBLIC_URL))
    assert f"]({URL})" in card["body"][0]["text"]
    assert len(card["body"][0]["text"]) < 700
    assert "25" in text(card)  # "25 earlier notes"
    assert sum(1 for n in walk(card) if n.get("type") == "Container" and len(n["items"]) == 2) <= MAX_NOTES
    small = ticket_card(view, locale=locale, public_url=PUBLIC_URL, limit=ids.WORKFLOWS_CARD_LIMIT)
    assert_valid_card(workflows_payload(small), limit=ids.WORKFLOWS_CARD_LIMIT)
    tiny = assert_valid_card(ticket_card(view, locale=locale, public_url=PUBLIC_URL, limit=12_000), limit=12_000)
    assert card_size(tiny) <= 12_000
    assert URL in text(tiny)


def test_user_text_cannot_inject_links_mentions_or_formatting() -> None:
    view = full_view(
        title=HOSTILE,
        description=HOSTILE,
        customer_name=HOSTILE,
        assignee=HOSTILE,
        asset=HOSTILE,
        contact=HOSTILE,
        notes=(note(1, body=HOSTILE),),
    )
    card = assert_valid_card(ticket_card(view, locale="en", public_url=PUBLIC_URL))
    shown = "\n".join(markdown_texts(card))
    assert "[click]" not in shown
    assert "](https://evil" not in shown
    assert "<at>" not in shown.lower()
    assert "**bold**" not in shown
    assert "\\[click\\]\\(https://evil.example\\)" in shown
    assert "\\<at\\>all\\</at\\>" in shown
    assert "<at>" not in card["fallbackText"]


@pytest.mark.parametrize("count", [0, 1, 100])
@pytest.mark.parametrize("locale", LOCALES)
def test_lists(count: int, locale: str) -> None:
    card = assert_valid_card(ticket_list_card(make_list(count), locale=locale, public_url=PUBLIC_URL))
    rows = [n for n in card["body"] if n.get("type") == "Container"]
    assert len(rows) == min(count, 25)
    if count == 0:
        assert ("No tickets." if locale == "en" else "Keine Tickets.") in text(card)
    if count == 100:
        assert "75" in text(card)
        assert card["actions"][0]["url"] == f"{PUBLIC_URL}/tickets"
        assert any(r["items"][1].get("color") == "Attention" for r in rows)
    for row in rows:
        assert row["selectAction"]["type"] == "Action.OpenUrl"
    small = ticket_list_card(make_list(count), locale=locale, public_url=PUBLIC_URL, limit=ids.WORKFLOWS_CARD_LIMIT)
    assert_valid_card(small, limit=ids.WORKFLOWS_CARD_LIMIT)


def test_stale_card() -> None:
    card = assert_valid_card(stale_card(12345, locale="de", public_url=PUBLIC_URL))
    assert URL in text(card)
    assert "#12345" in card["fallbackText"]
