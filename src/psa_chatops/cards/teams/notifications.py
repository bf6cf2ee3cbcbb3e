"""Channel notifications from outbox envelopes (``storage.outbox.envelope``) as Adaptive Cards.

The first message about a ticket in a channel is its root: a compact card of the ticket as it stands after the
event (``envelope["ticket"]``), updated in place on every later event, with the technicians' actions. Each event
also gets one reply in the root's thread (:func:`reply_card`, or :func:`reply_text` as plain text). A Workflows
webhook gets :func:`webhook_message`: the Power Automate wrapper around a card with "Open in PSA" only (a
webhook cannot receive Execute invokes). Which events reach which channel is the notifier's decision.

Envelopes carry ids, not names ("technician:tom", "CUST-789"); pass ``names`` (id → display name) to show names.
The reply lines are the same sentences as Slack's thread lines (one catalog entry each).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from psa_chatops.cards.slack.ticket import priority_label, sla_target_label, source_label, status_label
from psa_chatops.cards.teams import ids
from psa_chatops.cards.teams.messages import (
    Card,
    Element,
    adaptive_card,
    budget,
    container,
    fact_set,
    fit,
    open_url_action,
    text_block,
    workflows_payload,
)
from psa_chatops.cards.teams.text import (
    bold,
    clip,
    clip_with_link,
    escape,
    link,
    plain,
    teams_date,
    ticket_url,
    translate_md,
    translator,
)
from psa_chatops.cards.teams.ticket import (
    PRIORITY_EMOJI,
    SLA_MARKERS,
    name_text,
    priority_text,
    refresh_spec,
    ticket_actions,
)
from psa_chatops.core import events as ev
from psa_chatops.core.errors import N_
from psa_chatops.core.routing import CATEGORY_OF
from psa_chatops.i18n import Translator

__all__ = ["ROUTED_EVENT_TYPES", "reply_card", "reply_text", "root_card", "webhook_message"]

ROUTED_EVENT_TYPES: Final[frozenset[str]] = frozenset(cls.__name__ for cls in CATEGORY_OF)
NOTE_SNIPPET: Final = 300
SYSTEM_PREFIXES: Final = ("system:",)
REASON_LABELS: Final[Mapping[str, str]] = {
    "sla_breach": N_("SLA breached"),
    "critical_opened": N_("critical ticket opened"),
}
EVENT_COLOR: Final[Mapping[str, str]] = {
    ev.SlaWarningRaised.__name__: "Warning",
    ev.SlaBreached.__name__: "Attention",
    ev.TicketEscalated.__name__: "Attention",
}

Names = Mapping[str, str]


class _Context:
    """What every line needs: the envelope, the reader's translator, names and the ticket's URL.

    ``md`` is True for card text (escaped markdown, dates as card functions) and False for plain text.
    """

    def __init__(
        self, envelope: Mapping[str, Any], tr: Translator, names: Names | None, public_url: str, *, md: bool = True
    ) -> None:
        self.envelope = envelope
        self.data: Mapping[str, Any] = envelope.get("data") or {}
        self.ticket: Mapping[str, Any] = envelope.get("ticket") or {}
        self.tr = tr
        self.names: Names = names or {}
        self.md = md
        self.ticket_number = int(envelope["number"])
        self.url = ticket_url(public_url, self.ticket_number)
        self.snippet = NOTE_SNIPPET

    def esc(self, raw: str) -> str:
        return escape(raw) if self.md else plain(raw)

    def strong(self, text: str) -> str:
        return bold(text) if self.md else text

    def fill(self, msgid: str, **params: object) -> str:
        return translate_md(msgid, self.tr.locale, **params) if self.md else self.tr.t(msgid, **params)

    def name(self, key: str | None, *, fallback_msgid: str = N_("unassigned")) -> str:
        if not key:
            return name_text(None, fallback_msgid, self.tr) if self.md else self.tr.t(fallback_msgid)
        if key.startswith(SYSTEM_PREFIXES) and key not in self.names:
            return self.esc(self.tr.t("PSA"))
        _, _, bare = key.partition(":")
        raw = self.names.get(key) or self.names.get(bare) or bare or key
        return name_text(raw, fallback_msgid, self.tr) if self.md else plain(clip(raw, 200))

    @property
    def actor(self) -> str:
        return self.name(str(self.envelope.get("actor") or ""), fallback_msgid=N_("someone"))

    def when(self, value: object) -> str:
        moment = _parse_time(value)
        if moment is None:
            return ""
        return teams_date(moment) if self.md else self.tr.dt(moment)

    def long_text(self, raw: str) -> str:
        flat = " ".join(raw.split())
        if self.md:
            return clip_with_link(flat, self.snippet, self.url, self.tr.locale) if self.snippet else ""
        return plain(clip(flat, max(self.snippet, 1)))


# --- public API --------------------------------------------------------------------------------------------------


def root_card(
    envelope: Mapping[str, Any],
    *,
    locale: str,
    public_url: str,
    names: Names | None = None,
    timezone: str | None = None,
    viewer_ids: Sequence[str] = (),
    limit: int = ids.BOT_CARD_LIMIT,
) -> Card:
    """The compact card of the ticket as it stands after the event, with the technicians' actions."""
    ctx = _Context(envelope, translator(locale, timezone), names, public_url)
    ticket = ctx.ticket
    actions = ticket_actions(ticket, locale=ctx.tr.locale, public_url=public_url) if ticket else []
    refresh = refresh_spec(ctx.ticket_number, int(ticket.get("version") or 0), viewer_ids) if ticket else None

    def render(scale: float) -> Card:
        ctx.snippet = budget(NOTE_SNIPPET, scale)
        body: list[Element] = [_title_block(ctx), fact_set(_root_facts(ctx))]
        line = _line(ctx)
        if line:
            latest = translate_md(N_("Latest: {event}"), ctx.tr.locale, event=line)
            body.append(text_block(latest, size="Small", separator=True, color=_color(ctx)))
        return adaptive_card(body, actions, locale=ctx.tr.locale, fallback_text=_fallback_text(ctx), refresh=refresh)

    return fit(render, limit)


def reply_card(
    envelope: Mapping[str, Any],
    *,
    locale: str,
    public_url: str,
    names: Names | None = None,
    timezone: str | None = None,
) -> Card | None:
    """One line for the root's thread ("Tom assigned the ticket to Mia") as a small card, or None for events not
    worth one."""
    ctx = _Context(envelope, translator(locale, timezone), names, public_url)
    line = _line(ctx)
    if not line:
        return None
    return adaptive_card([text_block(line, color=_color(ctx))], locale=ctx.tr.locale, fallback_text=_plain_line(ctx))


def reply_text(
    envelope: Mapping[str, Any],
    *,
    locale: str,
    public_url: str,
    names: Names | None = None,
    timezone: str | None = None,
) -> str | None:
    """The same line as plain text (send with ``textFormat: "plain"``; mention tags are defused), or None."""
    ctx = _Context(envelope, translator(locale, timezone), names, public_url, md=False)
    return _line(ctx)


def webhook_message(
    envelope: Mapping[str, Any],
    *,
    locale: str,
    public_url: str,
    names: Names | None = None,
    timezone: str | None = None,
    limit: int = ids.WORKFLOWS_CARD_LIMIT,
) -> dict[str, Any]:
    """The Workflows webhook payload (``{"type": "message", "attachments": [card]}``): what happened and the compact
    card, "Open in PSA" as the only action; the whole payload stays within ``limit`` bytes."""
    ctx = _Context(envelope, translator(locale, timezone), names, public_url)

    def render(scale: float) -> Card:
        ctx.snippet = budget(NOTE_SNIPPET, scale)
        line = _line(ctx) or ctx.fill(N_("Ticket #{number} was updated."), number=ctx.ticket_number)
        body: list[Element] = [
            container([text_block(line, color=_color(ctx))], style=_style(ctx)),
            _title_block(ctx),
            fact_set(_root_facts(ctx)),
        ]
        actions = [open_url_action(ctx.tr.t("Open in PSA"), ctx.url)]
        return adaptive_card(body, actions, locale=ctx.tr.locale, fallback_text=_fallback_text(ctx))

    return workflows_payload(fit(render, limit, wrap=workflows_payload))


# --- the root card -----------------------------------------------------------------------------------------------


def _title_block(ctx: _Context) -> Element:
    ticket = ctx.ticket
    emoji = PRIORITY_EMOJI.get(str(ticket.get("priority")), "⚪")
    number = ticket.get("number", ctx.envelope["number"])
    title = escape(clip(str(ticket.get("title") or ""), 200))
    return text_block(f"{emoji} {bold(link(ctx.url, f'#{number}'))} {title}", size="Medium", weight="Bolder")


def _root_facts(ctx: _Context) -> list[tuple[str, str]]:
    tr, ticket = ctx.tr, ctx.ticket
    customer = str(ticket.get("customer_id") or "")
    facts = [
        (tr.t("Status"), escape(status_label(str(ticket.get("status")), tr.locale))),
        (tr.t("Priority"), priority_text(str(ticket.get("priority")), tr.locale)),
        (tr.t("Customer"), name_text(ctx.names.get(customer, customer), N_("unknown"), tr)),
        (tr.t("Assignee"), ctx.name(ticket.get("assignee_id"))),
    ]
    if ticket.get("asset_id"):
        asset = str(ticket["asset_id"])
        facts.append((tr.t("Asset"), name_text(ctx.names.get(asset, asset), N_("none"), tr)))
    for target in ("first_response", "resolution"):
        due = _parse_time(ticket.get(f"{target}_due"))
        if due is not None:
            label = tr.t("SLA {target}", target=sla_target_label(target, tr.locale))
            facts.append((label, " ".join(p for p in (escape(tr.dt(due)), _sla_flag(ctx, target)) if p)))
    if ticket.get("escalation_level"):
        facts.append((tr.t("Escalation"), escape(tr.t("level {level}", level=ticket["escalation_level"]))))
    return facts


def _sla_state(ctx: _Context, target: str) -> str | None:
    due, now = _parse_time(ctx.ticket.get(f"{target}_due")), _parse_time(ctx.envelope.get("occurred_at"))
    if due is not None and now is not None and due <= now:
        return "breached"
    if ctx.envelope.get("type") == ev.SlaWarningRaised.__name__ and ctx.data.get("target") == target:
        return "warning"
    return None


def _sla_flag(ctx: _Context, target: str) -> str:
    """The at-risk marker of one SLA target: breached once its due time has passed, at risk while a warning is the
    event shown (the summary carries due times, not percentages)."""
    state = _sla_state(ctx, target)
    if state is None:
        return ""
    emoji, label = SLA_MARKERS[state]
    return f"{emoji} {bold(escape(ctx.tr.t(label)))}"


def _color(ctx: _Context) -> str | None:
    return EVENT_COLOR.get(str(ctx.envelope.get("type")))


def _style(ctx: _Context) -> str | None:
    color = _color(ctx)
    return {"Warning": "warning", "Attention": "attention"}.get(color) if color else "emphasis"


def _fallback_text(ctx: _Context) -> str:
    title = f"#{ctx.ticket_number} {clip(str(ctx.ticket.get('title') or ''), 150)}"
    line = _plain_line(ctx)
    return f"{title}: {line}" if line else title


def _plain_line(ctx: _Context) -> str:
    plain_ctx = _Context(ctx.envelope, ctx.tr, ctx.names, ctx.url.rsplit("/tickets/", 1)[0], md=False)
    return _line(plain_ctx) or ""


# --- reply lines ------------------------------------------------------------------------------------------------


def _line(ctx: _Context) -> str | None:
    render = _LINES.get(str(ctx.envelope.get("type")))
    return render(ctx) if render else None


def _opened(ctx: _Context) -> str:
    return "🆕 " + ctx.fill(
        N_("{actor} opened the ticket ({priority}, via {source})."),
        actor=ctx.actor,
        priority=ctx.esc(priority_label(str(ctx.data.get("priority")), ctx.tr.locale)),
        source=ctx.esc(source_label(str(ctx.data.get("source")), ctx.tr.locale)),
    )


def _assigned(ctx: _Context) -> str:
    actor_id, assignee_id = str(ctx.envelope.get("actor") or ""), str(ctx.data.get("assignee_id") or "")
    assignee, previous = ctx.name(assignee_id), ctx.data.get("previous_assignee_id")
    if actor_id.partition(":")[2] == assignee_id:
        line = ctx.fill(N_("{assignee} took the ticket."), assignee=assignee)
    elif previous:
        line = ctx.fill(
            N_("{actor} reassigned the ticket from {previous} to {assignee}."),
            actor=ctx.actor,
            previous=ctx.name(str(previous)),
            assignee=assignee,
        )
    else:
        line = ctx.fill(N_("{actor} assigned the ticket to {assignee}."), actor=ctx.actor, assignee=assignee)
    return "👤 " + line


def _status_changed(ctx: _Context) -> str:
    locale = ctx.tr.locale
    line = ctx.fill(
        N_("Status: {old} → {new} ({actor})"),
        old=ctx.esc(status_label(str(ctx.data.get("from_status")), locale)),
        new=ctx.strong(ctx.esc(status_label(str(ctx.data.get("to_status")), locale))),
        actor=ctx.actor,
    )
    resolution = str(ctx.data.get("resolution") or "").strip()
    if resolution and (text := ctx.long_text(resolution)):
        line += " · " + ctx.fill(N_("Resolution: {resolution}"), resolution=text)
    return "🔄 " + line


def _note_added(ctx: _Context) -> str:
    author = ctx.name(str(ctx.data.get("author_id") or ctx.envelope.get("actor") or ""), fallback_msgid=N_("someone"))
    body = ctx.long_text(str(ctx.data.get("body") or "")) or (link(ctx.url, ctx.tr.t("view in PSA")) if ctx.md else "")
    if ctx.data.get("visibility") == "public":
        msgid, emoji = N_("{author} replied to the customer: {body}"), "💬"
    else:
        msgid, emoji = N_("{author} added an internal note: {body}"), "🔒"
    return f"{emoji} " + ctx.fill(msgid, author=author, body=body)


def _priority_changed(ctx: _Context) -> str:
    locale = ctx.tr.locale
    return "↕️ " + ctx.fill(
        N_("Priority: {old} → {new} ({actor})"),
        old=ctx.esc(priority_label(str(ctx.data.get("from_priority")), locale)),
        new=ctx.strong(ctx.esc(priority_label(str(ctx.data.get("to_priority")), locale))),
        actor=ctx.actor,
    )


def _sla_warning(ctx: _Context) -> str:
    line = ctx.fill(
        N_("SLA {target} at {percent} %"),
        target=ctx.esc(sla_target_label(str(ctx.data.get("target")), ctx.tr.locale)),
        percent=ctx.esc(str(ctx.data.get("threshold"))),
    )
    due = ctx.when(ctx.data.get("due_at"))
    suffix = " · " + ctx.fill(N_("due {due}"), due=due) if due else ""
    marker = ctx.esc(ctx.tr.t(SLA_MARKERS["warning"][1]))
    return f"⚠️ {ctx.strong(marker)}: {ctx.strong(line)}{suffix}"


def _sla_breached(ctx: _Context) -> str:
    line = ctx.fill(
        N_("SLA {target} breached"), target=ctx.esc(sla_target_label(str(ctx.data.get("target")), ctx.tr.locale))
    )
    due = ctx.when(ctx.data.get("due_at"))
    suffix = " · " + ctx.fill(N_("was due {due}"), due=due) if due else ""
    return f"🚨 {ctx.strong(line)}{suffix}"


def _escalated(ctx: _Context) -> str:
    data = ctx.data
    reason = str(data.get("reason") or "")
    reason_text = ctx.esc(ctx.tr.t(REASON_LABELS[reason]) if reason in REASON_LABELS else clip(reason, 200))
    line = ctx.fill(
        N_("Escalated to level {level}: {reason}"), level=ctx.esc(str(data.get("level"))), reason=reason_text
    )
    parts = [f"⏫ {ctx.strong(line)}"]
    if data.get("from_priority") != data.get("to_priority"):
        parts.append(
            ctx.fill(
                N_("priority {old} → {new}"),
                old=ctx.esc(priority_label(str(data.get("from_priority")), ctx.tr.locale)),
                new=ctx.esc(priority_label(str(data.get("to_priority")), ctx.tr.locale)),
            )
        )
    if data.get("notify_dispatchers"):
        parts.append(ctx.esc(ctx.tr.t("dispatchers paged")))
    return " · ".join(parts)


_LINES: Final[Mapping[str, Callable[[_Context], str]]] = {
    ev.TicketOpened.__name__: _opened,
    ev.TicketAssigned.__name__: _assigned,
    ev.TicketStatusChanged.__name__: _status_changed,
    ev.NoteAdded.__name__: _note_added,
    ev.TicketPriorityChanged.__name__: _priority_changed,
    ev.SlaWarningRaised.__name__: _sla_warning,
    ev.SlaBreached.__name__: _sla_breached,
    ev.TicketEscalated.__name__: _escalated,
}


def _parse_time(value: object) -> datetime | None:
    """An aware datetime from the envelope's ISO strings (None when absent, unparsable or naive)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else None
