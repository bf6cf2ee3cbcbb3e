"""Message extension results: ticket search results (``composeExtension/query``) and link unfurling
(``composeExtension/queryLink``).

Each result is a compact Adaptive Card (what is inserted into the conversation) with a ``preview``: a thumbnail
card for the result list. What is inserted is seen by everyone in the conversation, so it carries no ticket actions
(those are per viewer), only "Open in PSA". Thumbnail cards render a little HTML, so their texts are HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any, Final

from psa_chatops.cards.labels import priority_label, status_label
from psa_chatops.cards.links import number_from_url
from psa_chatops.cards.teams.messages import (
    Card,
    Element,
    adaptive_card,
    attachment,
    fact_set,
    open_url_action,
    text_block,
)
from psa_chatops.cards.teams.text import bold, clip, clip_with_link, escape, link, plain, ticket_url, translator
from psa_chatops.cards.teams.ticket import (
    PRIORITY_EMOJI,
    SLA_COLOR,
    name_text,
    priority_text,
    sla_marker,
    worst_sla,
)
from psa_chatops.core.errors import N_
from psa_chatops.handlers.views import TicketSummaryView, TicketView

__all__ = [
    "MAX_RESULTS",
    "THUMBNAIL_CONTENT_TYPE",
    "compact_card",
    "link_unfurl_response",
    "number_from_url",
    "search_response",
    "summary_card",
]

THUMBNAIL_CONTENT_TYPE: Final = "application/vnd.microsoft.card.thumbnail"
MAX_RESULTS: Final = 25  # Teams shows at most 25 results per page of a search
SNIPPET: Final = 300


def compact_card(view: TicketView, *, locale: str, public_url: str) -> Card:
    """The card a pasted ticket link unfurls to (and the one a search inserts when it has the full ticket)."""
    tr = translator(locale)
    url = ticket_url(public_url, view.number)
    title = bold(link(url, f"#{view.number} {clip(view.title, 150)}"))
    facts = [
        (tr.t("Status"), escape(status_label(view.status, tr.locale))),
        (tr.t("Priority"), priority_text(view.priority, tr.locale)),
        (tr.t("Customer"), name_text(view.customer_name or view.customer_id, N_("unknown"), tr)),
        (tr.t("Assignee"), name_text(view.assignee, N_("unassigned"), tr)),
    ]
    body: list[Element] = [text_block(title, size="Medium", weight="Bolder")]
    worst = worst_sla(view.sla)
    if worst is not None:
        body.append(text_block(sla_marker(worst.state, tr.locale), color=SLA_COLOR[worst.state]))
    body.append(fact_set(facts))
    if view.description.strip():
        body.append(text_block(clip_with_link(view.description, SNIPPET, url, tr.locale), subtle=True))
    fallback = f"#{view.number} {clip(view.title, 150)}"
    return adaptive_card(body, [open_url_action(tr.t("Open in PSA"), url)], locale=tr.locale, fallback_text=fallback)


def summary_card(ticket: TicketSummaryView, *, locale: str, public_url: str) -> Card:
    """The compact card of a search result (a list row's facts)."""
    tr = translator(locale)
    url = ticket_url(public_url, ticket.number)
    emoji = PRIORITY_EMOJI.get(ticket.priority, "⚪")
    title = f"{emoji} {bold(link(url, f'#{ticket.number}'))} {escape(clip(ticket.title, 150))}"
    facts = [
        (tr.t("Status"), escape(status_label(ticket.status, tr.locale))),
        (tr.t("Priority"), priority_text(ticket.priority, tr.locale)),
        (tr.t("Customer"), escape(clip(ticket.customer_name, 100)) or " "),
        (tr.t("Assignee"), name_text(ticket.assignee, N_("unassigned"), tr)),
    ]
    body: list[Element] = [text_block(title, weight="Bolder")]
    if ticket.sla_state in ("warning", "breached"):
        body.append(text_block(sla_marker(ticket.sla_state, tr.locale), color=SLA_COLOR[ticket.sla_state]))
    body.append(fact_set(facts))
    fallback = f"#{ticket.number} {clip(ticket.title, 150)}"
    return adaptive_card(body, [open_url_action(tr.t("Open in PSA"), url)], locale=tr.locale, fallback_text=fallback)


def _preview(number: int, title: str, status: str, priority: str, sla_state: str, url: str, locale: str) -> Card:
    tr = translator(locale)
    parts = [status_label(status, tr.locale), priority_label(priority, tr.locale)]
    if sla_state in ("warning", "breached"):
        parts.append(_sla_word(sla_state, tr.locale))
    return {
        "contentType": THUMBNAIL_CONTENT_TYPE,
        "content": {
            "title": html.escape(plain(f"#{number} {clip(title, 100)}")),
            "text": html.escape(plain(" · ".join(parts))),
            "tap": {"type": "openUrl", "value": url},
        },
    }


def _sla_word(state: str, locale: str) -> str:
    return "SLA " + translator(locale).t(N_("at risk") if state == "warning" else N_("breached"))


def search_response(
    tickets: Sequence[TicketSummaryView], *, locale: str, public_url: str, empty_text: str | None = None
) -> dict[str, Any]:
    """The invoke response to a ticket search: ``{"composeExtension": {"type": "result", ...}}`` with at most
    ``MAX_RESULTS`` results; no tickets gives a message ("No tickets.")."""
    tr = translator(locale)
    if not tickets:
        return {"composeExtension": {"type": "message", "text": plain(empty_text or tr.t("No tickets."), 200)}}
    results = []
    for ticket in tickets[:MAX_RESULTS]:
        url = ticket_url(public_url, ticket.number)
        results.append(
            {
                **attachment(summary_card(ticket, locale=tr.locale, public_url=public_url)),
                "preview": _preview(
                    ticket.number, ticket.title, ticket.status, ticket.priority, ticket.sla_state, url, tr.locale
                ),
            }
        )
    return {"composeExtension": {"type": "result", "attachmentLayout": "list", "attachments": results}}


def link_unfurl_response(view: TicketView, *, locale: str, public_url: str) -> dict[str, Any]:
    """The invoke response to ``composeExtension/queryLink`` for one of our ticket URLs (``number_from_url``)."""
    worst = worst_sla(view.sla)
    url = ticket_url(public_url, view.number)
    preview = _preview(view.number, view.title, view.status, view.priority, worst.state if worst else "", url, locale)
    result = {**attachment(compact_card(view, locale=locale, public_url=public_url)), "preview": preview}
    return {"composeExtension": {"type": "result", "attachmentLayout": "list", "attachments": [result]}}
