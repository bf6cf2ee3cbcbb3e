"""Teams message extension (``cards.teams.extension``): search results with previews, link unfurling."""

from __future__ import annotations

import html

import pytest

from psa_chatops.cards.teams.extension import (
    MAX_RESULTS,
    THUMBNAIL_CONTENT_TYPE,
    link_unfurl_response,
    number_from_url,
    search_response,
)
from psa_chatops.cards.teams.messages import CARD_CONTENT_TYPE
from tests.cards.slack_factories import PUBLIC_URL, full_view, minimal_view, summary
from tests.cards.teams_limits import assert_valid_card, verbs_of

LOCALES = ("en", "de")


@pytest.mark.parametrize("count", [0, 1, 100])
@pytest.mark.parametrize("locale", LOCALES)
def test_search_results(count: int, locale: str) -> None:
    tickets = [summary(10_000 + i, title="<at>all</at> [x](y)") for i in range(count)]
    response = search_response(tickets, locale=locale, public_url=PUBLIC_URL)["composeExtension"]
    if count == 0:
        assert response["type"] == "message"
        assert response["text"]
        return
    assert response["type"] == "result"
    assert response["attachmentLayout"] == "list"
    assert len(response["attachments"]) == min(count, MAX_RESULTS)
    for item in response["attachments"]:
        assert item["contentType"] == CARD_CONTENT_TYPE
        card = assert_valid_card(item["content"])
        assert not verbs_of(card)
        preview = item["preview"]
        assert preview["contentType"] == THUMBNAIL_CONTENT_TYPE
        assert "<at>" not in preview["content"]["title"]
        assert "&lt;" in preview["content"]["title"]
        assert preview["content"]["tap"]["value"].startswith(f"{PUBLIC_URL}/tickets/")


@pytest.mark.parametrize("locale", LOCALES)
def test_link_unfurl(locale: str) -> None:
    for view in (full_view(), minimal_view()):
        response = link_unfurl_response(view, locale=locale, public_url=PUBLIC_URL)["composeExtension"]
        (item,) = response["attachments"]
        card = assert_valid_card(item["content"])
        assert card["actions"] == [
            {
                "type": "Action.OpenUrl",
                "title": card["actions"][0]["title"],
                "url": f"{PUBLIC_URL}/tickets/{view.number}",
            }
        ]
        assert html.unescape(item["preview"]["content"]["title"]).startswith(f"#{view.number}")
    assert number_from_url(PUBLIC_URL, f"{PUBLIC_URL}/tickets/42?x=1") == 42
