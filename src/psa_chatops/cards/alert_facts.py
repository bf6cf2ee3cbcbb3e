"""What an alert card says and offers, the same in every channel: severity and status words, the vendor's display
name, the button value that names an alert, and the ``AlertView`` an outbox envelope describes (so a channel
notification renders the same card as ``/psa alert``). Raw text; each channel escapes it its own way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from psa_chatops.cards.texts import translator
from psa_chatops.core import events as ev
from psa_chatops.core.alert_triage import CLASSIFICATION_LABELS, DEFAULT_PRIORITIES, STATUS_LABELS
from psa_chatops.core.alerts import AlertClassification, AlertSeverity, AlertStatus
from psa_chatops.core.errors import N_
from psa_chatops.handlers.alert_views import AlertView

__all__ = [
    "ACTIONS",
    "PROVIDER_NAMES",
    "SEVERITY_LABELS",
    "alert_value",
    "classification_label",
    "parse_alert_value",
    "provider_name",
    "severity_label",
    "status_label",
    "view_from_envelope",
]

SEVERITY_LABELS: Final[Mapping[str, str]] = {
    AlertSeverity.CRITICAL.value: N_("critical"),
    AlertSeverity.HIGH.value: N_("high"),
    AlertSeverity.MEDIUM.value: N_("medium"),
    AlertSeverity.LOW.value: N_("low"),
    AlertSeverity.INFORMATIONAL.value: N_("informational"),
}
PROVIDER_NAMES: Final[Mapping[str, str]] = {  # brand names: not translated
    "sentinelone": "SentinelOne",
    "defender": "Microsoft Defender",
    "rocketcyber": "RocketCyber",
    "barracuda-xdr": "Barracuda XDR",
}
ACTIONS: Final = ("acknowledge", "assign_to_me", "create_ticket", "escalate", "false_positive", "isolate")
_STATUS_AFTER: Final[Mapping[str, AlertStatus]] = {
    ev.AlertAcknowledged.__name__: AlertStatus.ACKNOWLEDGED,
    ev.AlertEscalated.__name__: AlertStatus.ESCALATED,
    ev.AlertClassified.__name__: AlertStatus.RESOLVED,
}


def severity_label(severity: str, locale: str) -> str:
    msgid = SEVERITY_LABELS.get(severity)
    return translator(locale).t(msgid) if msgid else severity


def status_label(status: str, locale: str) -> str:
    try:
        return translator(locale).t(STATUS_LABELS[AlertStatus(status)])
    except ValueError:
        return status


def classification_label(classification: str, locale: str) -> str:
    try:
        return translator(locale).t(CLASSIFICATION_LABELS[AlertClassification(classification)])
    except ValueError:
        return classification


def provider_name(provider: str) -> str:
    return PROVIDER_NAMES.get(provider, provider)


def alert_value(provider: str, alert_id: str) -> str:
    """What a button carries: ``<provider>/<alert id>`` (provider slugs have no slash; alert ids may)."""
    return f"{provider}/{alert_id}"


def parse_alert_value(value: str) -> tuple[str, str]:
    """(provider, alert id) from a button value; ``ValueError`` when it is not one of ours."""
    provider, slash, alert_id = value.partition("/")
    if not (provider and slash and alert_id):
        raise ValueError(f"not an alert value: {value!r}")
    return provider, alert_id


# --- notifications -----------------------------------------------------------------------------------------------


def view_from_envelope(envelope: Mapping[str, Any]) -> AlertView:
    """The alert an outbox envelope is about, as a card shows it to a technician in a channel.

    The envelope's ``alert`` (the record as it stands after the event) wins; the event's own ``data.alert`` link
    fills what it lacks. The buttons are a technician's (no admin action: a channel card is seen by everyone).
    """
    data: Mapping[str, Any] = envelope.get("data") or {}
    link: Mapping[str, Any] = data.get("alert") or {}
    record: Mapping[str, Any] = envelope.get("alert") or {}
    ticket: Mapping[str, Any] = envelope.get("ticket") or {}

    def pick(key: str) -> Any:
        value = record.get(key)
        return value if value is not None else link.get(key)

    occurred = _time(envelope.get("occurred_at")) or datetime.now(UTC)
    severity = str(pick("severity") or AlertSeverity.MEDIUM.value)
    status = str(record.get("status") or _STATUS_AFTER.get(str(envelope.get("type")), AlertStatus.NEW).value)
    number = record.get("ticket_number", ticket.get("number"))
    classification = record.get("classification") or data.get("classification")
    view = AlertView(
        provider=str(pick("provider") or ""),
        alert_id=str(pick("alert_id") or ""),
        severity=severity,
        threat_type=str(pick("threat_type") or ""),
        title=str(pick("title") or ""),
        status=status,
        action=str(record.get("action") or "create_ticket"),
        count=int(record.get("count") or 1),
        first_seen=_time(record.get("first_seen")) or occurred,
        last_seen=_time(record.get("last_seen")) or occurred,
        priority=str(ticket.get("priority") or _default_priority(severity)),
        customer_id=record.get("customer_id") or ticket.get("customer_id"),
        customer_ref=record.get("customer_ref"),
        vendor_account=record.get("vendor_account"),
        affected_asset=pick("affected_asset"),
        asset_id=pick("asset_id"),
        ticket_number=int(number) if isinstance(number, int) else None,
        classification=str(classification) if classification else None,
    )
    return _with_actions(view, ticket_done=str(ticket.get("status")) in ("resolved", "closed"))


def _with_actions(view: AlertView, *, ticket_done: bool) -> AlertView:
    """A technician's buttons (``handlers.alert_queries.alert_actions`` without the admin's)."""
    if view.status in (AlertStatus.RESOLVED.value, AlertStatus.IGNORED.value) or ticket_done:
        return replace(view, actions=())
    if view.ticket_number is None:
        return replace(view, actions=("create_ticket",))
    found = ["acknowledge"] if view.status == AlertStatus.NEW.value else []
    found.append("assign_to_me")
    if view.status != AlertStatus.ESCALATED.value:
        found.append("escalate")
    found.append("false_positive")
    return replace(view, actions=tuple(found))


def _default_priority(severity: str) -> str:
    try:
        return DEFAULT_PRIORITIES[AlertSeverity(severity)].value
    except ValueError:
        return "medium"


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None
