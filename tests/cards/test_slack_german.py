"""German readers get German everywhere: render every surface in German and look for English catalog texts.

An English msgid in German output means a text that was never extracted (e.g. a ``t(...)`` call inside an f-string,
which babel does not read) or never translated.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from babel.messages.pofile import read_po

from psa_chatops.cards.slack.home import home_view
from psa_chatops.cards.slack.messages import (
    help_message,
    link_instructions,
    subscription_summary,
    unsubscribed_message,
)
from psa_chatops.cards.slack.modals import add_note_modal, close_modal, new_ticket_modal
from psa_chatops.cards.slack.notifications import root_message, thread_line, webhook_message
from psa_chatops.cards.slack.ticket import stale_card_notice, ticket_card, ticket_list
from psa_chatops.cards.slack.unfurl import unfurl
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category, RoutingRule
from tests.cards.slack_factories import PUBLIC_URL, envelopes, full_view, note
from tests.cards.slack_factories import ticket_list as make_list


def english_texts() -> set[str]:
    """English msgids whose German differs, long enough not to match by accident, without placeholders."""
    with (files("psa_chatops.i18n") / "locale" / "de" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    found = set()
    for message in list(catalog)[1:]:
        msgid = message.id[0] if isinstance(message.id, tuple) else message.id
        german = message.string[0] if isinstance(message.string, tuple) else message.string
        if len(msgid) >= 8 and "{" not in msgid and german and german != msgid:
            found.add(msgid)
    return found


def german_surfaces() -> list[Any]:
    view = full_view(notes=tuple(note(i, visibility=("internal", "public")[i % 2], body="x " * 600) for i in range(9)))
    rule = RoutingRule(1, "slack:C1", frozenset(Category), "CUST-1", Priority.HIGH, dispatchers=True)
    rendered: list[Any] = [
        ticket_card(view, locale="de", public_url=PUBLIC_URL, ephemeral=True),
        ticket_list(make_list(40), locale="de", public_url=PUBLIC_URL),
        home_view(make_list(30), make_list(3), locale="de", public_url=PUBLIC_URL, linked=True),
        home_view(make_list(0), make_list(0), locale="de", public_url=PUBLIC_URL, linked=False),
        unfurl(view, locale="de", public_url=PUBLIC_URL),
        new_ticket_modal("de", customer=("C", "Acme")),
        add_note_modal(view, "de", private_metadata=""),
        close_modal(view, "de", private_metadata=""),
        help_message("de", unknown="x", suggestion="sla"),
        link_instructions("de"),
        link_instructions("de", email_hint="a@b.example"),
        subscription_summary(rule, "de"),
        unsubscribed_message(2, "de"),
        stale_card_notice(5, locale="de", public_url=PUBLIC_URL),
    ]
    for envelope in envelopes():
        rendered += [
            root_message(envelope, locale="de", public_url=PUBLIC_URL),
            thread_line(envelope, locale="de", public_url=PUBLIC_URL),
            webhook_message(envelope, locale="de", public_url=PUBLIC_URL),
        ]
    return [r.as_dict() if hasattr(r, "as_dict") else r for r in rendered if r is not None]


def shown_texts(value: Any) -> list[str]:
    """What readers see: text objects and fallback texts (not ids, option values or URLs)."""
    if isinstance(value, dict):
        own = [value["text"]] if isinstance(value.get("text"), str) else []
        return own + [t for key, item in value.items() if key != "text" for t in shown_texts(item)]
    if isinstance(value, list):
        return [t for item in value for t in shown_texts(item)]
    return []


def test_no_english_in_german_output() -> None:
    output = "\n".join(shown_texts(german_surfaces()))
    leaks = sorted(text for text in english_texts() if text in output)
    assert not leaks
