"""The renderers run inside request handlers: rendering must not block the event loop (the autouse blockbuster
fixture in ``tests/conftest.py`` fails a test on blocking calls such as reading the tz database or babel's data).

Run in a fresh process, this proves the first render needs no file I/O; ``cards.slack.text`` loads what it needs at
import. (A viewer's own timezone, when passed, is still loaded once on first use.)
"""

from __future__ import annotations

from psa_chatops.cards.slack.home import home_view
from psa_chatops.cards.slack.messages import help_message
from psa_chatops.cards.slack.modals import add_note_modal, new_ticket_modal
from psa_chatops.cards.slack.notifications import root_message, thread_line, webhook_message
from psa_chatops.cards.slack.ticket import ticket_card, ticket_list
from psa_chatops.cards.slack.unfurl import unfurl
from tests.cards.slack_factories import PUBLIC_URL, full_view, routed_envelopes
from tests.cards.slack_factories import ticket_list as make_list


async def test_every_renderer_runs_on_the_event_loop_without_blocking() -> None:
    envelopes = routed_envelopes()  # builds tickets with SLA calendars: setup, not rendering
    for locale in ("de", "en"):
        ticket_card(full_view(), locale=locale, public_url=PUBLIC_URL, ephemeral=True)
        ticket_list(make_list(30), locale=locale, public_url=PUBLIC_URL)
        home_view(make_list(3), make_list(2), locale=locale, public_url=PUBLIC_URL, linked=True)
        unfurl(full_view(), locale=locale, public_url=PUBLIC_URL)
        new_ticket_modal(locale, title="x")
        add_note_modal(full_view(), locale, private_metadata="{}")
        help_message(locale, unknown="x", suggestion="sla")
        for envelope in envelopes.values():
            root_message(envelope, locale=locale, public_url=PUBLIC_URL)
            thread_line(envelope, locale=locale, public_url=PUBLIC_URL)
            webhook_message(envelope, locale=locale, public_url=PUBLIC_URL)
