"""Teams text helpers (``cards.teams.text``): escaping against markdown and mention injection, clipping, dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from psa_chatops.cards.teams.text import (
    clip_escaped,
    clip_with_link,
    code,
    escape,
    link,
    plain,
    safe_url,
    teams_date,
    translate_md,
)

INJECTIONS = ("[click](https://evil.example)", "<at>all</at>", "**bold**", "_it_", "`code`", "# head", "![i](x)")


@pytest.mark.parametrize("raw", INJECTIONS)
def test_escape_leaves_no_markdown_syntax(raw: str) -> None:
    escaped = escape(raw)
    for char in "[]()*_`<>!":
        assert all(escaped[i - 1] == "\\" for i, c in enumerate(escaped) if c == char), escaped


def test_escape_turns_lines_into_paragraphs_and_defuses_lists() -> None:
    assert escape("a\nb\r\n\r\nc") == "a\n\nb\n\nc"
    assert escape("- x\n+ y\n12. z\n# h") == "\\- x\n\n\\+ y\n\n12\\. z\n\n\\# h"
    assert escape("#12345 x") == "#12345 x"


def test_plain_defuses_mention_tags_only() -> None:
    assert "<at>" not in plain("<at>all</at> **x**")
    assert "**x**" in plain("<at>all</at> **x**")
    assert "<AT" not in plain("<AT>x</ AT>").upper().replace("\u2060", "-")


def test_clip_escaped_never_leaves_a_dangling_backslash() -> None:
    cut = clip_escaped(escape("a" * 8 + "*" * 20), 11)
    assert cut.endswith("…")
    body = cut[:-1]
    assert (len(body) - len(body.rstrip("\\"))) % 2 == 0
    assert len(cut) <= 11


def test_clip_with_link_points_to_the_psa() -> None:
    text = clip_with_link("x" * 5_000, 300, "https://psa.example.com/tickets/1", "de")
    assert len(text) <= 300
    assert "(https://psa.example.com/tickets/1)" in text
    assert "PSA" in text
    assert clip_with_link("short", 300, "https://x", "en") == "short"


def test_links_escape_labels_and_cannot_be_closed_early() -> None:
    assert link("https://x.example/a b)(", "[x]") == "[\\[x\\]](https://x.example/a%20b%29%28)"
    assert safe_url("https://psa.example.com/tickets/1") == "https://psa.example.com/tickets/1"


def test_code_is_literal_and_safe() -> None:
    assert code("a`b") == "`a'b`"
    assert "<at>" not in code("<at>x</at>")


def test_teams_date_uses_card_functions_in_utc() -> None:
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert teams_date(moment) == "{{DATE(2026-03-29T01:30:00Z, SHORT)}} {{TIME(2026-03-29T01:30:00Z)}}"
    with pytest.raises(ValueError, match="naive"):
        teams_date(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_translate_md_escapes_the_template_not_the_parameters() -> None:
    assert translate_md("Customer: {customer}", "de", customer="**x**") == "Kunde: **x**"
