"""E-mail notifications (``cards.email.notification``): both parts from one rendering, both audiences, both
languages, user text escaped in HTML."""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from typing import Any

import pytest

from psa_chatops.cards.email.notification import render
from tests.cards.slack_factories import PUBLIC_URL, routed_envelopes

NAMES = {"technician:tom": "Tom Technician", "mia": "Mia Muster", "CUST-789": "Müller GmbH"}
HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def first(kind: str, **changes: Any) -> dict[str, Any]:
    envelope = copy.deepcopy(routed_envelopes()[kind])
    envelope["data"].update(changes)
    return envelope


@pytest.mark.parametrize("kind", sorted(routed_envelopes()))
@pytest.mark.parametrize("locale", ["en", "de"])
def test_every_routed_event_renders_for_technicians(kind: str, locale: str) -> None:
    mail = render(routed_envelopes()[kind], audience="technician", locale=locale, public_url=PUBLIC_URL, names=NAMES)
    assert mail.subject == "Mail server down"
    assert "Mail server down" in mail.text
    assert "Mail server down" in mail.html
    assert f"{PUBLIC_URL}/tickets/12345" in mail.text
    assert "Müller GmbH" in mail.text
    assert "Müller GmbH" in mail.html
    assert "{" not in mail.text  # every placeholder filled
    assert parsed(mail.html).tags[:3] == ["html", "head", "meta"]


def test_a_contact_reads_a_letter_in_their_language() -> None:
    opened = first("TicketOpened")
    english = render(opened, audience="contact", locale="en", public_url=PUBLIC_URL, recipient_name="Petra Kunde")
    german = render(opened, audience="contact", locale="de", public_url=PUBLIC_URL, recipient_name="Petra Kunde")
    assert english.text.splitlines()[3:5] == ["", "Hello Petra Kunde,"]
    assert "we have received your request and recorded it as ticket #12345." in english.text
    assert german.text.splitlines()[3:5] == ["", "Hallo Petra Kunde,"]
    assert "wir haben Ihre Anfrage erhalten und als Ticket #12345 erfasst." in german.text
    assert "bitte lassen Sie [#12345] im Betreff stehen" in german.text
    assert 'lang="de"' in german.html


def test_a_public_reply_is_quoted_in_full_and_escaped() -> None:
    body = f"Line one\n{HOSTILE}\n" + "x" * 3000
    note = first("NoteAdded", visibility="public", body=body, author_id="technician:tom")
    mail = render(note, audience="contact", locale="en", public_url=PUBLIC_URL, names=NAMES)
    assert "Tom Technician has replied to your ticket #12345:" in mail.text
    assert "> " + HOSTILE in mail.text
    assert "x" * 3000 in mail.text
    tags = parsed(mail.html)
    assert "script" not in tags.tags
    assert "b" not in tags.tags
    assert HOSTILE in "".join(tags.text)  # shown as text, not markup
    assert "blockquote" in tags.tags


def test_a_hostile_title_and_name_stay_text() -> None:
    opened = first("TicketOpened")
    opened["ticket"]["title"] = HOSTILE
    mail = render(opened, audience="technician", locale="en", public_url=PUBLIC_URL, names={"technician:tom": HOSTILE})
    tags = parsed(mail.html)
    assert "script" not in tags.tags
    assert "b" not in tags.tags
    assert mail.subject == HOSTILE


def test_resolution_is_part_of_the_resolved_letter() -> None:
    resolved = first("TicketStatusChanged", to_status="resolved", resolution="Toner <getauscht>")
    mail = render(resolved, audience="contact", locale="de", public_url=PUBLIC_URL)
    assert "Ihr Ticket #12345 wurde gelöst." in mail.text
    assert "Falls das Problem weiterhin besteht" in mail.text
    assert "> Toner <getauscht>" in mail.text
    assert "Toner &lt;getauscht&gt;" in mail.html
