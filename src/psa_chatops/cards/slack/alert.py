"""The security alert card in Block Kit (``/psa alert``, alert notifications, the result of its buttons).

Severity leads (a coloured marker and the word, never colour alone), then what the SOC saw (threat, asset,
customer, provider, first/last seen, how often) and where it stands (status, classification, ticket). Every vendor
text is escaped: a threat name with ``<!channel>`` or ``<https://evil|click>`` must not ping or hide a link.
Buttons carry ``alert_facts.alert_value``; those that change much ask first (confirm dialogs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from psa_chatops.cards import alert_facts as facts
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
    section,
)
from psa_chatops.cards.slack.text import bold, clip, escape, link, slack_date, ticket_url, translator
from psa_chatops.core.errors import N_
from psa_chatops.handlers.alert_views import AlertView
from psa_chatops.i18n import Translator

__all__ = ["SEVERITY_EMOJI", "alert_actions", "alert_card", "alert_summary"]

SEVERITY_EMOJI: Final[Mapping[str, str]] = {
    "critical": ":rotating_light:",
    "high": ":red_circle:",
    "medium": ":large_orange_circle:",
    "low": ":large_yellow_circle:",
    "informational": ":white_circle:",
}
NO_TICKET: Final = N_("no ticket")
NOT_MATCHED: Final = N_("not matched (triage)")  # no customer: the alert sits in the triage queue
TEXT: Final = 200  # characters of a vendor text (threat, asset, customer) before it is cut


def severity_text(severity: str, locale: str) -> str:
    """Escaped mrkdwn: the marker and the severity in capitals, bold ("🚨 *CRITICAL*")."""
    emoji = SEVERITY_EMOJI.get(severity, ":white_circle:")
    return f"{emoji} {bold(escape(facts.severity_label(severity, locale).upper()))}"


def alert_card(
    view: AlertView,
    *,
    locale: str,
    public_url: str,
    timezone: str | None = None,
    others: Sequence[AlertView] = (),
) -> Message:
    """The full alert card with the buttons ``view.actions`` allows; ``others`` are more alerts on its ticket,
    named in one line (each one is a ``/psa alert <provider>/<id>`` away)."""
    tr = translator(locale, timezone)
    title = view.title or view.threat_type or view.alert_id
    blocks: list[Block] = [
        header(f"{tr.t('Security alert')}: {title}"),
        section(f"{severity_text(view.severity, tr.locale)} · {escape(clip(view.threat_type, TEXT))}"),
        fields_section(_fields(view, public_url, tr)),
    ]
    elements = alert_actions(view, locale=tr.locale, public_url=public_url)
    if elements:
        blocks.append(actions(elements))
    if others:
        named = ", ".join(escape(facts.alert_value(o.provider, clip(o.alert_id, 100))) for o in others[:10])
        blocks.append(context(escape(tr.t("Also on this ticket:")) + " " + named))
    blocks.append(context(_footer(view, public_url, tr)))
    return Message(fallback(alert_summary(view, locale=tr.locale)), blocks)


def alert_summary(view: AlertView, *, locale: str) -> str:
    """One line of escaped mrkdwn for notifications and screen readers."""
    severity = escape(facts.severity_label(view.severity, locale).upper())
    title = escape(clip(view.title or view.threat_type, 150))
    return f"{severity}: {title} ({escape(facts.provider_name(view.provider))})"


def _fields(view: AlertView, public_url: str, tr: Translator) -> list[str]:
    def field(label: str, value: str) -> str:
        return f"{bold(escape(label))}\n{value}"

    def name(raw: str | None, fallback_msgid: str) -> str:
        return escape(clip(raw, TEXT)) if raw else f"_{escape(tr.t(fallback_msgid))}_"

    status = escape(facts.status_label(view.status, tr.locale))
    if view.classification:
        status += f" · {escape(facts.classification_label(view.classification, tr.locale))}"
    if view.ticket_number is not None:
        ticket = link(ticket_url(public_url, view.ticket_number), f"#{view.ticket_number}")
    else:
        ticket = f"_{escape(tr.t(NO_TICKET))}_"
    customer = view.customer_name or view.customer_id
    return [
        field(tr.t("Asset"), name(view.asset or view.affected_asset, "unknown")),
        field(tr.t("Customer"), name(customer, NOT_MATCHED)),
        field(tr.t("Provider"), escape(clip(facts.provider_name(view.provider), TEXT))),
        field(tr.t("Status"), status),
        field(tr.t("First seen"), slack_date(view.first_seen, tr.locale, timezone=tr.timezone)),
        field(tr.t("Last seen"), slack_date(view.last_seen, tr.locale, timezone=tr.timezone)),
        field(tr.t("Count"), escape(tr.t_plural("{n} time", "{n} times", view.count))),
        field(tr.t("Ticket"), ticket),
    ]


def _footer(view: AlertView, public_url: str, tr: Translator) -> str:
    footer = escape(tr.t("Alert {id} of {provider}", id=clip(view.alert_id, TEXT), provider=view.provider))
    if view.ticket_number is not None:
        footer += " · " + link(ticket_url(public_url, view.ticket_number), tr.t("Open in PSA"))
    return footer


def alert_actions(view: AlertView, *, locale: str, public_url: str) -> list[dict[str, Any]]:
    """The buttons ``view.actions`` allows, in the order a technician works: acknowledge, take, escalate, close."""
    tr = translator(locale)
    allowed, value = view.actions, facts.alert_value(view.provider, view.alert_id)
    elements: list[dict[str, Any]] = []
    if "create_ticket" in allowed:
        elements.append(button(tr.t("Create ticket"), ids.ALERT_CREATE_TICKET, value=value, style="primary"))
    if "acknowledge" in allowed:
        elements.append(button(tr.t("Acknowledge"), ids.ALERT_ACKNOWLEDGE, value=value, style="primary"))
    if "assign_to_me" in allowed:
        elements.append(button(tr.t("Assign to me"), ids.ALERT_ASSIGN_TO_ME, value=value))
    if "escalate" in allowed:
        dialog = confirm_dialog(
            tr.t("Escalate to the SOC?"),
            escape(tr.t("The SOC takes over the analysis of this alert.")),
            tr.t("Escalate"),
            tr.t("Cancel"),
        )
        elements.append(button(tr.t("Escalate to SOC"), ids.ALERT_ESCALATE, value=value, confirm=dialog))
    if "false_positive" in allowed:
        dialog = confirm_dialog(
            tr.t("Mark as false positive?"),
            escape(tr.t("The ticket is closed and the alert is resolved as a false positive at its source.")),
            tr.t("Mark false positive"),
            tr.t("Cancel"),
            danger=True,
        )
        elements.append(button(tr.t("Mark false positive"), ids.ALERT_FALSE_POSITIVE, value=value, confirm=dialog))
    if "isolate" in allowed:
        asset = view.asset or view.affected_asset or view.alert_id
        dialog = confirm_dialog(
            tr.t("Isolate this device?"),
            escape(
                tr.t(
                    "{asset} is cut off the network by {provider} until it is released there.",
                    asset=clip(asset, 100),
                    provider=facts.provider_name(view.provider),
                )
            ),
            tr.t("Isolate"),
            tr.t("Cancel"),
            danger=True,
        )
        elements.append(button(tr.t("Isolate device"), ids.ALERT_ISOLATE, value=value, style="danger", confirm=dialog))
    if elements and view.ticket_number is not None:
        elements.append(
            button(tr.t("Open ticket"), ids.ALERT_OPEN_TICKET, url=ticket_url(public_url, view.ticket_number))
        )
    return elements
