"""Channel notifications from outbox envelopes (``storage.outbox.envelope``): the root card and thread lines.

The first message about a ticket in a channel is its root: a compact card of the ticket as it stands after the
event (``envelope["ticket"]``), edited in place on every later event. Each event also gets one line in the root's
thread. Which events reach which channel (internal notes never reach customer-facing channels) is the notifier's
decision; this module renders whatever it is given.

Envelopes carry ids, not names ("technician:tom", "CUST-789"); pass ``names`` (id → display name) to show names.
An id without a name is shown without its kind prefix ("tom").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from psa_chatops.cards import alert_facts, wording
from psa_chatops.cards.slack import ids
from psa_chatops.cards.slack.alert import alert_card, alert_summary
from psa_chatops.cards.slack.messages import Block, Message, actions, context, fallback, fields_section, section
from psa_chatops.cards.slack.text import (
    bold,
    clip,
    clip_with_link,
    escape,
    link,
    slack_date,
    translate_mrkdwn,
    translator,
)
from psa_chatops.cards.slack.ticket import (
    PRIORITY_EMOJI,
    SLA_MARKERS,
    priority_text,
    ticket_actions,
)
from psa_chatops.cards.wording import ROUTED_EVENT_TYPES, Names
from psa_chatops.core.errors import N_
from psa_chatops.i18n import Translator

__all__ = ["ROUTED_EVENT_TYPES", "root_message", "thread_line", "webhook_message"]

_MARKUP: Final = wording.Markup(
    escape=escape,
    bold=bold,
    italic=lambda text: f"_{text}_",
    link=link,
    fill=translate_mrkdwn,
    date=lambda moment, tr: slack_date(moment, tr.locale, timezone=tr.timezone),
    snippet=clip_with_link,
    glyphs={
        "opened": ":new:",
        "assigned": ":bust_in_silhouette:",
        "status": ":arrows_counterclockwise:",
        "public_note": ":speech_balloon:",
        "internal_note": ":lock:",
        "priority": ":arrow_up_down:",
        "sla_warning": ":warning:",
        "sla_breached": ":rotating_light:",
        "escalated": ":arrow_double_up:",
        "appointment": ":calendar:",
        "appointment_cancelled": ":x:",
        "alert": ":shield:",
        "alert_acknowledged": ":eyes:",
        "alert_classified": ":white_check_mark:",
        "alert_escalated": ":sos:",
        "alert_isolated": ":no_entry:",
    },
    sla_emoji={state: emoji for state, (emoji, _) in SLA_MARKERS.items()},
)


class _Context(wording.LineContext):
    """A line context that writes Slack mrkdwn."""

    def __init__(self, envelope: Mapping[str, Any], tr: Translator, names: Names | None, public_url: str) -> None:
        super().__init__(envelope, tr, names, public_url, _MARKUP)


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
    if wording.is_alert_event(envelope):
        return _alert_root(ctx, buttons=True)
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
    if wording.is_alert_event(envelope):
        return _alert_root(ctx, buttons=False).as_dict()
    line = _line(ctx) or translate_mrkdwn(N_("Ticket #{number} was updated."), ctx.tr.locale, number=ctx.ticket_number)
    blocks: list[Block] = [
        section(line),
        section(_title_line(ctx)),
        fields_section(_root_fields(ctx)),
        context(link(ctx.url, ctx.tr.t("Open in PSA"))),
    ]
    return Message(fallback(_fallback_text(ctx, line)), blocks).as_dict()


# --- the root card -----------------------------------------------------------------------------------------------


def _alert_root(ctx: _Context, *, buttons: bool) -> Message:
    """An alert event's card: the alert as it stands, what just happened, and (bot mode) a technician's buttons.
    Without a ticket (``notify_only``) it stands alone; the notifier posts it without a thread."""
    view = alert_facts.view_from_envelope(ctx.envelope)
    customer = view.customer_id and (ctx.names.get(view.customer_id) or view.customer_id)
    view = replace(view, customer_name=customer or None, actions=view.actions if buttons else ())
    card = alert_card(view, locale=ctx.tr.locale, public_url=ctx.public_url, timezone=ctx.tr.timezone)
    line = _line(ctx)
    blocks = list(card.blocks)
    if line:
        blocks.insert(len(blocks) - 1, context(translate_mrkdwn(N_("Latest: {event}"), ctx.tr.locale, event=line)))
    if view.ticket_number is not None:
        text = f"#{view.ticket_number} {escape(clip(view.title, 150))}"
    else:
        text = alert_summary(view, locale=ctx.tr.locale)
    return Message(fallback(f"{text}: {line}" if line else text), blocks)


def _title_line(ctx: _Context) -> str:
    ticket = ctx.ticket
    emoji = PRIORITY_EMOJI.get(str(ticket.get("priority")), ":white_circle:")
    number = ticket.get("number", ctx.envelope["number"])
    return f"{emoji} {bold(link(ctx.url, f'#{number}'))} {escape(clip(str(ticket.get('title') or ''), 200))}"


def _root_fields(ctx: _Context) -> list[str]:
    return [f"{bold(escape(label))}\n{value}" for label, value in wording.root_facts(ctx, priority_text, ctx.when)]


def _fallback_text(ctx: _Context, line: str | None) -> str:
    title = f"#{ctx.ticket_number} {escape(clip(str(ctx.ticket.get('title') or ''), 150))}"
    return f"{title}: {line}" if line else title


# --- thread lines ------------------------------------------------------------------------------------------------


def _line(ctx: _Context) -> str | None:
    return wording.event_line(ctx)
