"""The ticket card and ticket lists in Block Kit.

The card is what a technician works from, so it carries the state at a glance (status, priority, customer, asset,
assignee, SLA with an unmistakable at-risk marker, latest notes) and the buttons the viewer may use
(``view.actions``: a closed ticket gets none). Buttons carry ``ids.action_value(number, version)``; the actions
block's ``block_id`` carries the same value, because a select's value is the chosen status, not the ticket.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from psa_chatops.cards import wording
from psa_chatops.cards.labels import (
    SLA_STATE_LABELS,
    SLA_TARGET_LABELS,
    SOURCE_LABELS,
    action_basis,
    channel_actions,
    list_title,
    priority_label,
    sla_target_label,
    source_label,
    status_label,
    worst_sla,
)
from psa_chatops.cards.slack import ids
from psa_chatops.cards.slack.messages import (
    Block,
    Message,
    actions,
    button,
    confirm_dialog,
    context,
    fallback,
    fields_section,
    header,
    option,
    section,
)
from psa_chatops.cards.slack.text import (
    LIMITS,
    bold,
    clip,
    clip_escaped,
    clip_with_link,
    escape,
    link,
    slack_date,
    ticket_url,
    tickets_url,
    translate_mrkdwn,
    translator,
)
from psa_chatops.core.errors import N_
from psa_chatops.core.tickets_state import ALLOWED_TRANSITIONS, Status
from psa_chatops.handlers.views import NoteView, SlaView, TicketListView, TicketSummaryView, TicketView
from psa_chatops.i18n import Translator

__all__ = [
    "MAX_LIST_ROWS",
    "MAX_NOTES",
    "SLA_TARGET_LABELS",
    "SOURCE_LABELS",
    "channel_actions",
    "list_title",
    "priority_label",
    "sla_marker",
    "sla_target_label",
    "source_label",
    "stale_card_notice",
    "status_label",
    "summary_line",
    "ticket_actions",
    "ticket_card",
    "ticket_list",
]

MAX_NOTES: Final = 5  # the latest notes on a card; the rest is one click away
MAX_LIST_ROWS: Final = 20  # rows of a list message (one block each); the rest is summarised with a link
NOTE_TEXT: Final = 700  # characters of a note body on the card
NAME: Final = 200  # characters of a name (customer, asset, person) before it is cut

PRIORITY_EMOJI: Final[Mapping[str, str]] = {
    "critical": ":red_circle:",
    "high": ":large_orange_circle:",
    "medium": ":large_yellow_circle:",
    "low": ":white_circle:",
}
SLA_MARKERS: Final[Mapping[str, tuple[str, str]]] = {
    "warning": (":warning:", SLA_STATE_LABELS["warning"]),
    "breached": (":rotating_light:", SLA_STATE_LABELS["breached"]),
    "met": (":white_check_mark:", SLA_STATE_LABELS["met"]),
    "paused": (":double_vertical_bar:", SLA_STATE_LABELS["paused"]),
}
_SLA_EMOJI: Final[Mapping[str, str]] = {state: emoji for state, (emoji, _) in SLA_MARKERS.items()}


# --- labels ------------------------------------------------------------------------------------------------------


def priority_text(priority: str, locale: str) -> str:
    """Escaped mrkdwn: the priority's colour dot and name."""
    emoji = PRIORITY_EMOJI.get(priority, ":white_circle:")
    return f"{emoji} {escape(priority_label(priority, locale))}"


def sla_marker(state: str, locale: str) -> str:
    """Escaped mrkdwn such as ":warning: *at risk*"; empty for an SLA that is simply running."""
    return wording.sla_marker(state, locale, _SLA_EMOJI, escape, bold)


def name_text(raw: str | None, fallback_msgid: str, tr: Translator) -> str:
    """An escaped, clipped name, or the translated fallback ("unassigned") in italics."""
    return wording.name_text(raw, fallback_msgid, tr, escape, _italic)


def _italic(escaped: str) -> str:
    return f"_{escaped}_"


def when(moment: datetime | None, tr: Translator) -> str:
    """A date shown in each viewer's timezone (empty when unknown)."""
    return slack_date(moment, tr.locale, timezone=tr.timezone) if moment else ""


# --- the card ----------------------------------------------------------------------------------------------------


def ticket_card(
    view: TicketView, *, locale: str, public_url: str, ephemeral: bool = False, timezone: str | None = None
) -> Message:
    """The full ticket card (``/psa ticket``, shared cards, buttons' refresh); ``ephemeral`` adds "Share in channel".

    ``timezone`` only shapes the fallback of dates for clients that cannot render Slack's date tokens.
    """
    tr = translator(locale, timezone)
    url = ticket_url(public_url, view.number)
    blocks: list[Block] = [header(f"#{view.number} {view.title}")]
    if len(escape(view.title)) + len(f"#{view.number} ") > LIMITS.HEADER_TEXT:
        blocks.append(section(clip_with_link(view.title, LIMITS.SECTION_TEXT, url, tr.locale)))
    blocks += _sla_banner(view, tr)
    blocks.append(fields_section(_fields(view, tr)))
    if view.sla:
        blocks.append(section(_sla_text(view.sla, tr)))
    if view.description.strip():
        blocks.append(_description(view.description, url, tr))
    blocks += _notes(view.notes, url, tr)
    elements = ticket_actions(view, locale=tr.locale, public_url=public_url, ephemeral=ephemeral)
    if elements:
        blocks.append(actions(elements, block_id=ids.action_value(view.number, view.version)))
    blocks.append(context(_footer(view, url, tr)))
    text = f"#{view.number} {escape(view.title)} ({escape(status_label(view.status, tr.locale))})"
    return Message(fallback(text), blocks)


def _sla_banner(view: TicketView, tr: Translator) -> list[Block]:
    """One loud line when an SLA is at risk or breached, above everything else but the title."""
    worst = worst_sla(view.sla)
    if worst is None:
        return []
    msgid = N_("SLA {target} breached") if worst.state == "breached" else N_("SLA {target} at {percent} %")
    line = translate_mrkdwn(
        msgid, tr.locale, target=escape(sla_target_label(worst.target, tr.locale)), percent=f"{worst.percent:.0f}"
    )
    emoji = SLA_MARKERS[worst.state][0]
    due = when(worst.due_at, tr)
    suffix = " · " + translate_mrkdwn(N_("due {due}"), tr.locale, due=due) if due else ""
    return [section(f"{emoji} {bold(line)}{suffix}")]


def _fields(view: TicketView, tr: Translator) -> list[str]:
    def field(label: str, value: str) -> str:
        return f"{bold(escape(label))}\n{value}"

    fields = [
        field(tr.t("Status"), escape(status_label(view.status, tr.locale))),
        field(tr.t("Priority"), priority_text(view.priority, tr.locale)),
        field(tr.t("Customer"), name_text(view.customer_name or view.customer_id, N_("unknown"), tr)),
        field(tr.t("Assignee"), name_text(view.assignee, N_("unassigned"), tr)),
    ]
    if view.contact:
        fields.append(field(tr.t("Contact"), name_text(view.contact, N_("none"), tr)))
    if view.asset:
        fields.append(field(tr.t("Asset"), name_text(view.asset, N_("none"), tr)))
    if view.escalation_level:
        fields.append(field(tr.t("Escalation"), escape(tr.t("level {level}", level=view.escalation_level))))
    if view.tags:
        fields.append(field(tr.t("Tags"), escape(clip(", ".join(view.tags), 500))))
    if view.resolution:
        fields.append(field(tr.t("Resolution"), escape(clip(view.resolution, 1_000))))
    return fields


def _sla_text(slas: tuple[SlaView, ...], tr: Translator) -> str:
    lines = [bold(escape(tr.t("SLA")))]
    for sla in slas:
        target = escape(sla_target_label(sla.target, tr.locale).capitalize())
        parts = [f"{target}:"]
        if sla.state in ("ok", "warning", "breached") and sla.due_at:
            parts.append(translate_mrkdwn(N_("due {due}"), tr.locale, due=when(sla.due_at, tr)))
            parts.append(f"({sla.percent:.0f} %)")
        parts.append(sla_marker(sla.state, tr.locale))
        lines.append(" ".join(p for p in parts if p))
    return "\n".join(lines)


def _description(description: str, url: str, tr: Translator) -> Block:
    title = bold(escape(tr.t("Description")))
    return section(f"{title}\n{clip_with_link(description, LIMITS.SECTION_TEXT - len(title) - 1, url, tr.locale)}")


def _notes(notes: tuple[NoteView, ...], url: str, tr: Translator) -> list[Block]:
    if not notes:
        return []
    shown = notes[-MAX_NOTES:]
    blocks: list[Block] = [context(bold(escape(tr.t("Latest notes"))))]
    older = len(notes) - len(shown)
    if older:
        more = tr.t_plural("{n} earlier note", "{n} earlier notes", older)
        blocks.append(context(link(url, more)))
    blocks += [section(_note_text(note, url, tr)) for note in shown]
    return blocks


def _note_text(note: NoteView, url: str, tr: Translator) -> str:
    if note.visibility == "internal":
        emoji, kind = ":lock:", tr.t("internal note")
    else:
        emoji, kind = ":speech_balloon:", tr.t("reply to the customer")
    head = f"{bold(escape(clip(note.author, NAME)))} · {emoji} {escape(kind)} · {when(note.created_at, tr)}"
    return f"{head}\n{clip_with_link(note.body, NOTE_TEXT, url, tr.locale)}"


def _footer(view: TicketView, url: str, tr: Translator) -> str:
    opened = translate_mrkdwn(
        N_("Opened {when} via {source}"),
        tr.locale,
        when=when(view.created_at, tr),
        source=escape(source_label(view.source, tr.locale)),
    )
    updated = translate_mrkdwn(N_("updated {when}"), tr.locale, when=when(view.updated_at, tr))
    open_in_psa = link(url, tr.t("Open in PSA"))
    return f"{opened} · {updated} · {open_in_psa}"


# --- buttons -----------------------------------------------------------------------------------------------------


def ticket_actions(
    view: TicketView | Mapping[str, Any], *, locale: str, public_url: str, ephemeral: bool = False
) -> list[dict[str, Any]]:
    """The interactive elements ``view.actions`` allows (for a summary dict: what a technician may do).

    No ticket action, no buttons, not even "Open in PSA" (the footer links there); the ephemeral card keeps
    "Share in channel", which shows the card to others and changes nothing.
    """
    number, version, status, allowed = action_basis(view)
    tr = translator(locale)
    value = ids.action_value(number, version)
    elements: list[dict[str, Any]] = []
    if "assign_to_me" in allowed:
        elements.append(button(tr.t("Assign to me"), ids.ASSIGN_TO_ME, value=value, style="primary"))
    if "set_status" in allowed and (select := _status_select(status, "close" in allowed, tr)) is not None:
        elements.append(select)
    if "add_note" in allowed:
        elements.append(button(tr.t("Add note"), ids.ADD_NOTE, value=value))
    if "escalate" in allowed:
        elements.append(_escalate_button(number, value, tr))
    if "close" in allowed:
        elements.append(button(tr.t("Close"), ids.CLOSE, value=value))
    if elements or ephemeral:
        elements.append(button(tr.t("Open in PSA"), ids.OPEN_IN_PSA, url=ticket_url(public_url, number)))
    if ephemeral:
        elements.append(button(tr.t("Share in channel"), ids.SHARE, value=value))
    return elements


def _status_select(status: str, close_separately: bool, tr: Translator) -> dict[str, Any] | None:
    """The statuses a ticket may move to; "closed" stays with the Close button (it asks for a resolution)."""
    try:
        targets = ALLOWED_TRANSITIONS[Status(status)]
    except ValueError:
        return None
    choices = [s for s in Status if s in targets and not (close_separately and s is Status.CLOSED)]
    if not choices:
        return None
    return {
        "type": "static_select",
        "action_id": ids.SET_STATUS,
        "placeholder": {"type": "plain_text", "text": clip(escape(tr.t("Set status")), LIMITS.PLACEHOLDER)},
        "options": [option(status_label(s.value, tr.locale), s.value) for s in choices],
    }


def _escalate_button(number: int, value: str, tr: Translator) -> dict[str, Any]:
    dialog = confirm_dialog(
        tr.t("Escalate ticket #{number}?", number=number),
        escape(tr.t("The priority goes up one step and the dispatchers are paged.")),
        tr.t("Escalate"),
        tr.t("Cancel"),
        danger=True,
    )
    return button(tr.t("Escalate"), ids.ESCALATE, value=value, style="danger", confirm=dialog)


# --- lists -------------------------------------------------------------------------------------------------------


def summary_line(ticket: TicketSummaryView, *, locale: str, public_url: str, timezone: str | None = None) -> str:
    """One ticket as two lines of escaped mrkdwn: number (linked) and title, then its state at a glance."""
    tr = translator(locale, timezone)
    url = ticket_url(public_url, ticket.number)
    emoji = PRIORITY_EMOJI.get(ticket.priority, ":white_circle:")
    first = f"{emoji} {link(url, f'#{ticket.number}')} {escape(clip(ticket.title, 150))}"
    details = [
        escape(status_label(ticket.status, tr.locale)),
        escape(priority_label(ticket.priority, tr.locale)),
        escape(clip(ticket.customer_name, 100)),
        name_text(ticket.assignee and clip(ticket.assignee, 100), N_("unassigned"), tr),
    ]
    sla = sla_marker(ticket.sla_state, tr.locale) if ticket.sla_state in ("warning", "breached") else ""
    if ticket.next_due_at and ticket.sla_state not in ("met", "paused"):
        due = translate_mrkdwn(N_("due {due}"), tr.locale, due=when(ticket.next_due_at, tr))
        sla = f"{sla} {due}".strip()
    if sla:
        details.append(sla)
    return f"{first}\n{' · '.join(details)}"


def list_blocks(
    view: TicketListView, *, locale: str, public_url: str, max_rows: int = MAX_LIST_ROWS, timezone: str | None = None
) -> list[Block]:
    """A list's rows (at most ``max_rows`` blocks) and, when there are more, one line linking to the PSA."""
    tr = translator(locale, timezone)
    if not view.tickets:
        return [section(escape(tr.t("No tickets.")))]
    rows = view.tickets[:max_rows]
    blocks: list[Block] = [
        section(summary_line(t, locale=tr.locale, public_url=public_url, timezone=tr.timezone)) for t in rows
    ]
    more = max(view.total, len(view.tickets)) - len(rows)
    if more > 0:
        text = escape(tr.t_plural("{n} more ticket", "{n} more tickets", more))
        more_link = link(tickets_url(public_url), tr.t("view in PSA"))
        blocks.append(context(f"{text} · {more_link}"))
    return blocks


def ticket_list(view: TicketListView, *, locale: str, public_url: str, timezone: str | None = None) -> Message:
    """``/psa mine``, ``queue``, ``search``, ``sla``: at most 20 rows (≤ 50 blocks), the rest linked."""
    title = list_title(view, locale)
    blocks = [header(title), *list_blocks(view, locale=locale, public_url=public_url, timezone=timezone)]
    return Message(fallback(clip_escaped(escape(title), LIMITS.HEADER_TEXT)), blocks)


def stale_card_notice(number: int, *, locale: str, public_url: str) -> Message:
    """The ephemeral reply to a click on an outdated card: nothing was done; look again and retry."""
    tr = translator(locale)
    text = escape(tr.t("Ticket #{number} has changed since this card was posted, so nothing was done.", number=number))
    hint = escape(tr.t("The card now shows the current state; please try again."))
    more = link(ticket_url(public_url, number), tr.t("Open in PSA"))
    return Message(fallback(text), [section(f":arrows_counterclockwise: {text}\n{hint} {more}")])
