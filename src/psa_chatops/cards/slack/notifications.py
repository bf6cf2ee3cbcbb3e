"""Channel notifications from outbox envelopes (``storage.outbox.envelope``): the root card and thread lines.

The first message about a ticket in a channel is its root: a compact card of the ticket as it stands after the
event (``envelope["ticket"]``), edited in place on every later event. Each event also gets one line in the root's
thread. Which events reach which channel (internal notes never reach customer-facing channels) is the notifier's
decision; this module renders whatever it is given.

Envelopes carry ids, not names ("technician:tom", "CUST-789"); pass ``names`` (id → display name) to show names.
An id without a name is shown without its kind prefix ("tom").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from psa_chatops.cards.slack import ids
from psa_chatops.cards.slack.messages import Block, Message, actions, context, fallback, fields_section, section
from psa_chatops.cards.slack.text import (
    bold,
    clip,
    clip_with_link,
    escape,
    link,
    slack_date,
    ticket_url,
    translate_mrkdwn,
    translator,
)
from psa_chatops.cards.slack.ticket import (
    PRIORITY_EMOJI,
    SLA_MARKERS,
    name_text,
    priority_label,
    priority_text,
    sla_target_label,
    source_label,
    status_label,
    ticket_actions,
)
from psa_chatops.core import events as ev
from psa_chatops.core.errors import N_
from psa_chatops.core.routing import CATEGORY_OF
from psa_chatops.i18n import Translator

__all__ = ["ROUTED_EVENT_TYPES", "root_message", "thread_line", "webhook_message"]

ROUTED_EVENT_TYPES: Final[frozenset[str]] = frozenset(cls.__name__ for cls in CATEGORY_OF)
NOTE_SNIPPET: Final = 300  # characters of a note in a thread line
SYSTEM_PREFIXES: Final = ("system:",)
REASON_LABELS: Final[Mapping[str, str]] = {
    "sla_breach": N_("SLA breached"),
    "critical_opened": N_("critical ticket opened"),
}

Names = Mapping[str, str]


class _Context:
    """What every line needs: the envelope, the reader's translator, names and the ticket's URL."""

    def __init__(self, envelope: Mapping[str, Any], tr: Translator, names: Names | None, public_url: str) -> None:
        self.envelope = envelope
        self.data: Mapping[str, Any] = envelope.get("data") or {}
        self.ticket: Mapping[str, Any] = envelope.get("ticket") or {}
        self.tr = tr
        self.names: Names = names or {}
        self.public_url = public_url
        self.ticket_number = int(envelope["number"])
        self.url = ticket_url(public_url, self.ticket_number)

    def name(self, key: str | None, *, fallback_msgid: str = N_("unassigned")) -> str:
        """Escaped display name of an id (``technician:tom``, ``tom``, ``system:sla``), or the fallback in italics."""
        if not key:
            return name_text(None, fallback_msgid, self.tr)
        if key.startswith(SYSTEM_PREFIXES) and key not in self.names:
            return escape(self.tr.t("PSA"))
        _, _, bare = key.partition(":")
        return name_text(self.names.get(key) or self.names.get(bare) or bare or key, fallback_msgid, self.tr)

    @property
    def actor(self) -> str:
        return self.name(str(self.envelope.get("actor") or ""), fallback_msgid=N_("someone"))

    def when(self, value: object) -> str:
        moment = _parse_time(value)
        return slack_date(moment, self.tr.locale, timezone=self.tr.timezone) if moment else ""


# --- public API --------------------------------------------------------------------------------------------------


def root_message(
    envelope: Mapping[str, Any],
    *,
    locale: str,
    public_url: str,
    names: Names | None = None,
    timezone: str | None = None,
) -> Message:
    """The compact card of the ticket as it stands after the event, with the card's buttons (for technicians)."""
    ctx = _Context(envelope, translator(locale, timezone), names, public_url)
    ticket = ctx.ticket
    blocks: list[Block] = [section(_title_line(ctx)), fields_section(_root_fields(ctx))]
    line = _line(ctx)
    if line:
        blocks.append(context(translate_mrkdwn(N_("Latest: {event}"), ctx.tr.locale, event=line)))
    elements = ticket_actions(ticket, locale=ctx.tr.locale, public_url=public_url)
    if elements:
        blocks.append(actions(elements, block_id=ids.action_value(int(ticket["number"]), int(ticket["version"]))))
    return Message(fallback(_fallback_text(ctx, line)), blocks)


def thread_line(
    envelope: Mapping[str, Any],
    *,
    locale: str,
    public_url: str,
    names: Names | None = None,
    timezone: str | None = None,
) -> Message | None:
    """One line for the root's thread ("Tom assigned the ticket to Mia"), or None for events not worth one."""
    ctx = _Context(envelope, translator(locale, timezone), names, public_url)
    line = _line(ctx)
    if not line:
        return None
    return Message(fallback(line), [section(line)])


def webhook_message(
    envelope: Mapping[str, Any],
    *,
    locale: str,
    public_url: str,
    names: Names | None = None,
    timezone: str | None = None,
) -> dict[str, Any]:
    """The incoming-webhook payload: what happened and the compact card, with a link instead of buttons."""
    ctx = _Context(envelope, translator(locale, timezone), names, public_url)
    line = _line(ctx) or translate_mrkdwn(N_("Ticket #{number} was updated."), ctx.tr.locale, number=ctx.ticket_number)
    blocks: list[Block] = [
        section(line),
        section(_title_line(ctx)),
        fields_section(_root_fields(ctx)),
        context(link(ctx.url, ctx.tr.t("Open in PSA"))),
    ]
    return Message(fallback(_fallback_text(ctx, line)), blocks).as_dict()


# --- the root card -----------------------------------------------------------------------------------------------


def _title_line(ctx: _Context) -> str:
    ticket = ctx.ticket
    emoji = PRIORITY_EMOJI.get(str(ticket.get("priority")), ":white_circle:")
    number = ticket.get("number", ctx.envelope["number"])
    return f"{emoji} {bold(link(ctx.url, f'#{number}'))} {escape(clip(str(ticket.get('title') or ''), 200))}"


def _root_fields(ctx: _Context) -> list[str]:
    tr, ticket = ctx.tr, ctx.ticket

    def field(label: str, value: str) -> str:
        return f"{bold(escape(label))}\n{value}"

    customer = str(ticket.get("customer_id") or "")
    fields = [
        field(tr.t("Status"), escape(status_label(str(ticket.get("status")), tr.locale))),
        field(tr.t("Priority"), priority_text(str(ticket.get("priority")), tr.locale)),
        field(tr.t("Customer"), name_text(ctx.names.get(customer, customer), N_("unknown"), tr)),
        field(tr.t("Assignee"), ctx.name(ticket.get("assignee_id"))),
    ]
    if ticket.get("asset_id"):
        asset = str(ticket["asset_id"])
        fields.append(field(tr.t("Asset"), name_text(ctx.names.get(asset, asset), N_("none"), tr)))
    for target in ("first_response", "resolution"):
        due = ctx.when(ticket.get(f"{target}_due"))
        if due:
            label = tr.t("SLA {target}", target=sla_target_label(target, tr.locale))
            fields.append(field(label, " ".join(p for p in (due, _sla_flag(ctx, target)) if p)))
    if ticket.get("escalation_level"):
        fields.append(field(tr.t("Escalation"), escape(tr.t("level {level}", level=ticket["escalation_level"]))))
    return fields


def _sla_flag(ctx: _Context, target: str) -> str:
    """The at-risk marker of one SLA target: breached once its due time has passed, at risk while a warning is
    the event being shown (the summary carries due times, not percentages)."""
    due, now = _parse_time(ctx.ticket.get(f"{target}_due")), _parse_time(ctx.envelope.get("occurred_at"))
    if due is not None and now is not None and due <= now:
        state = "breached"
    elif ctx.envelope.get("type") == "SlaWarningRaised" and ctx.data.get("target") == target:
        state = "warning"
    else:
        return ""
    emoji, label = SLA_MARKERS[state]
    return f"{emoji} {bold(escape(ctx.tr.t(label)))}"


def _fallback_text(ctx: _Context, line: str | None) -> str:
    title = f"#{ctx.ticket_number} {escape(clip(str(ctx.ticket.get('title') or ''), 150))}"
    return f"{title}: {line}" if line else title


# --- thread lines ------------------------------------------------------------------------------------------------


def _line(ctx: _Context) -> str | None:
    render = _LINES.get(str(ctx.envelope.get("type")))
    return render(ctx) if render else None


def _opened(ctx: _Context) -> str:
    return ":new: " + translate_mrkdwn(
        N_("{actor} opened the ticket ({priority}, via {source})."),
        ctx.tr.locale,
        actor=ctx.actor,
        priority=escape(priority_label(str(ctx.data.get("priority")), ctx.tr.locale)),
        source=escape(source_label(str(ctx.data.get("source")), ctx.tr.locale)),
    )


def _assigned(ctx: _Context) -> str:
    actor_id, assignee_id = str(ctx.envelope.get("actor") or ""), str(ctx.data.get("assignee_id") or "")
    assignee, previous = ctx.name(assignee_id), ctx.data.get("previous_assignee_id")
    if actor_id.partition(":")[2] == assignee_id:
        line = translate_mrkdwn(N_("{assignee} took the ticket."), ctx.tr.locale, assignee=assignee)
    elif previous:
        line = translate_mrkdwn(
            N_("{actor} reassigned the ticket from {previous} to {assignee}."),
            ctx.tr.locale,
            actor=ctx.actor,
            previous=ctx.name(str(previous)),
            assignee=assignee,
        )
    else:
        line = translate_mrkdwn(
            N_("{actor} assigned the ticket to {assignee}."), ctx.tr.locale, actor=ctx.actor, assignee=assignee
        )
    return ":bust_in_silhouette: " + line


def _status_changed(ctx: _Context) -> str:
    locale = ctx.tr.locale
    line = translate_mrkdwn(
        N_("Status: {old} → {new} ({actor})"),
        locale,
        old=escape(status_label(str(ctx.data.get("from_status")), locale)),
        new=bold(escape(status_label(str(ctx.data.get("to_status")), locale))),
        actor=ctx.actor,
    )
    resolution = str(ctx.data.get("resolution") or "").strip()
    if resolution:
        text = clip_with_link(" ".join(resolution.split()), NOTE_SNIPPET, ctx.url, locale)
        line += " · " + translate_mrkdwn(N_("Resolution: {resolution}"), locale, resolution=text)
    return ":arrows_counterclockwise: " + line


def _note_added(ctx: _Context) -> str:
    author = ctx.name(str(ctx.data.get("author_id") or ctx.envelope.get("actor") or ""), fallback_msgid=N_("someone"))
    body = clip_with_link(" ".join(str(ctx.data.get("body") or "").split()), NOTE_SNIPPET, ctx.url, ctx.tr.locale)
    if ctx.data.get("visibility") == "public":
        msgid, emoji = N_("{author} replied to the customer: {body}"), ":speech_balloon:"
    else:
        msgid, emoji = N_("{author} added an internal note: {body}"), ":lock:"
    return f"{emoji} " + translate_mrkdwn(msgid, ctx.tr.locale, author=author, body=body)


def _priority_changed(ctx: _Context) -> str:
    locale = ctx.tr.locale
    return ":arrow_up_down: " + translate_mrkdwn(
        N_("Priority: {old} → {new} ({actor})"),
        locale,
        old=escape(priority_label(str(ctx.data.get("from_priority")), locale)),
        new=bold(escape(priority_label(str(ctx.data.get("to_priority")), locale))),
        actor=ctx.actor,
    )


def _sla_warning(ctx: _Context) -> str:
    locale = ctx.tr.locale
    line = translate_mrkdwn(
        N_("SLA {target} at {percent} %"),
        locale,
        target=escape(sla_target_label(str(ctx.data.get("target")), locale)),
        percent=escape(str(ctx.data.get("threshold"))),
    )
    due = ctx.when(ctx.data.get("due_at"))
    suffix = " · " + translate_mrkdwn(N_("due {due}"), locale, due=due) if due else ""
    return f":warning: {bold(line)}{suffix}"


def _sla_breached(ctx: _Context) -> str:
    locale = ctx.tr.locale
    line = translate_mrkdwn(
        N_("SLA {target} breached"), locale, target=escape(sla_target_label(str(ctx.data.get("target")), locale))
    )
    due = ctx.when(ctx.data.get("due_at"))
    suffix = " · " + translate_mrkdwn(N_("was due {due}"), locale, due=due) if due else ""
    return f":rotating_light: {bold(line)}{suffix}"


def _escalated(ctx: _Context) -> str:
    locale, data = ctx.tr.locale, ctx.data
    reason = str(data.get("reason") or "")
    reason_text = escape(ctx.tr.t(REASON_LABELS[reason]) if reason in REASON_LABELS else clip(reason, 200))
    line = translate_mrkdwn(
        N_("Escalated to level {level}: {reason}"), locale, level=escape(str(data.get("level"))), reason=reason_text
    )
    parts = [f":arrow_double_up: {bold(line)}"]
    if data.get("from_priority") != data.get("to_priority"):
        parts.append(
            translate_mrkdwn(
                N_("priority {old} → {new}"),
                locale,
                old=escape(priority_label(str(data.get("from_priority")), locale)),
                new=escape(priority_label(str(data.get("to_priority")), locale)),
            )
        )
    if data.get("notify_dispatchers"):
        parts.append(escape(ctx.tr.t("dispatchers paged")))
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
