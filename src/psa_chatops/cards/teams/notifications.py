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

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from psa_chatops.cards import alert_facts, wording
from psa_chatops.cards.teams import ids
from psa_chatops.cards.teams.alert import alert_card
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
    translate_md,
    translator,
)
from psa_chatops.cards.teams.ticket import PRIORITY_EMOJI, SLA_MARKERS, priority_text, refresh_spec, ticket_actions
from psa_chatops.cards.wording import ROUTED_EVENT_TYPES, Names
from psa_chatops.core import events as ev
from psa_chatops.core.errors import N_
from psa_chatops.i18n import Translator

__all__ = [
    "ROUTED_EVENT_TYPES",
    "reply_card",
    "reply_text",
    "root_card",
    "webhook_message",
]

EVENT_COLOR: Final[Mapping[str, str]] = {
    ev.SlaWarningRaised.__name__: "Warning",
    ev.SlaBreached.__name__: "Attention",
    ev.TicketEscalated.__name__: "Attention",
}
_GLYPHS: Final[Mapping[str, str]] = {
    "opened": "🆕",
    "assigned": "👤",
    "status": "🔄",
    "public_note": "💬",
    "internal_note": "🔒",
    "priority": "↕️",
    "sla_warning": "⚠️",
    "sla_breached": "🚨",
    "escalated": "⏫",
    "appointment": "📅",
    "appointment_cancelled": "❌",
    "alert": "🛡️",
    "alert_acknowledged": "👀",
    "alert_classified": "✅",
    "alert_escalated": "🆘",
    "alert_isolated": "⛔",
}
_SLA_EMOJI: Final[Mapping[str, str]] = {state: emoji for state, (emoji, _) in SLA_MARKERS.items()}


def _md_snippet(flat: str, limit: int, url: str, locale: str) -> str:
    return clip_with_link(flat, limit, url, locale) if limit else ""


def _plain_fill(msgid: str, locale: str, /, **params: object) -> str:
    return translator(locale).t(msgid, **params)


# Card text: escaped markdown, dates as card functions, "view in PSA" when a note's text had no room.
_MD: Final = wording.Markup(
    escape=escape,
    bold=bold,
    italic=lambda text: f"_{text}_",
    link=link,
    fill=translate_md,
    date=lambda moment, _tr: teams_date(moment),
    snippet=_md_snippet,
    glyphs=_GLYPHS,
    sla_emoji=_SLA_EMOJI,
    mark_sla_warning=True,
    link_empty_note=True,
)
# Plain text (``textFormat: "plain"``, ``fallbackText``): mention tags defused, dates in the reader's zone.
_PLAIN: Final = wording.Markup(
    escape=plain,
    bold=lambda text: text,
    italic=lambda text: text,
    link=lambda url, label: plain(label),
    fill=_plain_fill,
    date=lambda moment, tr: tr.dt(moment),
    snippet=lambda flat, limit, _url, _locale: plain(clip(flat, max(limit, 1))),
    glyphs=_GLYPHS,
    sla_emoji=_SLA_EMOJI,
    mark_sla_warning=True,
)


class _Context(wording.LineContext):
    """A line context for card markdown (``md``) or plain text."""

    def __init__(
        self, envelope: Mapping[str, Any], tr: Translator, names: Names | None, public_url: str, *, md: bool = True
    ) -> None:
        super().__init__(envelope, tr, names, public_url, _MD if md else _PLAIN)
        self.md = md


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
    if wording.is_alert_event(envelope):
        return _alert_root(ctx, buttons=True, limit=limit)
    ticket = ctx.ticket
    actions = ticket_actions(ticket, locale=ctx.tr.locale, public_url=public_url) if ticket else []
    refresh = refresh_spec(ctx.ticket_number, int(ticket.get("version") or 0), viewer_ids) if ticket else None

    def render(scale: float) -> Card:
        ctx.snippet = budget(wording.NOTE_SNIPPET, scale)
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
    if wording.is_alert_event(envelope):
        return workflows_payload(_alert_root(ctx, buttons=False, limit=limit - 200))

    def render(scale: float) -> Card:
        ctx.snippet = budget(wording.NOTE_SNIPPET, scale)
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


def _alert_root(ctx: _Context, *, buttons: bool, limit: int) -> Card:
    """An alert event's card: the alert as it stands, what just happened, and (bot mode) a technician's actions.
    Without a ticket (``notify_only``) it stands alone; the notifier posts it as a new conversation message."""
    view = alert_facts.view_from_envelope(ctx.envelope)
    customer = view.customer_id and (ctx.names.get(view.customer_id) or view.customer_id)
    view = replace(view, customer_name=customer or None, actions=view.actions if buttons else ())
    card = alert_card(
        view, locale=ctx.tr.locale, public_url=ctx.public_url, timezone=ctx.tr.timezone, limit=limit - 2_048
    )
    line = _line(ctx)
    if line:
        latest = translate_md(N_("Latest: {event}"), ctx.tr.locale, event=line)
        card["body"].insert(len(card["body"]) - 1, text_block(latest, size="Small", separator=True))
        card["fallbackText"] = plain(f"{card['fallbackText']}: {_plain_line(ctx)}", 500)
    if not buttons:
        url = ctx.url if view.ticket_number is not None else ctx.public_url
        card["actions"] = [open_url_action(ctx.tr.t("Open in PSA"), url)]
    return card


def _title_block(ctx: _Context) -> Element:
    ticket = ctx.ticket
    emoji = PRIORITY_EMOJI.get(str(ticket.get("priority")), "⚪")
    number = ticket.get("number", ctx.envelope["number"])
    title = escape(clip(str(ticket.get("title") or ""), 200))
    return text_block(f"{emoji} {bold(link(ctx.url, f'#{number}'))} {title}", size="Medium", weight="Bolder")


def _root_facts(ctx: _Context) -> list[tuple[str, str]]:
    return wording.root_facts(ctx, priority_text, lambda due: escape(ctx.tr.dt(due)))


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
    return wording.event_line(ctx)
