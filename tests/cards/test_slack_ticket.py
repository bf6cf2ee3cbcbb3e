"""The ticket card and ticket lists (``cards.slack.ticket``): fields, SLA markers, buttons, limits, escaping."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from psa_chatops.cards.slack import ids
from psa_chatops.cards.slack.ticket import (
    MAX_LIST_ROWS,
    MAX_NOTES,
    stale_card_notice,
    summary_line,
    ticket_actions,
    ticket_card,
    ticket_list,
)
from psa_chatops.handlers.views import TicketListView
from tests.cards.slack_factories import (
    HOSTILE,
    INJECTIONS,
    PUBLIC_URL,
    full_view,
    minimal_view,
    note,
    sla,
    summary,
)
from tests.cards.slack_factories import (
    ticket_list as make_list,
)
from tests.cards.slack_limits import assert_matches_block_kit_schema, assert_within_slack_limits

LOCALES = ("en", "de")
URL = f"{PUBLIC_URL}/tickets/12345"


def all_text(payload: dict[str, Any]) -> str:
    """Every string in the payload, for "does it say ..." checks."""
    return json.dumps(payload, ensure_ascii=False)


def texts(payload: dict[str, Any]) -> list[str]:
    """The ``text`` of every text object and the fallback: what Slack parses as mrkdwn or shows."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") in ("mrkdwn", "plain_text") and isinstance(value.get("text"), str):
                found.append(value["text"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(payload.get("blocks", payload))
    if isinstance(payload.get("text"), str):
        found.append(payload["text"])
    return found


def action_elements(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]


def check(payload: Any, **kwargs: Any) -> dict[str, Any]:
    data = assert_within_slack_limits(payload, **kwargs)
    assert_matches_block_kit_schema(data, **kwargs)
    return data


# --- the card ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_full_card_shows_every_field_and_is_valid(locale: str) -> None:
    data = check(ticket_card(full_view(), locale=locale, public_url=PUBLIC_URL))
    text = all_text(data)
    assert data["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "#12345 Mail server down", "emoji": True},
    }
    for expected in ("Müller Maschinenbau GmbH", "WS-CLIENT-042", "Tom Technician", "Petra Kunde", "mail, outage"):
        assert expected in text
    assert "Since 8:00 nobody can send mail." in text
    assert "We are on it." in text
    assert "Note 1: checked the logs." in text
    assert f"<{URL}|" in text  # Open in PSA
    assert "<!date^" in text  # times in the viewer's timezone
    assert data["text"].startswith("#12345 Mail server down")


def test_card_speaks_german() -> None:
    text = all_text(ticket_card(full_view(), locale="de", public_url=PUBLIC_URL).as_dict())
    for german in ("Priorität", "hoch", "in Bearbeitung", "Kunde", "Bearbeiter", "Neueste Notizen", "Im PSA öffnen"):
        assert german in text, german
    assert "Priority" not in text


def test_card_speaks_english() -> None:
    text = all_text(ticket_card(full_view(), locale="en", public_url=PUBLIC_URL).as_dict())
    for english in ("Priority", "high", "in progress", "Customer", "Assignee", "Latest notes", "Open in PSA"):
        assert english in text, english


@pytest.mark.parametrize("locale", LOCALES)
def test_minimal_card_is_valid_and_has_no_empty_parts(locale: str) -> None:
    data = check(ticket_card(minimal_view(), locale=locale, public_url=PUBLIC_URL))
    assert [b["type"] for b in data["blocks"]] == ["header", "section", "context"]
    assert "_unassigned_" in all_text(data) or "_nicht zugewiesen_" in all_text(data)


def test_unknown_locale_falls_back_to_english() -> None:
    assert "Priority" in all_text(ticket_card(full_view(), locale="fr-FR", public_url=PUBLIC_URL).as_dict())


@pytest.mark.parametrize("locale", LOCALES)
def test_huge_ticket_is_cut_with_a_link_to_the_psa_and_stays_valid(locale: str) -> None:
    notes = tuple(note(i, body="word " * 1_000) for i in range(30))
    view = full_view(title="T" * 5_000, description="D" * 5_000, notes=notes, tags=tuple(f"tag{i}" for i in range(500)))
    data = check(ticket_card(view, locale=locale, public_url=PUBLIC_URL))
    header = data["blocks"][0]["text"]["text"]
    assert len(header) <= 150
    assert header.endswith("…")
    view_in_psa = "view in PSA" if locale == "en" else "im PSA ansehen"
    cut = [t for t in texts(data) if f"<{URL}|{view_in_psa}>" in t]
    assert len(cut) >= 2 + MAX_NOTES  # the title, the description and every note shown point to the rest
    note_sections = [t for t in texts(data) if t.startswith("*Tom Technician* ·")]
    assert len(note_sections) == MAX_NOTES
    assert "25" in all_text(data)  # "25 earlier notes"
    assert len(data["text"]) <= 500


def test_card_keeps_entities_whole_when_cutting() -> None:
    data = ticket_card(
        full_view(title="&" * 400, description="<" * 4_000), locale="en", public_url=PUBLIC_URL
    ).as_dict()
    for text in texts(data):
        without_entities = re.sub(r"&(amp|lt|gt);", "", text)
        assert "&" not in without_entities, text[:80]


@pytest.mark.parametrize("locale", LOCALES)
def test_user_text_cannot_inject_mentions_or_links(locale: str) -> None:
    view = full_view(
        title=HOSTILE,
        description=HOSTILE,
        customer_name=HOSTILE,
        assignee=HOSTILE,
        asset=HOSTILE,
        contact=HOSTILE,
        tags=(HOSTILE,),
        resolution=HOSTILE,
        notes=(note(1, body=HOSTILE), note(2, visibility="public", body=HOSTILE)),
    )
    data = check(ticket_card(view, locale=locale, public_url=PUBLIC_URL, ephemeral=True))
    for text in texts(data):
        for injection in INJECTIONS:
            assert injection not in text
        assert "@here" not in text
        assert "@channel" not in text
        assert re.search(r"&(?!amp;|lt;|gt;)", text) is None, text[:120]  # every & is an entity
    assert "Tom &amp; Jerry" in data["text"]
    assert "&lt;!channel&gt;" in data["blocks"][0]["text"]["text"]


def test_at_risk_marker_is_loud_and_on_top() -> None:
    data = ticket_card(full_view(), locale="en", public_url=PUBLIC_URL).as_dict()
    banner = data["blocks"][1]["text"]["text"]
    assert banner.startswith(":warning: *SLA resolution at 80 %*")
    assert "<!date^" in banner
    assert ":white_check_mark: met" in all_text(data)


def test_breached_marker_wins_over_warning() -> None:
    view = full_view(sla=(sla("first_response", state="breached", percent=130.0), sla("resolution", state="warning")))
    data = ticket_card(view, locale="de", public_url=PUBLIC_URL).as_dict()
    banner = data["blocks"][1]["text"]["text"]
    assert banner.startswith(":rotating_light: *SLA Erstreaktion verletzt*")
    assert ":rotating_light: *verletzt*" in all_text(data)


def test_no_banner_when_the_sla_is_fine() -> None:
    view = full_view(sla=(sla("first_response", state="ok"), sla("resolution", state="paused")))
    data = ticket_card(view, locale="en", public_url=PUBLIC_URL).as_dict()
    assert data["blocks"][1].get("fields")  # straight to the fields
    assert ":double_vertical_bar: paused" in all_text(data)


def test_buttons_carry_the_ticket_and_version_and_the_listeners_ids() -> None:
    data = check(ticket_card(full_view(), locale="en", public_url=PUBLIC_URL))
    block = next(b for b in data["blocks"] if b["type"] == "actions")
    assert block["block_id"] == ids.action_value(12345, 7)
    elements = {e["action_id"]: e for e in block["elements"]}
    assert list(elements) == [ids.ASSIGN_TO_ME, ids.SET_STATUS, ids.ADD_NOTE, ids.ESCALATE, ids.CLOSE, ids.OPEN_IN_PSA]
    for action_id in (ids.ASSIGN_TO_ME, ids.ADD_NOTE, ids.ESCALATE, ids.CLOSE):
        assert ids.parse_action_value(elements[action_id]["value"]) == (12345, 7)
    assert elements[ids.OPEN_IN_PSA]["url"] == URL
    assert set(elements[ids.ESCALATE]["confirm"]) == {"title", "text", "confirm", "deny", "style"}
    statuses = [o["value"] for o in elements[ids.SET_STATUS]["options"]]
    assert statuses == ["open", "waiting_customer", "resolved"]  # allowed moves; "closed" is the Close button's


def test_only_the_allowed_actions_are_offered() -> None:
    data = ticket_card(full_view(actions=("add_note",)), locale="en", public_url=PUBLIC_URL).as_dict()
    assert [e["action_id"] for e in action_elements(data)] == [ids.ADD_NOTE, ids.OPEN_IN_PSA]


@pytest.mark.parametrize("status", ["closed", "resolved"])
def test_tickets_without_actions_get_no_buttons(status: str) -> None:
    data = check(ticket_card(full_view(status=status, actions=()), locale="en", public_url=PUBLIC_URL))
    assert action_elements(data) == []
    assert f"<{URL}|Open in PSA>" in all_text(data)  # still one click away


def test_ephemeral_card_can_be_shared() -> None:
    data = check(ticket_card(full_view(), locale="en", public_url=PUBLIC_URL, ephemeral=True))
    share = action_elements(data)[-1]
    assert share["action_id"] == ids.SHARE
    assert share["value"] == "12345:7"
    closed = ticket_card(full_view(status="closed", actions=()), locale="en", public_url=PUBLIC_URL, ephemeral=True)
    assert [e["action_id"] for e in action_elements(closed.as_dict())] == [ids.OPEN_IN_PSA, ids.SHARE]


def test_resolved_ticket_can_be_reopened_but_not_escalated() -> None:
    view = full_view(status="resolved", actions=("add_note", "set_status", "close"), resolution="Fixed.")
    elements = ticket_actions(view, locale="en", public_url=PUBLIC_URL)
    assert [e["action_id"] for e in elements] == [ids.SET_STATUS, ids.ADD_NOTE, ids.CLOSE, ids.OPEN_IN_PSA]
    assert [o["value"] for o in elements[0]["options"]] == ["open"]


def test_ticket_actions_for_a_summary_dict_follow_the_status() -> None:
    assert ticket_actions({"number": 5, "version": 2, "status": "closed"}, locale="en", public_url=PUBLIC_URL) == []
    open_ = ticket_actions({"number": 5, "version": 2, "status": "new"}, locale="en", public_url=PUBLIC_URL)
    assert ids.ASSIGN_TO_ME in [e["action_id"] for e in open_]


def test_stale_card_notice() -> None:
    data = check(stale_card_notice(12345, locale="de", public_url=PUBLIC_URL))
    assert "#12345" in data["text"]
    assert URL in all_text(data)


# --- lists -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_empty_list(locale: str) -> None:
    data = check(ticket_list(make_list(0), locale=locale, public_url=PUBLIC_URL))
    assert len(data["blocks"]) == 2
    assert ("No tickets." if locale == "en" else "Keine Tickets.") in all_text(data)


@pytest.mark.parametrize("locale", LOCALES)
def test_list_of_one(locale: str) -> None:
    data = check(ticket_list(make_list(1), locale=locale, public_url=PUBLIC_URL))
    assert len(data["blocks"]) == 2
    assert f"<{PUBLIC_URL}/tickets/10000|#10000>" in all_text(data)
    assert data["blocks"][0]["text"]["text"] == (
        "My open tickets (1)" if locale == "en" else "Meine offenen Tickets (1)"
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_list_of_100_is_summarised_with_a_link(locale: str) -> None:
    data = check(ticket_list(make_list(100, total=250), locale=locale, public_url=PUBLIC_URL))
    assert len(data["blocks"]) <= 50
    rows = [b for b in data["blocks"] if b["type"] == "section"]
    assert len(rows) == MAX_LIST_ROWS
    last = data["blocks"][-1]["elements"][0]["text"]
    assert "230" in last
    assert f"<{PUBLIC_URL}/tickets|" in last
    assert "(250)" in data["blocks"][0]["text"]["text"]


def test_list_rows_mark_sla_risk_and_escape() -> None:
    hostile = summary(7, title=HOSTILE, customer_name=HOSTILE, assignee=HOSTILE, sla_state="breached")
    view = TicketListView(title="Search results", tickets=(hostile, summary(8, sla_state="warning")), total=2)
    data = check(ticket_list(view, locale="en", public_url=PUBLIC_URL))
    first, second = (b["text"]["text"] for b in data["blocks"][1:3])
    assert ":rotating_light: *breached*" in first
    assert ":warning: *at risk*" in second
    for text in texts(data):
        for injection in INJECTIONS:
            assert injection not in text


def test_summary_line_without_due_or_assignee() -> None:
    line = summary_line(
        summary(3, next_due_at=None, assignee=None, sla_state="met"), locale="en", public_url=PUBLIC_URL
    )
    assert "_unassigned_" in line
    assert "<!date" not in line


def test_list_title_is_translated_with_params() -> None:
    view = TicketListView(title="SLA at risk", tickets=(), total=0)
    assert ticket_list(view, locale="de", public_url=PUBLIC_URL).blocks[0]["text"]["text"] == "SLA gefährdet (0)"
