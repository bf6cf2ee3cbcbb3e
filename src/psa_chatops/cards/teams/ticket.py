"""The ticket card and ticket lists as Adaptive Cards (1.5), with the same facts and behaviour as Slack's.

The card carries the state at a glance (status, priority, customer, asset, assignee, SLA with an unmistakable
at-risk marker, latest notes) and the actions the viewer may use (``view.actions``: a closed ticket gets none).
Actions are ``Action.Execute`` (verbs of ``ids``) with an ``Action.Submit`` fallback; inputs sit in
``Action.ShowCard`` sub-cards. ``refresh`` re-renders the card for each of up to 60 viewers (``userIds``), so each
sees their own actions. Cards are kept under the size limit by shrinking the free texts (with a link to the PSA).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from psa_chatops.cards import wording
from psa_chatops.cards.labels import (
    SLA_STATE_LABELS,
    action_basis,
    list_title,
    priority_label,
    sla_target_label,
    source_label,
    status_label,
    worst_sla,
)
from psa_chatops.cards.teams import ids
from psa_chatops.cards.teams.forms import close_form, escalate_form, note_form, status_form
from psa_chatops.cards.teams.messages import (
    Action,
    Card,
    Element,
    action_data,
    adaptive_card,
    budget,
    container,
    execute_action,
    fact_set,
    fit,
    open_url_action,
    show_card_action,
    text_block,
)
from psa_chatops.cards.teams.text import (
    bold,
    clip,
    clip_with_link,
    escape,
    link,
    teams_date,
    ticket_url,
    tickets_url,
    translate_md,
    translator,
)
from psa_chatops.core.errors import N_
from psa_chatops.handlers.views import NoteView, SlaView, TicketListView, TicketSummaryView, TicketView
from psa_chatops.i18n import Translator

__all__ = [
    "MAX_LIST_ROWS",
    "MAX_NOTES",
    "PRIORITY_EMOJI",
    "SLA_MARKERS",
    "list_title",
    "priority_text",
    "refresh_spec",
    "sla_marker",
    "stale_card",
    "summary_block",
    "ticket_actions",
    "ticket_card",
    "ticket_list_card",
    "worst_sla",
]

MAX_NOTES: Final = 5
MAX_LIST_ROWS: Final = 25  # rows of a list card; the rest is summarised with a link
NOTE_TEXT: Final = 700
DESCRIPTION: Final = 3_000
TITLE: Final = 300
NAME: Final = 200

PRIORITY_EMOJI: Final[Mapping[str, str]] = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "⚪"}
PRIORITY_COLOR: Final[Mapping[str, str]] = {"critical": "Attention", "high": "Warning"}
SLA_MARKERS: Final[Mapping[str, tuple[str, str]]] = {
    "warning": ("⚠️", SLA_STATE_LABELS["warning"]),
    "breached": ("🚨", SLA_STATE_LABELS["breached"]),
    "met": ("✅", SLA_STATE_LABELS["met"]),
    "paused": ("⏸️", SLA_STATE_LABELS["paused"]),
}
_SLA_EMOJI: Final[Mapping[str, str]] = {state: emoji for state, (emoji, _) in SLA_MARKERS.items()}
SLA_COLOR: Final[Mapping[str, str]] = {"warning": "Warning", "breached": "Attention", "met": "Good"}
SLA_STYLE: Final[Mapping[str, str]] = {"warning": "warning", "breached": "attention"}


# --- labels -----------------------------------------------------------------------------------------------------


def priority_text(priority: str, locale: str) -> str:
    """Escaped markdown: the priority's colour dot and name."""
    return f"{PRIORITY_EMOJI.get(priority, '⚪')} {escape(priority_label(priority, locale))}"


def sla_marker(state: str, locale: str) -> str:
    """Escaped markdown such as "⚠️ **at risk**"; empty for an SLA that is simply running."""
    return wording.sla_marker(state, locale, _SLA_EMOJI, escape, bold)


def name_text(raw: str | None, fallback_msgid: str, tr: Translator) -> str:
    """An escaped, clipped name, or the translated fallback ("unassigned") in italics."""
    return wording.name_text(raw, fallback_msgid, tr, escape, _italic)


def _italic(escaped: str) -> str:
    return f"_{escaped}_"


def when(moment: datetime | None) -> str:
    return teams_date(moment) if moment else ""


# --- the card ---------------------------------------------------------------------------------------------------


def refresh_spec(number: int, version: int, viewer_ids: Iterable[str]) -> dict[str, Any] | None:
    """The card's ``refresh``: Execute ``ids.REFRESH`` for at most ``ids.MAX_REFRESH_USERS`` viewers (Teams'
    limit; the rest refresh by hand). None without viewers (Teams would refresh for nobody automatically)."""
    users = list(dict.fromkeys(u for u in viewer_ids if u))[: ids.MAX_REFRESH_USERS]
    if not users:
        return None
    action = {"type": "Action.Execute", "verb": ids.REFRESH, "data": action_data(number, version)}
    return {"action": action, "userIds": users}


def ticket_card(
    view: TicketView,
    *,
    locale: str,
    public_url: str,
    timezone: str | None = None,
    viewer_ids: Sequence[str] = (),
    limit: int = ids.BOT_CARD_LIMIT,
) -> Card:
    """The full ticket card (``ticket 12345``, refreshes, action results), within ``limit`` bytes.

    ``viewer_ids`` are the Teams user ids (``29:...``) whose clients refresh the card automatically (at most 60);
    ``timezone`` shapes the dates of the fallback text only (card dates show in each viewer's own zone).
    """
    tr = translator(locale, timezone)
    url = ticket_url(public_url, view.number)
    refresh = refresh_spec(view.number, view.version, viewer_ids)
    actions = ticket_actions(view, locale=tr.locale, public_url=public_url)
    fallback = f"#{view.number} {clip(view.title, 150)} ({status_label(view.status, tr.locale)})"

    def render(scale: float) -> Card:
        body: list[Element] = [_header(view, url, tr)]
        body += _sla_banner(view, tr)
        body.append(fact_set(_facts(view, tr)))
        if view.sla:
            body.append(text_block(_sla_text(view.sla, tr)))
        if view.description.strip():
            body += _description(view.description, url, tr, budget(DESCRIPTION, scale))
        body += _notes(view.notes, url, tr, scale)
        body.append(text_block(_footer(view, url, tr), size="Small", subtle=True, separator=True))
        return adaptive_card(body, actions, locale=tr.locale, fallback_text=fallback, refresh=refresh)

    return fit(render, limit)


def _header(view: TicketView, url: str, tr: Translator) -> Element:
    head = f"#{view.number} "
    title = clip_with_link(view.title, TITLE, url, tr.locale) if view.title.strip() else ""
    return text_block(escape(head) + title, size="Large", weight="Bolder")


def _sla_banner(view: TicketView, tr: Translator) -> list[Element]:
    """One loud line when an SLA is at risk or breached, right under the title."""
    worst = worst_sla(view.sla)
    if worst is None:
        return []
    msgid = N_("SLA {target} breached") if worst.state == "breached" else N_("SLA {target} at {percent} %")
    line = translate_md(
        msgid, tr.locale, target=escape(sla_target_label(worst.target, tr.locale)), percent=f"{worst.percent:.0f}"
    )
    emoji = SLA_MARKERS[worst.state][0]
    suffix = ""
    if worst.due_at:
        due_msgid = N_("was due {due}") if worst.state == "breached" else N_("due {due}")
        suffix = " · " + translate_md(due_msgid, tr.locale, due=when(worst.due_at))
    banner = text_block(f"{emoji} {bold(line)}{suffix}", color=SLA_COLOR[worst.state], weight="Bolder")
    return [container([banner], style=SLA_STYLE[worst.state])]


def _facts(view: TicketView, tr: Translator) -> list[tuple[str, str]]:
    facts = [
        (tr.t("Status"), escape(status_label(view.status, tr.locale))),
        (tr.t("Priority"), priority_text(view.priority, tr.locale)),
        (tr.t("Customer"), name_text(view.customer_name or view.customer_id, N_("unknown"), tr)),
        (tr.t("Assignee"), name_text(view.assignee, N_("unassigned"), tr)),
    ]
    if view.contact:
        facts.append((tr.t("Contact"), name_text(view.contact, N_("none"), tr)))
    if view.asset:
        facts.append((tr.t("Asset"), name_text(view.asset, N_("none"), tr)))
    worst = worst_sla(view.sla)
    if worst is not None and worst.due_at is not None:
        label = tr.t("SLA {target}", target=sla_target_label(worst.target, tr.locale))
        facts.append((label, f"{escape(tr.dt(worst.due_at))} {sla_marker(worst.state, tr.locale)}"))
    if view.escalation_level:
        facts.append((tr.t("Escalation"), escape(tr.t("level {level}", level=view.escalation_level))))
    if view.tags:
        facts.append((tr.t("Tags"), escape(clip(", ".join(view.tags), 300))))
    if view.resolution:
        facts.append((tr.t("Resolution"), escape(clip(view.resolution, 400))))
    return facts


def _sla_text(slas: tuple[SlaView, ...], tr: Translator) -> str:
    lines = [bold(escape(tr.t("SLA")))]
    for sla in slas:
        target = escape(sla_target_label(sla.target, tr.locale).capitalize())
        parts = [f"{target}:"]
        if sla.state in ("ok", "warning", "breached") and sla.due_at:
            parts.append(translate_md(N_("due {due}"), tr.locale, due=when(sla.due_at)))
            parts.append(escape(f"({sla.percent:.0f} %)"))
        parts.append(sla_marker(sla.state, tr.locale))
        lines.append(" ".join(p for p in parts if p))
    return "\n\n".join(lines)


def _description(description: str, url: str, tr: Translator, limit: int) -> list[Element]:
    title = text_block(bold(escape(tr.t("Description"))), spacing="Medium")
    if limit <= 0:
        return [title, text_block(link(url, tr.t("view in PSA")))]
    return [title, text_block(clip_with_link(description, limit, url, tr.locale))]


def _notes(notes: tuple[NoteView, ...], url: str, tr: Translator, scale: float) -> list[Element]:
    if not notes:
        return []
    count = min(MAX_NOTES, max(int(MAX_NOTES * scale), 1 if scale > 0 else 0))
    shown = notes[-count:] if count else ()
    items: list[Element] = [text_block(bold(escape(tr.t("Latest notes"))), spacing="Medium", separator=True)]
    older = len(notes) - len(shown)
    if older:
        items.append(text_block(link(url, tr.t_plural("{n} earlier note", "{n} earlier notes", older)), size="Small"))
    items += [_note(note, url, tr, max(budget(NOTE_TEXT, scale), 100)) for note in shown]
    return items


def _note(note: NoteView, url: str, tr: Translator, limit: int) -> Element:
    if note.visibility == "internal":
        emoji, kind = "🔒", tr.t("internal note")
    else:
        emoji, kind = "💬", tr.t("reply to the customer")
    head = f"{bold(escape(clip(note.author, NAME)))} · {emoji} {escape(kind)} · {when(note.created_at)}"
    return container(
        [text_block(head, size="Small", subtle=True), text_block(clip_with_link(note.body, limit, url, tr.locale))]
    )


def _footer(view: TicketView, url: str, tr: Translator) -> str:
    opened = translate_md(
        N_("Opened {when} via {source}"),
        tr.locale,
        when=when(view.created_at),
        source=escape(source_label(view.source, tr.locale)),
    )
    updated = translate_md(N_("updated {when}"), tr.locale, when=when(view.updated_at))
    return f"{opened} · {updated} · {link(url, tr.t('Open in PSA'))}"


# --- actions ----------------------------------------------------------------------------------------------------


def ticket_actions(view: TicketView | Mapping[str, Any], *, locale: str, public_url: str) -> list[Action]:
    """The actions ``view.actions`` allows (for an envelope's ticket summary: what a technician may do).

    No ticket action, no buttons at all: the footer links to the PSA. Otherwise "Open in PSA" comes last.
    """
    number, version, status, allowed = action_basis(view)
    tr = translator(locale)
    data = action_data(number, version)
    actions: list[Action] = []
    if "assign_to_me" in allowed:
        actions.append(execute_action(tr.t("Assign to me"), ids.ASSIGN_TO_ME, data, style="positive"))
    if "set_status" in allowed:
        form = status_form(number, version, status, tr, include_closed="close" not in allowed)
        if form is not None:
            actions.append(show_card_action(tr.t("Set status"), form))
    if "add_note" in allowed:
        actions.append(show_card_action(tr.t("Add note"), note_form(number, version, tr)))
    if "escalate" in allowed:
        actions.append(show_card_action(tr.t("Escalate"), escalate_form(number, version, tr)))
    if "close" in allowed:
        resolution = view.resolution or "" if isinstance(view, TicketView) else ""
        actions.append(show_card_action(tr.t("Close"), close_form(number, version, tr, resolution=resolution)))
    if actions:
        actions.append(open_url_action(tr.t("Open in PSA"), ticket_url(public_url, number)))
    return actions


# --- lists ------------------------------------------------------------------------------------------------------


def summary_block(ticket: TicketSummaryView, *, locale: str, public_url: str) -> Element:
    """One ticket of a list: number (linked) and title, then its state at a glance; tapping opens the ticket."""
    tr = translator(locale)
    url = ticket_url(public_url, ticket.number)
    emoji = PRIORITY_EMOJI.get(ticket.priority, "⚪")
    first = f"{emoji} {bold(link(url, f'#{ticket.number}'))} {escape(clip(ticket.title, 150))}"
    details = [
        escape(status_label(ticket.status, tr.locale)),
        escape(priority_label(ticket.priority, tr.locale)),
        escape(clip(ticket.customer_name, 100)),
        name_text(ticket.assignee and clip(ticket.assignee, 100), N_("unassigned"), tr),
    ]
    sla = sla_marker(ticket.sla_state, tr.locale) if ticket.sla_state in ("warning", "breached") else ""
    if ticket.next_due_at and ticket.sla_state not in ("met", "paused"):
        sla = f"{sla} {translate_md(N_('due {due}'), tr.locale, due=when(ticket.next_due_at))}".strip()
    if sla:
        details.append(sla)
    second = text_block(" · ".join(details), size="Small", subtle=ticket.sla_state not in SLA_COLOR, spacing="None")
    if ticket.sla_state in ("warning", "breached"):
        second["color"] = SLA_COLOR[ticket.sla_state]
    block = container([text_block(first), second], separator=True)
    block["selectAction"] = {"type": "Action.OpenUrl", "url": url}
    return block


def ticket_list_card(
    view: TicketListView,
    *,
    locale: str,
    public_url: str,
    max_rows: int = MAX_LIST_ROWS,
    limit: int = ids.BOT_CARD_LIMIT,
) -> Card:
    """``mine``, ``queue``, ``search``, ``sla``: at most ``max_rows`` tickets, the rest linked to the PSA."""
    tr = translator(locale)
    title = list_title(view, tr.locale)

    def render(scale: float) -> Card:
        rows = view.tickets[: max(int(max_rows * scale), 1 if scale > 0 else 0)]
        body: list[Element] = [text_block(escape(title), size="Large", weight="Bolder")]
        if not view.tickets:
            body.append(text_block(escape(tr.t("No tickets."))))
        body += [summary_block(t, locale=tr.locale, public_url=public_url) for t in rows]
        more = max(view.total, len(view.tickets)) - len(rows)
        if more > 0:
            text = escape(tr.t_plural("{n} more ticket", "{n} more tickets", more))
            body.append(text_block(f"{text} · {link(tickets_url(public_url), tr.t('view in PSA'))}", subtle=True))
        actions = [open_url_action(tr.t("Open in PSA"), tickets_url(public_url))] if more > 0 else []
        return adaptive_card(body, actions, locale=tr.locale, fallback_text=title)

    return fit(render, limit)


def stale_card(number: int, *, locale: str, public_url: str) -> Card:
    """The reply to a click on an outdated card: nothing was done; look again and retry."""
    tr = translator(locale)
    text = tr.t("Ticket #{number} has changed since this card was posted, so nothing was done.", number=number)
    hint = tr.t("The card now shows the current state; please try again.")
    more = link(ticket_url(public_url, number), tr.t("Open in PSA"))
    body = [text_block(f"🔄 {escape(text)}"), text_block(f"{escape(hint)} {more}")]
    return adaptive_card(body, locale=tr.locale, fallback_text=text)
