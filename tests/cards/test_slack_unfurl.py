"""Link unfurling (``cards.slack.unfurl``): which URLs are ours, and the compact card."""

from __future__ import annotations

import json

import pytest

from psa_chatops.cards.slack.unfurl import number_from_url, ticket_url, unfurl
from tests.cards.slack_factories import HOSTILE, INJECTIONS, PUBLIC_URL, full_view, minimal_view
from tests.cards.slack_limits import assert_matches_block_kit_schema, assert_within_slack_limits


@pytest.mark.parametrize(
    ("url", "number"),
    [
        ("https://psa.example.com/tickets/12345", 12345),
        ("https://psa.example.com/tickets/12345/", 12345),
        ("https://psa.example.com/tickets/12345?tab=notes", 12345),
        ("https://psa.example.com/tickets/12345/?x=1#note-3", 12345),
        ("https://PSA.Example.com/tickets/7", 7),
        ("https://psa.example.com:443/tickets/7", 7),
        ("https://psa.example.com/api/v1/tickets/99", 99),
        ("https://psa.example.com/api/v1/tickets/99/", 99),
        ("  https://psa.example.com/tickets/5  ", 5),
    ],
)
def test_our_ticket_urls(url: str, number: int) -> None:
    assert number_from_url(PUBLIC_URL, url) == number


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/tickets/12345",
        "https://psa.example.com.evil.example/tickets/1",
        "http://psa.example.com/tickets/12345",  # another scheme is another origin
        "https://psa.example.com:8443/tickets/1",
        "https://psa.example.com/tickets/",
        "https://psa.example.com/tickets/abc",
        "https://psa.example.com/tickets/0",
        "https://psa.example.com/tickets/-3",
        "https://psa.example.com/tickets/12345/notes",
        "https://psa.example.com/api/v2/tickets/1",
        "https://psa.example.com/customers/1",
        "https://psa.example.com/x/tickets/1",
        "https://psa.example.com/tickets/1" + "0" * 30,
        "mailto:psa@example.com",
        "not a url",
        "https://psa.example.com:notaport/tickets/1",
        "",
    ],
)
def test_not_our_ticket_urls(url: str) -> None:
    assert number_from_url(PUBLIC_URL, url) is None


def test_public_url_with_a_path_and_trailing_slash() -> None:
    base = "https://example.com/psa/"
    assert number_from_url(base, "https://example.com/psa/tickets/8") == 8
    assert number_from_url(base, "https://example.com/psa/api/v1/tickets/8/") == 8
    assert number_from_url(base, "https://example.com/tickets/8") is None
    assert number_from_url(base, "https://example.com/psax/tickets/8") is None
    assert ticket_url(base, 8) == "https://example.com/psa/tickets/8"
    assert number_from_url(base, ticket_url(base, 8)) == 8


def test_a_misconfigured_public_url_recognises_nothing() -> None:
    assert number_from_url("psa.example.com", "https://psa.example.com/tickets/1") is None


@pytest.mark.parametrize("locale", ["en", "de"])
def test_unfurl_is_a_compact_card_without_buttons(locale: str) -> None:
    value = unfurl(full_view(), locale=locale, public_url=PUBLIC_URL)
    assert set(value) == {"blocks"}
    assert_within_slack_limits(value, surface="unfurl")
    assert_matches_block_kit_schema(value, surface="unfurl")
    assert all(b["type"] != "actions" for b in value["blocks"])
    text = json.dumps(value, ensure_ascii=False)
    assert f"<{PUBLIC_URL}/tickets/12345|#12345 Mail server down>" in text
    assert ":warning:" in text


def test_unfurl_of_a_minimal_and_a_hostile_ticket() -> None:
    assert_within_slack_limits(unfurl(minimal_view(), locale="en", public_url=PUBLIC_URL), surface="unfurl")
    hostile = unfurl(
        full_view(title=HOSTILE * 50, description=HOSTILE * 50, customer_name=HOSTILE),
        locale="en",
        public_url=PUBLIC_URL,
    )
    assert_within_slack_limits(hostile, surface="unfurl")
    text = json.dumps(hostile)
    for injection in INJECTIONS:
        assert injection not in text
    assert "view in PSA" in text
