"""Modals, their inline errors and external select options (``cards.slack.modals``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from psa_chatops.cards.slack import ids
from psa_chatops.cards.slack.modals import (
    add_note_modal,
    close_modal,
    input_errors,
    new_ticket_modal,
    options,
    prefill_from_message,
)
from psa_chatops.core.errors import N_
from psa_chatops.core.ticket_decisions import MAX_TITLE
from tests.cards.slack_factories import HOSTILE, full_view
from tests.cards.slack_limits import assert_matches_block_kit_schema, assert_within_slack_limits

LOCALES = ("en", "de")


def check(view: dict[str, Any]) -> dict[str, Any]:
    data = assert_within_slack_limits(view)
    assert_matches_block_kit_schema(data)
    return data


def inputs(view: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The input blocks by their (block_id, action_id), the way listeners read ``view.state.values``."""
    return {(b["block_id"], b["element"]["action_id"]): b for b in view["blocks"] if b["type"] == "input"}


@pytest.mark.parametrize("locale", LOCALES)
def test_new_ticket_modal(locale: str) -> None:
    view = check(new_ticket_modal(locale, private_metadata='{"channel": "C1"}'))
    assert view["callback_id"] == ids.NEW_TICKET_MODAL
    assert view["private_metadata"] == '{"channel": "C1"}'
    fields = inputs(view)
    assert list(fields) == [ids.CUSTOMER, ids.TITLE, ids.DESCRIPTION, ids.PRIORITY, ids.ASSET, ids.ASSIGNEE]
    assert fields[ids.CUSTOMER]["element"]["type"] == "external_select"
    assert fields[ids.ASSET]["element"]["type"] == "external_select"
    assert fields[ids.ASSIGNEE]["element"]["type"] == "users_select"
    assert fields[ids.TITLE]["element"]["max_length"] == MAX_TITLE
    assert [o["value"] for o in fields[ids.PRIORITY]["element"]["options"]] == ["critical", "high", "medium", "low"]
    assert fields[ids.PRIORITY]["element"]["initial_option"]["value"] == "medium"
    assert [fields[k]["optional"] for k in fields] == [False, False, True, False, True, True]
    assert "initial_value" not in fields[ids.TITLE]["element"]
    assert view["title"]["text"] == ("New ticket" if locale == "en" else "Neues Ticket")


def test_new_ticket_modal_prefilled() -> None:
    view = check(
        new_ticket_modal(
            "de", title="VPN & <Mail> down", description="x" * 9_000, customer=("CUST-789", "Müller & Söhne " * 10)
        )
    )
    fields = inputs(view)
    assert fields[ids.TITLE]["element"]["initial_value"] == "VPN & <Mail> down"  # inputs are not text objects
    assert len(fields[ids.DESCRIPTION]["element"]["initial_value"]) == 3_000
    initial = fields[ids.CUSTOMER]["element"]["initial_option"]
    assert initial["value"] == "CUST-789"
    assert initial["text"]["text"].startswith("Müller &amp; Söhne")


def test_prefill_from_message_keeps_the_permalink_whole() -> None:
    permalink = "https://acme.slack.com/archives/C1/p1700000000000100"
    title, description = prefill_from_message("\n  Printer &amp; scanner &lt;3\nsecond line", permalink, "en")
    assert title == "Printer & scanner <3"
    assert description == f"Printer & scanner <3\nsecond line\n\nFrom Slack: {permalink}"
    title, description = prefill_from_message("y" * 10_000, permalink, "de")
    assert len(title) == MAX_TITLE
    assert len(description) <= 3_000
    assert description.endswith(permalink)
    view = check(new_ticket_modal("de", title=title, description=description))
    assert inputs(view)[ids.DESCRIPTION]["element"]["initial_value"].endswith(permalink)


def test_prefill_turns_slack_markup_into_plain_text() -> None:
    title, description = prefill_from_message("<!here> VPN down, see <https://status.example|status>", "P", "en")
    assert title == "@here VPN down, see status (https://status.example)"
    assert description.startswith(title)


def test_prefill_from_an_empty_message() -> None:
    assert prefill_from_message("", "https://x.slack.com/p1", "en") == ("", "From Slack: https://x.slack.com/p1")


@pytest.mark.parametrize("locale", LOCALES)
def test_add_note_modal(locale: str) -> None:
    view = check(add_note_modal(full_view(title=HOSTILE), locale, private_metadata='{"number": 12345}'))
    assert view["callback_id"] == ids.ADD_NOTE_MODAL
    fields = inputs(view)
    assert list(fields) == [ids.NOTE_BODY, ids.NOTE_VISIBILITY]
    radio = fields[ids.NOTE_VISIBILITY]["element"]
    assert [o["value"] for o in radio["options"]] == ["internal", "public"]
    assert radio["initial_option"]["value"] == "internal"
    assert "<!channel>" not in json.dumps(view)
    assert len(view["title"]["text"]) <= 24


def test_add_note_modal_can_preselect_a_public_reply() -> None:
    view = check(add_note_modal(full_view(), "en", private_metadata="", visibility="public"))
    assert inputs(view)[ids.NOTE_VISIBILITY]["element"]["initial_option"]["value"] == "public"


@pytest.mark.parametrize("locale", LOCALES)
def test_close_modal(locale: str) -> None:
    view = check(close_modal(full_view(number=123_456_789_012), locale, private_metadata="{}"))
    assert view["callback_id"] == ids.CLOSE_MODAL
    assert list(inputs(view)) == [ids.RESOLUTION]
    assert inputs(view)[ids.RESOLUTION]["optional"] is False
    assert len(view["title"]["text"]) <= 24  # "Close #123456789012" fits, longer numbers are cut
    assert "#123456789012" in view["blocks"][0]["text"]["text"]


def test_close_modal_prefills_an_earlier_resolution() -> None:
    view = check(close_modal(full_view(resolution="Replaced the disk."), "en", private_metadata=""))
    assert inputs(view)[ids.RESOLUTION]["element"]["initial_value"] == "Replaced the disk."


def test_private_metadata_over_the_limit_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="private_metadata"):
        new_ticket_modal("en", private_metadata="x" * 3_001)


@pytest.mark.parametrize("locale", LOCALES)
def test_input_errors(locale: str) -> None:
    ack = input_errors(
        {
            ids.TITLE: N_("A ticket needs a title."),
            ids.CUSTOMER: (N_("Customer {id} does not exist."), {"id": "X"}),
            "asset": "Plain message",
        },
        locale,
    )
    assert_within_slack_limits(ack)
    assert ack["response_action"] == "errors"
    assert set(ack["errors"]) == {"title", "customer", "asset"}
    assert "X" in ack["errors"]["customer"]
    if locale == "de":
        assert ack["errors"]["title"] != "A ticket needs a title."


def test_options_for_external_selects() -> None:
    items = [(f"CUST-{i}", f"Customer {i} " + "x" * 100) for i in range(150)]
    response = options(items)
    assert_within_slack_limits(response)
    assert len(response["options"]) == 100
    assert response["options"][0]["value"] == "CUST-0"
    assert len(response["options"][0]["text"]["text"]) == 75


def test_options_escape_labels_and_skip_bad_values() -> None:
    response = options([("a", "<!channel> & co"), ("", "empty"), ("v" * 151, "too long"), ("b", "B")])
    assert_within_slack_limits(response)
    assert [o["value"] for o in response["options"]] == ["a", "b"]
    assert response["options"][0]["text"]["text"] == "&lt;!channel&gt; &amp; co"


def test_no_options() -> None:
    assert options([]) == {"options": []}
