"""The App Home tab: the technician's own open tickets, the SLAs at risk, and quick actions.

A user whose Slack account is not linked yet sees how to link it instead of empty lists (a list would be wrong:
we do not know whose tickets to show).
"""

from __future__ import annotations

from typing import Any, Final

from psa_chatops.cards.slack import ids
from psa_chatops.cards.slack.messages import Block, actions, button, context, divider, header, link_instructions
from psa_chatops.cards.slack.text import LIMITS, escape, tickets_url, translator
from psa_chatops.cards.slack.ticket import list_blocks, list_title
from psa_chatops.handlers.views import TicketListView

__all__ = ["HOME_LIST_ROWS", "home_view"]

HOME_LIST_ROWS: Final = 20  # per list: two lists, their headers and the actions stay far below 100 blocks


def home_view(
    mine: TicketListView,
    at_risk: TicketListView,
    *,
    locale: str,
    public_url: str,
    linked: bool,
    email_hint: str | None = None,
    timezone: str | None = None,
) -> dict[str, Any]:
    """The ``views.publish`` view (type "home"); when not ``linked``, the lists give way to linking help."""
    tr = translator(locale, timezone)
    blocks: list[Block] = [header(tr.t("PSA")), _quick_actions(public_url, linked, tr.locale)]
    if not linked:
        blocks += link_instructions(tr.locale, email_hint=email_hint).blocks
        return {"type": "home", "blocks": blocks}
    for view in (mine, at_risk):
        blocks += [divider(), header(list_title(view, tr.locale))]
        blocks += list_blocks(
            view, locale=tr.locale, public_url=public_url, max_rows=HOME_LIST_ROWS, timezone=tr.timezone
        )
    blocks.append(context(escape(tr.t("Use /psa help in any channel for all commands."))))
    return {"type": "home", "blocks": blocks[: LIMITS.VIEW_BLOCKS]}


def _quick_actions(public_url: str, linked: bool, locale: str) -> Block:
    tr = translator(locale)
    elements: list[dict[str, Any]] = []
    if linked:
        elements.append(button(tr.t("New ticket"), ids.HOME_NEW_TICKET, value="new_ticket", style="primary"))
    elements += [
        button(tr.t("Refresh"), ids.HOME_REFRESH, value="refresh"),
        button(tr.t("Open PSA"), ids.OPEN_IN_PSA, url=tickets_url(public_url)),
    ]
    return actions(elements)
