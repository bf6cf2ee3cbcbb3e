"""What each event says in a channel ("Tom assigned the ticket to Mia"): the templates, their parameters and the
SLA marker choice, once for every channel. A channel supplies only its :class:`Markup` (escaping, bold, links,
dates, glyphs), so the Slack thread line and the Teams reply stay the same sentence (one catalog entry each)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from psa_chatops.cards import alert_facts
from psa_chatops.cards.labels import SLA_STATE_LABELS, priority_label, sla_target_label, source_label, status_label
from psa_chatops.cards.links import ticket_url
from psa_chatops.cards.texts import clip, translator
from psa_chatops.core import events as ev
from psa_chatops.core.errors import N_
from psa_chatops.core.routing import CATEGORY_OF
from psa_chatops.i18n import Translator

__all__ = [
    "ALERT_EVENT_TYPES",
    "NAME",
    "NOTE_SNIPPET",
    "REASON_LABELS",
    "ROUTED_EVENT_TYPES",
    "LineContext",
    "Markup",
    "Names",
    "event_line",
    "is_alert_event",
    "name_text",
    "parse_time",
    "root_facts",
    "sla_marker",
    "sla_state",
]

ROUTED_EVENT_TYPES: Final[frozenset[str]] = frozenset(cls.__name__ for cls in CATEGORY_OF)
NOTE_SNIPPET: Final = 300  # characters of a note in a thread line
NAME: Final = 200  # characters of a name before it is cut
SYSTEM_PREFIXES: Final = ("system:",)
REASON_LABELS: Final[Mapping[str, str]] = {
    "sla_breach": N_("SLA breached"),
    "critical_opened": N_("critical ticket opened"),
}

Names = Mapping[str, str]


@dataclass(frozen=True)
class Markup:
    """How one channel writes a line. ``escape`` makes raw text inert, ``bold``/``italic`` wrap escaped text,
    ``fill(msgid, locale, **params)`` translates and escapes a template around markup parameters, ``date`` shows a
    moment, ``snippet(flat, limit, url, locale)`` clips a long text (with a link to the rest), ``glyphs`` are the
    emoji per line kind and ``sla_emoji`` per SLA state. ``mark_sla_warning`` puts "at risk" before a warning;
    ``link_empty_note`` shows "view in PSA" for a note whose text had no room."""

    escape: Callable[[str], str]
    bold: Callable[[str], str]
    italic: Callable[[str], str]
    link: Callable[[str, str], str]
    fill: Callable[..., str]
    date: Callable[[datetime, Translator], str]
    snippet: Callable[[str, int, str, str], str]
    glyphs: Mapping[str, str]
    sla_emoji: Mapping[str, str]
    mark_sla_warning: bool = False
    link_empty_note: bool = False


class LineContext:
    """What every line needs: the envelope, the reader's translator, names, the ticket's URL and the markup."""

    def __init__(
        self,
        envelope: Mapping[str, Any],
        tr: Translator,
        names: Names | None,
        public_url: str,
        markup: Markup,
    ) -> None:
        self.envelope = envelope
        self.data: Mapping[str, Any] = envelope.get("data") or {}
        self.ticket: Mapping[str, Any] = envelope.get("ticket") or {}
        self.tr = tr
        self.names: Names = names or {}
        self.public_url = public_url
        self.markup = markup
        number = envelope.get("number")
        self.ticket_number = number if isinstance(number, int) else 0  # 0: an alert without a ticket (notify_only)
        self.url = ticket_url(public_url, self.ticket_number)
        self.snippet = NOTE_SNIPPET

    def esc(self, raw: str) -> str:
        return self.markup.escape(raw)

    def strong(self, text: str) -> str:
        return self.markup.bold(text)

    def fill(self, msgid: str, **params: object) -> str:
        return self.markup.fill(msgid, self.tr.locale, **params)

    def name_text(self, raw: str | None, fallback_msgid: str) -> str:
        return name_text(raw, fallback_msgid, self.tr, self.markup.escape, self.markup.italic)

    def name(self, key: str | None, *, fallback_msgid: str = N_("unassigned")) -> str:
        """Escaped display name of an id (``technician:tom``, ``tom``, ``system:sla``), or the fallback."""
        if not key:
            return self.name_text(None, fallback_msgid)
        if key.startswith(SYSTEM_PREFIXES) and key not in self.names:
            return self.esc(self.tr.t("PSA"))
        _, _, bare = key.partition(":")
        return self.name_text(self.names.get(key) or self.names.get(bare) or bare or key, fallback_msgid)

    @property
    def actor(self) -> str:
        return self.name(str(self.envelope.get("actor") or ""), fallback_msgid=N_("someone"))

    def when(self, value: object) -> str:
        moment = parse_time(value)
        return self.markup.date(moment, self.tr) if moment else ""

    def long_text(self, raw: str) -> str:
        return self.markup.snippet(" ".join(raw.split()), self.snippet, self.url, self.tr.locale)

    def sla_flag(self, target: str) -> str:
        """The at-risk marker of one SLA target (see :func:`sla_state`), empty while it simply runs."""
        state = sla_state(self.envelope, target)
        if state is None:
            return ""
        return f"{self.markup.sla_emoji[state]} {self.markup.bold(self.esc(self.tr.t(_STATE_LABELS[state])))}"


_STATE_LABELS: Final[Mapping[str, str]] = {"warning": N_("at risk"), "breached": N_("breached")}


def name_text(
    raw: str | None, fallback_msgid: str, tr: Translator, escape: Callable[[str], str], italic: Callable[[str], str]
) -> str:
    """An escaped, clipped name, or the translated fallback ("unassigned") in italics."""
    if raw:
        return escape(clip(raw, NAME))
    return italic(escape(tr.t(fallback_msgid)))


def sla_marker(
    state: str, locale: str, emoji: Mapping[str, str], escape: Callable[[str], str], bold: Callable[[str], str]
) -> str:
    """The marker of an SLA state ("⚠️ **at risk**", bold while at risk or breached); empty while it simply runs."""
    if state not in emoji or state not in SLA_STATE_LABELS:
        return ""
    text = escape(translator(locale).t(SLA_STATE_LABELS[state]))
    return f"{emoji[state]} {bold(text) if state in ('warning', 'breached') else text}"


def sla_state(envelope: Mapping[str, Any], target: str) -> str | None:
    """Breached once the target's due time has passed, at risk while a warning about it is the event being shown
    (the summary carries due times, not percentages); None otherwise."""
    ticket: Mapping[str, Any] = envelope.get("ticket") or {}
    data: Mapping[str, Any] = envelope.get("data") or {}
    due, now = parse_time(ticket.get(f"{target}_due")), parse_time(envelope.get("occurred_at"))
    if due is not None and now is not None and due <= now:
        return "breached"
    if envelope.get("type") == ev.SlaWarningRaised.__name__ and data.get("target") == target:
        return "warning"
    return None


def parse_time(value: object) -> datetime | None:
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


def event_line(ctx: LineContext) -> str | None:
    """The line for the envelope's event, or None for events not worth one."""
    render = _LINES.get(str(ctx.envelope.get("type")))
    return render(ctx) if render else None


def _glyph(ctx: LineContext, kind: str, line: str) -> str:
    return f"{ctx.markup.glyphs[kind]} {line}"


def _opened(ctx: LineContext) -> str:
    return _glyph(
        ctx,
        "opened",
        ctx.fill(
            N_("{actor} opened the ticket ({priority}, via {source})."),
            actor=ctx.actor,
            priority=ctx.esc(priority_label(str(ctx.data.get("priority")), ctx.tr.locale)),
            source=ctx.esc(source_label(str(ctx.data.get("source")), ctx.tr.locale)),
        ),
    )


def _assigned(ctx: LineContext) -> str:
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
    return _glyph(ctx, "assigned", line)


def _status_changed(ctx: LineContext) -> str:
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
    return _glyph(ctx, "status", line)


def _note_added(ctx: LineContext) -> str:
    author = ctx.name(str(ctx.data.get("author_id") or ctx.envelope.get("actor") or ""), fallback_msgid=N_("someone"))
    body = ctx.long_text(str(ctx.data.get("body") or ""))
    if not body and ctx.markup.link_empty_note:
        body = ctx.markup.link(ctx.url, ctx.tr.t("view in PSA"))
    if ctx.data.get("visibility") == "public":
        msgid, kind = N_("{author} replied to the customer: {body}"), "public_note"
    else:
        msgid, kind = N_("{author} added an internal note: {body}"), "internal_note"
    return _glyph(ctx, kind, ctx.fill(msgid, author=author, body=body))


def _priority_changed(ctx: LineContext) -> str:
    locale = ctx.tr.locale
    line = ctx.fill(
        N_("Priority: {old} → {new} ({actor})"),
        old=ctx.esc(priority_label(str(ctx.data.get("from_priority")), locale)),
        new=ctx.strong(ctx.esc(priority_label(str(ctx.data.get("to_priority")), locale))),
        actor=ctx.actor,
    )
    return _glyph(ctx, "priority", line)


def _sla_warning(ctx: LineContext) -> str:
    line = ctx.fill(
        N_("SLA {target} at {percent} %"),
        target=ctx.esc(sla_target_label(str(ctx.data.get("target")), ctx.tr.locale)),
        percent=ctx.esc(str(ctx.data.get("threshold"))),
    )
    due = ctx.when(ctx.data.get("due_at"))
    suffix = " · " + ctx.fill(N_("due {due}"), due=due) if due else ""
    marker = f"{ctx.strong(ctx.esc(ctx.tr.t(_STATE_LABELS['warning'])))}: " if ctx.markup.mark_sla_warning else ""
    return _glyph(ctx, "sla_warning", f"{marker}{ctx.strong(line)}{suffix}")


def _sla_breached(ctx: LineContext) -> str:
    line = ctx.fill(
        N_("SLA {target} breached"), target=ctx.esc(sla_target_label(str(ctx.data.get("target")), ctx.tr.locale))
    )
    due = ctx.when(ctx.data.get("due_at"))
    suffix = " · " + ctx.fill(N_("was due {due}"), due=due) if due else ""
    return _glyph(ctx, "sla_breached", f"{ctx.strong(line)}{suffix}")


def _escalated(ctx: LineContext) -> str:
    data = ctx.data
    reason = str(data.get("reason") or "")
    reason_text = ctx.esc(ctx.tr.t(REASON_LABELS[reason]) if reason in REASON_LABELS else clip(reason, 200))
    line = ctx.fill(
        N_("Escalated to level {level}: {reason}"), level=ctx.esc(str(data.get("level"))), reason=reason_text
    )
    parts = [_glyph(ctx, "escalated", ctx.strong(line))]
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


def _visit(ctx: LineContext) -> tuple[str, str, str]:
    """Technician, start and address of an appointment event, ready for a line."""
    technician = ctx.name(str(ctx.data.get("technician_id") or ""), fallback_msgid=N_("someone"))
    return technician, ctx.when(ctx.data.get("starts_at")), ctx.long_text(str(ctx.data.get("location") or ""))


def _appointment_scheduled(ctx: LineContext) -> str:
    technician, start, location = _visit(ctx)
    line = ctx.fill(
        N_("{actor} booked {technician} on site for {start}: {location}"),
        actor=ctx.actor,
        technician=technician,
        start=start,
        location=location,
    )
    return _glyph(ctx, "appointment", line)


def _appointment_rescheduled(ctx: LineContext) -> str:
    technician, start, location = _visit(ctx)
    line = ctx.fill(
        N_("{actor} moved the on-site appointment: {technician}, {start}: {location}"),
        actor=ctx.actor,
        technician=technician,
        start=start,
        location=location,
    )
    return _glyph(ctx, "appointment", line)


def _appointment_cancelled(ctx: LineContext) -> str:
    line = ctx.fill(N_("{actor} cancelled the on-site appointment."), actor=ctx.actor)
    reason = str(ctx.data.get("reason") or "").strip()
    if reason and (text := ctx.long_text(reason)):
        line += " · " + ctx.fill(N_("Reason: {reason}"), reason=text)
    return _glyph(ctx, "appointment_cancelled", line)


def _alert(ctx: LineContext) -> Mapping[str, Any]:
    """The alert the event is about: the record the envelope carries, else the event's link."""
    link: Mapping[str, Any] = ctx.data.get("alert") or {}
    return {**link, **{k: v for k, v in (ctx.envelope.get("alert") or {}).items() if v is not None}}


def _alert_subject(ctx: LineContext) -> Mapping[str, str]:
    alert = _alert(ctx)
    asset = str(alert.get("affected_asset") or "").strip()
    return {
        "severity": ctx.strong(ctx.esc(alert_facts.severity_label(str(alert.get("severity")), ctx.tr.locale))),
        "provider": ctx.esc(alert_facts.provider_name(str(alert.get("provider") or ""))),
        "threat": ctx.esc(clip(str(alert.get("threat_type") or alert.get("title") or ""), NAME)),
        "asset": ctx.esc(clip(asset, NAME)) if asset else ctx.name_text(None, N_("unknown")),
    }


def _alert_received(ctx: LineContext) -> str:
    if ctx.data.get("correlated"):
        msgid = N_("Another {severity} alert from {provider} joined the ticket: {threat} on {asset}")
    else:
        msgid = N_("{severity} alert from {provider}: {threat} on {asset}")
    return _glyph(ctx, "alert", ctx.fill(msgid, **_alert_subject(ctx)))


def _alert_acknowledged(ctx: LineContext) -> str:
    return _glyph(ctx, "alert_acknowledged", ctx.fill(N_("{actor} acknowledged the alert."), actor=ctx.actor))


def _alert_classified(ctx: LineContext) -> str:
    label = alert_facts.classification_label(str(ctx.data.get("classification")), ctx.tr.locale)
    line = ctx.fill(
        N_("{actor} classified the alert as {classification}."),
        actor=ctx.actor,
        classification=ctx.strong(ctx.esc(label)),
    )
    return _glyph(ctx, "alert_classified", line)


def _alert_escalated(ctx: LineContext) -> str:
    line = ctx.fill(N_("{actor} escalated the alert to the SOC."), actor=ctx.actor)
    reason = str(ctx.data.get("reason") or "").strip()
    if reason and (text := ctx.long_text(reason)):
        line += " · " + ctx.fill(N_("Reason: {reason}"), reason=text)
    return _glyph(ctx, "alert_escalated", line)


def _alert_isolation(ctx: LineContext) -> str:
    subject = _alert_subject(ctx)
    line = ctx.fill(
        N_("{actor} asked {provider} to isolate {asset}."),
        actor=ctx.actor,
        provider=subject["provider"],
        asset=subject["asset"],
    )
    return _glyph(ctx, "alert_isolated", line)


ALERT_EVENT_TYPES: Final[frozenset[str]] = frozenset(
    cls.__name__
    for cls in (
        ev.AlertReceived,
        ev.AlertAcknowledged,
        ev.AlertClassified,
        ev.AlertEscalated,
        ev.AlertIsolationRequested,
    )
)


def is_alert_event(envelope: Mapping[str, Any]) -> bool:
    """An alert event: its channel card is the alert card (``cards.*.alert``), not the ticket's."""
    return str(envelope.get("type")) in ALERT_EVENT_TYPES


_LINES: Final[Mapping[str, Callable[[LineContext], str]]] = {
    ev.TicketOpened.__name__: _opened,
    ev.TicketAssigned.__name__: _assigned,
    ev.TicketStatusChanged.__name__: _status_changed,
    ev.NoteAdded.__name__: _note_added,
    ev.TicketPriorityChanged.__name__: _priority_changed,
    ev.SlaWarningRaised.__name__: _sla_warning,
    ev.SlaBreached.__name__: _sla_breached,
    ev.TicketEscalated.__name__: _escalated,
    ev.AppointmentScheduled.__name__: _appointment_scheduled,
    ev.AppointmentRescheduled.__name__: _appointment_rescheduled,
    ev.AppointmentCancelled.__name__: _appointment_cancelled,
    ev.AlertReceived.__name__: _alert_received,
    ev.AlertAcknowledged.__name__: _alert_acknowledged,
    ev.AlertClassified.__name__: _alert_classified,
    ev.AlertEscalated.__name__: _alert_escalated,
    ev.AlertIsolationRequested.__name__: _alert_isolation,
}


def root_facts(
    ctx: LineContext, priority_text: Callable[[str, str], str], due_text: Callable[[datetime], str]
) -> list[tuple[str, str]]:
    """The root card's facts as (raw label, markup value): the same facts in every channel; the channel gives
    its priority dot and how a due time shows (a viewer-local date where the field supports one)."""
    tr, ticket = ctx.tr, ctx.ticket
    customer = str(ticket.get("customer_id") or "")
    facts = [
        (tr.t("Status"), ctx.esc(status_label(str(ticket.get("status")), tr.locale))),
        (tr.t("Priority"), priority_text(str(ticket.get("priority")), tr.locale)),
        (tr.t("Customer"), ctx.name_text(ctx.names.get(customer, customer), N_("unknown"))),
        (tr.t("Assignee"), ctx.name(ticket.get("assignee_id"))),
    ]
    if ticket.get("asset_id"):
        asset = str(ticket["asset_id"])
        facts.append((tr.t("Asset"), ctx.name_text(ctx.names.get(asset, asset), N_("none"))))
    for target in ("first_response", "resolution"):
        due = parse_time(ticket.get(f"{target}_due"))
        if due is not None:
            label = tr.t("SLA {target}", target=sla_target_label(target, tr.locale))
            facts.append((label, " ".join(p for p in (due_text(due), ctx.sla_flag(target)) if p)))
    if ticket.get("escalation_level"):
        facts.append((tr.t("Escalation"), ctx.esc(tr.t("level {level}", level=ticket["escalation_level"]))))
    return facts
