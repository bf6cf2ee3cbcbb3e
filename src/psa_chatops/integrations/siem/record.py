"""One outbox payload read once for every SIEM format: ``to_record(delivery) -> SiemRecord``.

The payload is the outbox envelope (``storage.outbox.envelope``): ``event_id``, ``type``, ``number``, ``version``,
``occurred_at``, ``actor``, ``correlation_id``, ``causation_id``, ``data`` (the event's own fields) and ``ticket``
(the ticket after the event). Alert events carry the alert in ``data`` (``provider``, ``alert_id``, ``severity``,
``threat_type``, ``affected_asset``) or in ``data["alert"]``; whichever event types a routing rule selects are
forwarded, so nothing here lists them.

Severity is the alert's own when there is one, else the ticket's priority; ``SEVERITY_RANK`` is the order the
formats map from (ECS risk score, LEEF 1-10, syslog severity). A payload without an ``event_id``, ``type`` or a
parseable ``occurred_at`` cannot become a SIEM event: ``PermanentDeliveryError`` naming the field.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psa_chatops.core.alerts import AlertSeverity
from psa_chatops.core.routing import CATEGORY_OF
from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.errors import PermanentDeliveryError

SEVERITY_RANK: dict[str, int] = {s.value: rank for rank, s in enumerate(AlertSeverity)}
"""critical 0 ... informational 4; ticket priorities (critical, high, medium, low) are a prefix of it."""

_CATEGORIES = {cls.__name__: category.value for cls, category in CATEGORY_OF.items()}
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")


@dataclass(frozen=True)
class AlertFacts:
    provider: str
    alert_id: str
    severity: str | None
    threat_type: str | None
    title: str | None
    asset: str | None


@dataclass(frozen=True)
class SiemRecord:
    event_id: str
    idempotency_key: str
    event_type: str
    occurred_at: datetime
    severity: str
    ticket_number: int | None = None
    ticket: Mapping[str, Any] | None = None
    data: Mapping[str, Any] | None = None
    actor: str | None = None
    correlation_id: str | None = None
    alert: AlertFacts | None = None

    @property
    def customer_id(self) -> str | None:
        return _text((self.ticket or {}).get("customer_id")) or _text((self.data or {}).get("customer_id"))

    @property
    def title(self) -> str | None:
        return _text((self.ticket or {}).get("title")) or (self.alert.title if self.alert else None)

    @property
    def classification(self) -> str | None:
        """The verdict of an ``AlertClassified`` event (true/false positive, ...), else None."""
        return _text((self.data or {}).get("classification"))

    @property
    def host(self) -> str | None:
        """The machine the event is about: the alert's asset, else the ticket's asset."""
        return (self.alert.asset if self.alert else None) or _text((self.ticket or {}).get("asset_id"))

    @property
    def host_ip(self) -> str | None:
        """``host`` when it is an IP address (LEEF ``src``, ECS ``host.ip``)."""
        try:
            return str(ipaddress.ip_address(self.host)) if self.host else None
        except ValueError:
            return None

    @property
    def category(self) -> str:
        """The routing category (new, status, sla, ...); ``alert`` for alert events; ``event`` otherwise."""
        return "alert" if self.alert else _CATEGORIES.get(self.event_type, "event")

    @property
    def action(self) -> str:
        """``TicketOpened`` -> ``ticket-opened``: the event type as ECS and Splunk spell actions."""
        return "-".join(w.lower() for w in _WORD.findall(self.event_type)) or self.event_type.lower()

    @property
    def message(self) -> str:
        """One English line for SIEM analysts (log data, like our logs, not a user-facing text)."""
        words = self.action.replace("-", " ")
        subject = f"ticket #{self.ticket_number}" if self.ticket_number is not None else "PSA"
        if self.alert is not None:
            threat = f" {self.alert.threat_type}" if self.alert.threat_type else ""
            where = f" on {self.host}" if self.host else ""
            return (
                f"{self.severity}{threat} alert {self.alert.provider}/{self.alert.alert_id}{where}: {words} ({subject})"
            )
        title = f": {self.title}" if self.title else ""
        return f"{subject} {words}{title}"


def to_record(delivery: Delivery) -> SiemRecord:
    payload = delivery.payload
    if not isinstance(payload, Mapping):
        raise _invalid(delivery, "the payload is not a JSON object")
    event_id = _text(payload.get("event_id"))
    event_type = _text(payload.get("type")) or _text(delivery.event_type)
    if not event_id:
        raise _invalid(delivery, "the payload has no event_id")
    if not event_type:
        raise _invalid(delivery, "the payload has no type")
    occurred_at = _timestamp(payload.get("occurred_at"))
    if occurred_at is None:
        raise _invalid(delivery, f"occurred_at is not an ISO 8601 time with offset: {payload.get('occurred_at')!r}")
    data = payload.get("data") if isinstance(payload.get("data"), Mapping) else None
    ticket = payload.get("ticket") if isinstance(payload.get("ticket"), Mapping) else None
    alert = alert_of(data or {})
    number = payload.get("number")
    return SiemRecord(
        event_id=event_id,
        idempotency_key=delivery.idempotency_key,
        event_type=event_type,
        occurred_at=occurred_at,
        severity=_severity(alert, ticket),
        ticket_number=number if isinstance(number, int) and not isinstance(number, bool) else None,
        ticket=ticket,
        data=data,
        actor=_text(payload.get("actor")),
        correlation_id=_text(payload.get("correlation_id")),
        alert=alert,
    )


def alert_of(data: Mapping[str, Any]) -> AlertFacts | None:
    """The alert an event carries, flat in ``data`` or nested as ``data["alert"]``; None for ticket events."""
    nested = data.get("alert")
    source: Mapping[str, Any] = nested if isinstance(nested, Mapping) else data
    provider, alert_id = _text(source.get("provider")), _text(source.get("alert_id"))
    if not provider or not alert_id:
        return None
    severity = _text(source.get("severity"))
    return AlertFacts(
        provider=provider,
        alert_id=alert_id,
        severity=severity.lower() if severity else None,
        threat_type=_text(source.get("threat_type")),
        title=_text(source.get("title")),
        asset=_text(source.get("affected_asset")) or _text(source.get("asset_id")) or _text(source.get("hostname")),
    )


def _severity(alert: AlertFacts | None, ticket: Mapping[str, Any] | None) -> str:
    for candidate in (alert.severity if alert else None, _text((ticket or {}).get("priority"))):
        if candidate in SEVERITY_RANK:
            return candidate
    return AlertSeverity.INFORMATIONAL.value


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int):
        return str(value).strip() or None
    return None


def _invalid(delivery: Delivery, reason: str) -> PermanentDeliveryError:
    return PermanentDeliveryError(f"cannot forward to a SIEM: {reason}", destination=delivery.destination)
