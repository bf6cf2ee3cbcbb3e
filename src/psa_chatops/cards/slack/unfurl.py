"""Link unfurling: which URLs are our tickets, and the compact card Slack shows under a pasted ticket link.

The unfurl is seen by everyone in the conversation, whoever pasted the link, so it carries no buttons (those are
per viewer); it links to the PSA instead.
"""

from __future__ import annotations

from typing import Any, Final

from psa_chatops.cards.links import number_from_url
from psa_chatops.cards.slack.messages import context, section
from psa_chatops.cards.slack.text import bold, clip, clip_with_link, escape, link, ticket_url, translator
from psa_chatops.cards.slack.ticket import name_text, priority_text, sla_marker, status_label
from psa_chatops.core.errors import N_
from psa_chatops.handlers.views import TicketView

__all__ = ["number_from_url", "ticket_url", "unfurl"]

SNIPPET: Final = 300  # characters of the description in an unfurl


def unfurl(view: TicketView, *, locale: str, public_url: str, timezone: str | None = None) -> dict[str, Any]:
    """The value for one URL in ``chat.unfurl``'s ``unfurls``: ``{"blocks": [...]}``."""
    tr = translator(locale, timezone)
    url = ticket_url(public_url, view.number)
    title = bold(link(url, f"#{view.number} {clip(view.title, 150)}"))
    state = [
        escape(status_label(view.status, tr.locale)),
        priority_text(view.priority, tr.locale),
        escape(clip(view.customer_name or view.customer_id, 100)),
        name_text(view.assignee and clip(view.assignee, 100), N_("unassigned"), tr),
    ]
    worst = max(
        (s for s in view.sla if s.state in ("warning", "breached")),
        key=lambda s: (s.state == "breached", s.percent),
        default=None,
    )
    if worst is not None:
        state.append(sla_marker(worst.state, tr.locale))
    blocks = [section(f"{title}\n{' · '.join(state)}")]
    if view.description.strip():
        blocks.append(context(clip_with_link(view.description, SNIPPET, url, tr.locale)))
    return {"blocks": blocks}
