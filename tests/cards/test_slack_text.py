"""Escaping, cutting and dates for Block Kit (``cards.slack.text``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from psa_chatops.cards.slack.text import (
    ELLIPSIS,
    LIMITS,
    bold,
    clip,
    clip_escaped,
    clip_with_link,
    escape,
    link,
    mrkdwn_to_plain,
    slack_date,
    ticket_url,
    tickets_url,
    translate_mrkdwn,
    translator,
    unescape,
)
from psa_chatops.core.errors import N_

ENTITY_SAFE = re.compile(r"&(?!amp;|lt;|gt;)")


def test_escape_replaces_the_three_control_characters() -> None:
    assert escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert escape("<!channel> <https://evil|click>") == "&lt;!channel&gt; &lt;https://evil|click&gt;"
    assert escape("&amp;") == "&amp;amp;"  # the user typed it: show it as typed


def test_escape_defuses_bare_broadcasts() -> None:
    escaped = escape("@here @Channel @everyone @heres mail@here.de")
    assert "@here " not in escaped
    assert "@Channel" not in escaped
    assert "@everyone" not in escaped
    assert "@heres" in escaped
    assert escaped.replace("\u2060", "") == "@here @Channel @everyone @heres mail@here.de"


def test_unescape_reverses_slack_message_text() -> None:
    assert unescape("a &amp; b &lt;c&gt;") == "a & b <c>"
    assert unescape(escape("x & <y>")) == "x & <y>"


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("<@U123> says hi", "@U123 says hi"),
        ("see <https://x.example/a?b=1&amp;c=2|the docs>", "see the docs (https://x.example/a?b=1&c=2)"),
        ("<https://y.example>", "https://y.example"),
        ("<#C1|general> <#C2>", "#general #C2"),
        ("<!here> <!channel> <!subteam^S1|@ops>", "@here @channel @ops"),
        ("<!date^1392734382^{date}|Feb 18>", "Feb 18"),
        ("<mailto:a@b.example|a@b.example>", "a@b.example"),
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        ("x < y > z", "x < y > z"),
    ],
)
def test_mrkdwn_to_plain(text: str, plain: str) -> None:
    assert mrkdwn_to_plain(text) == plain


def test_clip() -> None:
    assert clip("short", 10) == "short"
    assert clip("0123456789abc", 10) == "012345678" + ELLIPSIS
    assert len(clip("x" * 500, 75)) == 75
    with pytest.raises(ValueError, match="positive"):
        clip("x", 0)


@given(st.text(alphabet="ab&<> ", max_size=60), st.integers(min_value=1, max_value=40))
def test_clip_escaped_never_cuts_an_entity(raw: str, limit: int) -> None:
    cut = clip_escaped(escape(raw), limit)
    assert len(cut) <= limit
    assert ENTITY_SAFE.search(cut) is None


def test_clip_with_link_points_to_the_psa_only_when_cut() -> None:
    url = "https://psa.example.com/tickets/1"
    assert clip_with_link("a & b", 100, url, "en") == "a &amp; b"
    cut = clip_with_link("word " * 1_000, 300, url, "de")
    assert len(cut) <= 300
    assert cut.endswith(f"… <{url}|im PSA ansehen>")


def test_link_escapes_the_label_and_encodes_the_url() -> None:
    assert link("https://x.example/a b|c", "<b> & c") == "<https://x.example/a%20b%7Cc|&lt;b&gt; &amp; c>"


def test_bold() -> None:
    assert bold("x") == "*x*"
    assert bold(" ") == " "


def test_slack_date_shows_each_viewer_their_time_with_a_localised_fallback() -> None:
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert slack_date(moment, "de", timezone="Europe/Berlin") == (
        "<!date^1774747800^{date_short_pretty} {time}|29.03.2026, 03:30 MESZ>"
    )
    assert slack_date(moment, "en").endswith("|Mar 29, 2026, 1:30\u202fAM UTC>")
    with pytest.raises(ValueError, match="naive"):
        slack_date(datetime(2026, 3, 29, 1, 30), "en")  # noqa: DTZ001 - the point of the test


def test_translate_mrkdwn_keeps_the_parameters_markup() -> None:
    due = "<!date^1^{time}|x>"
    assert translate_mrkdwn(N_("due {due}"), "de", due=due) == f"fällig {due}"
    assert translate_mrkdwn(N_("due {due}"), "en") == "due {due}"  # a missing parameter stays visible


def test_translator_is_forgiving() -> None:
    tr = translator("de-AT", "Mars/Olympus")
    assert (tr.locale, tr.timezone) == ("de", "UTC")


def test_urls() -> None:
    assert ticket_url("https://psa.example.com/", 7) == "https://psa.example.com/tickets/7"
    assert tickets_url("https://psa.example.com/base/") == "https://psa.example.com/base/tickets"


def test_limits_are_slacks() -> None:
    assert (LIMITS.MESSAGE_BLOCKS, LIMITS.VIEW_BLOCKS, LIMITS.SECTION_TEXT, LIMITS.HEADER_TEXT) == (50, 100, 3000, 150)
    assert (LIMITS.BUTTON_TEXT, LIMITS.BUTTON_VALUE, LIMITS.MODAL_TITLE, LIMITS.OPTION_TEXT) == (75, 2000, 24, 75)
    assert (LIMITS.CONTEXT_ELEMENTS, LIMITS.MESSAGE_TEXT) == (10, 40_000)
