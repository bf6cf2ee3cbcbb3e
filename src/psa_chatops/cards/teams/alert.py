"""The security alert card as an Adaptive Card (1.5), with the same facts and buttons as Slack's.

Actions are ``Action.Execute`` (verbs ``alert.*`` of ``ids``) with an ``Action.Submit`` fallback; their data names
the alert (``provider``, ``alert_id``). What changes much asks first: "Escalate to SOC" and "Mark false positive"
open a sub-card with an optional comment, "Isolate device" (admins) a sub-card that says what happens. Vendor
texts are escaped: markdown links or ``<at>`` tags in a threat name stay text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from psa_chatops.cards import alert_facts as facts
from psa_chatops.cards.teams import ids
from psa_chatops.cards.teams.messages import (
    Action,
    Card,
    Element,
    adaptive_card,
    execute_action,
    fact_set,
    fit,
    open_url_action,
    show_card_action,
    sub_card,
    text_block,
)
from psa_chatops.cards.teams.text import bold, clip, escape, link, plain, ticket_url, translator
from psa_chatops.core.errors import N_
from psa_chatops.handlers.alert_views import AlertView
from psa_chatops.i18n import Translator

__all__ = ["SEVERITY_COLOR", "SEVERITY_EMOJI", "alert_actions", "alert_card", "alert_summary"]

SEVERITY_EMOJI: Final[Mapping[str, str]] = {
    "critical": "🚨",
    "high": "🔴",
    "medium": "🟠",
    "low": "🟡",
    "informational": "⚪",
}
SEVERITY_COLOR: Final[Mapping[str, str]] = {"critical": "Attention", "high": "Attention", "medium": "Warning"}
NO_TICKET: Final = N_("no ticket")
NOT_MATCHED: Final = N_("not matched (triage)")  # no customer: the alert sits in the triage queue
TEXT: Final = 200
COMMENT: Final = 1_000  # characters of a comment or reason


def alert_card(
    view: AlertView,
    *,
    locale: str,
    public_url: str,
    timezone: str | None = None,
    limit: int = ids.BOT_CARD_LIMIT,
    others: Sequence[AlertView] = (),
) -> Card:
    """The full alert card with the actions ``view.actions`` allows, within ``limit`` bytes; ``others`` are more
    alerts on its ticket, named in one line (each one is an ``alert <provider>/<id>`` away)."""
    tr = translator(locale, timezone)
    actions = alert_actions(view, locale=tr.locale, public_url=public_url)

    def render(scale: float) -> Card:
        body: list[Element] = [
            text_block(_kicker(view, public_url, tr), size="Small", weight="Bolder", subtle=True),
            text_block(
                escape(clip(view.title or view.threat_type or view.alert_id, TEXT)), size="Large", weight="Bolder"
            ),
            text_block(
                f"{_severity(view.severity, tr.locale)} · {escape(clip(view.threat_type, TEXT))}",
                color=SEVERITY_COLOR.get(view.severity),
            ),
            fact_set(_facts(view, public_url, tr)),
            *_others(others, tr),
            text_block(_footer(view, public_url, tr), size="Small", subtle=True, separator=True),
        ]
        return adaptive_card(body, actions, locale=tr.locale, fallback_text=alert_summary(view, locale=tr.locale))

    return fit(render, limit)


def _kicker(view: AlertView, public_url: str, tr: Translator) -> str:
    """The words "Security alert" and, when it has one, its ticket (linked)."""
    kicker = escape(tr.t("Security alert"))
    if view.ticket_number is not None:
        kicker += " · " + link(ticket_url(public_url, view.ticket_number), f"#{view.ticket_number}")
    return kicker


def alert_summary(view: AlertView, *, locale: str) -> str:
    """One raw line for notifications, the feed and clients without cards."""
    severity = facts.severity_label(view.severity, locale).upper()
    return f"{severity}: {clip(view.title or view.threat_type, 150)} ({facts.provider_name(view.provider)})"


def _severity(severity: str, locale: str) -> str:
    return f"{SEVERITY_EMOJI.get(severity, '⚪')} {bold(escape(facts.severity_label(severity, locale).upper()))}"


def _facts(view: AlertView, public_url: str, tr: Translator) -> list[tuple[str, str]]:
    def name(raw: str | None, fallback_msgid: str) -> str:
        return escape(clip(raw, TEXT)) if raw else f"_{escape(tr.t(fallback_msgid))}_"

    status = escape(facts.status_label(view.status, tr.locale))
    if view.classification:
        status += f" · {escape(facts.classification_label(view.classification, tr.locale))}"
    if view.ticket_number is not None:
        ticket = link(ticket_url(public_url, view.ticket_number), f"#{view.ticket_number}")
    else:
        ticket = f"_{escape(tr.t(NO_TICKET))}_"
    return [
        (tr.t("Severity"), _severity(view.severity, tr.locale)),
        (tr.t("Threat"), escape(clip(view.threat_type, TEXT))),
        (tr.t("Asset"), name(view.asset or view.affected_asset, "unknown")),
        (tr.t("Customer"), name(view.customer_name or view.customer_id, NOT_MATCHED)),
        (tr.t("Provider"), escape(facts.provider_name(view.provider))),
        (tr.t("First seen"), escape(tr.dt(view.first_seen))),
        (tr.t("Last seen"), escape(tr.dt(view.last_seen))),
        (tr.t("Count"), escape(tr.t_plural("{n} time", "{n} times", view.count))),
        (tr.t("Status"), status),
        (tr.t("Ticket"), ticket),
    ]


def _others(others: Sequence[AlertView], tr: Translator) -> list[Element]:
    if not others:
        return []
    named = ", ".join(escape(facts.alert_value(o.provider, clip(o.alert_id, 100))) for o in others[:10])
    return [text_block(escape(tr.t("Also on this ticket:")) + " " + named, size="Small")]


def _footer(view: AlertView, public_url: str, tr: Translator) -> str:
    footer = escape(tr.t("Alert {id} of {provider}", id=clip(view.alert_id, TEXT), provider=view.provider))
    if view.ticket_number is not None:
        footer += " · " + link(ticket_url(public_url, view.ticket_number), tr.t("Open in PSA"))
    return footer


def _data(view: AlertView) -> dict[str, Any]:
    return {"provider": view.provider, "alert_id": view.alert_id}


def _comment(input_id: str, label: str, placeholder: str) -> Element:
    return {
        "type": "Input.Text",
        "id": input_id,
        "label": plain(label, 200),
        "isMultiline": True,
        "maxLength": COMMENT,
        "placeholder": plain(placeholder, 200),
    }


def alert_actions(view: AlertView, *, locale: str, public_url: str) -> list[Action]:
    """The actions ``view.actions`` allows; "Open ticket" last when there is a ticket."""
    tr = translator(locale)
    allowed, data = view.actions, _data(view)
    found: list[Action] = []
    if "create_ticket" in allowed:
        found.append(execute_action(tr.t("Create ticket"), ids.ALERT_CREATE_TICKET, data, style="positive"))
    if "acknowledge" in allowed:
        found.append(execute_action(tr.t("Acknowledge"), ids.ALERT_ACKNOWLEDGE, data, style="positive"))
    if "assign_to_me" in allowed:
        found.append(execute_action(tr.t("Assign to me"), ids.ALERT_ASSIGN_TO_ME, data))
    if "escalate" in allowed:
        note = text_block(escape(tr.t("The SOC takes over the analysis of this alert.")))
        reason = _comment(ids.ALERT_REASON, tr.t("Reason"), tr.t("What the SOC should look at (optional)."))
        go = execute_action(tr.t("Escalate"), ids.ALERT_ESCALATE, data)
        found.append(show_card_action(tr.t("Escalate to SOC"), sub_card([note, reason], [go])))
    if "false_positive" in allowed:
        warning = text_block(
            escape(tr.t("The ticket is closed and the alert is resolved as a false positive at its source.")),
            color="Warning",
        )
        comment = _comment(ids.ALERT_COMMENT, tr.t("Comment"), tr.t("Why it is a false positive (optional)."))
        go = execute_action(tr.t("Mark false positive"), ids.ALERT_FALSE_POSITIVE, data, style="destructive")
        found.append(show_card_action(tr.t("Mark false positive"), sub_card([warning, comment], [go])))
    if "isolate" in allowed:
        asset = clip(view.asset or view.affected_asset or view.alert_id, 100)
        warning = text_block(
            escape(
                tr.t(
                    "{asset} is cut off the network by {provider} until it is released there.",
                    asset=asset,
                    provider=facts.provider_name(view.provider),
                )
            ),
            color="Attention",
        )
        go = execute_action(tr.t("Isolate"), ids.ALERT_ISOLATE, data, style="destructive")
        found.append(show_card_action(tr.t("Isolate device"), sub_card([warning], [go])))
    if found and view.ticket_number is not None:
        found.append(open_url_action(tr.t("Open ticket"), ticket_url(public_url, view.ticket_number)))
    return found
