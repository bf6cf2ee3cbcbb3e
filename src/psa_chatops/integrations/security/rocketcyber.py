"""RocketCyber payloads -> ``AlertSignal``.

RocketCyber publishes no sample payloads; this follows its Customer API v3 as described by the OpenAPI document in
``shared/corpora/security/rocketcyber`` (``Incident``: ``id``, ``title``, ``status``, ``severity``, ``accountId``,
``createdAt``, ``description``; ``Event``: ``id``, ``timestamp``, ``severity``, ``type``, ``accountId``,
``agentId``, ``message``), alone, as a list, or as a page (``items``, or ``data`` as the live API answers).
Incidents from the live API may lack ``severity`` and carry ``eventSummary`` verdicts instead; then the worst verdict
decides (malicious -> high, suspicious -> medium, otherwise low). Optional ``hostname``/``agentHostname`` name the
device when a forwarder adds it; the customer key is ``accountId``. Event ids are prefixed ``event:`` so an event
and an incident with the same number stay two alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BeforeValidator, Field

from psa_chatops.core.alerts import AlertSeverity, AlertSignal
from psa_chatops.integrations.security.payloads import (
    AlertPayloadError,
    VendorModel,
    each,
    id_text,
    require_object,
    severity_word,
    threat_slug,
    validate,
)

PROVIDER = "rocketcyber"
Id = Annotated[str, BeforeValidator(id_text)]
OptionalId = Annotated[str | None, BeforeValidator(lambda v: None if v is None else id_text(v))]
Severity = Annotated[AlertSeverity, BeforeValidator(severity_word)]
Host = Annotated[str | None, Field(validation_alias=AliasChoices("hostname", "agentHostname"))]
_VERDICTS = {"malicious": AlertSeverity.HIGH, "suspicious": AlertSeverity.MEDIUM}


class EventSummary(VendorModel):
    app: str | None = None
    verdict: str | None = None


class Incident(VendorModel):
    id: Id
    title: Annotated[str, Field(min_length=1, max_length=1000)]
    status: str
    account_id: Id
    severity: Severity | None = None
    created_at: datetime | None = None
    published_at: datetime | None = None
    description: str | None = None
    hostname: Host = None
    event_summary: list[EventSummary] = Field(default_factory=list)

    def rating(self) -> AlertSeverity:
        if self.severity is not None:
            return self.severity
        ranked = [_VERDICTS.get((s.verdict or "").lower(), AlertSeverity.LOW) for s in self.event_summary]
        order = list(AlertSeverity)
        return min(ranked, key=order.index)


class Event(VendorModel):
    id: Id
    timestamp: datetime
    severity: Severity
    type: Annotated[str, Field(min_length=1, max_length=200)]
    account_id: Id
    agent_id: OptionalId = None
    message: str | None = None
    hostname: Host = None


def incident_signal(item: object, at: str) -> AlertSignal:
    incident = validate(Incident, item, at)
    if incident.severity is None and not incident.event_summary:
        raise AlertPayloadError(f"{at}/severity", "required field is missing (and no eventSummary verdict to rate by)")
    apps = [s.app for s in incident.event_summary if s.app]
    return AlertSignal(
        provider=PROVIDER,
        alert_id=incident.id,
        severity=incident.rating(),
        threat_type=threat_slug(apps[0] if apps else None, "soc_incident"),
        title=incident.title,
        affected_asset=incident.hostname or None,
        vendor_account=incident.account_id,
        observed_at=incident.created_at or incident.published_at,
        raw=_raw(item),
        description=incident.description or "",
    )


def event_signal(item: object, at: str) -> AlertSignal:
    event = validate(Event, item, at)
    return AlertSignal(
        provider=PROVIDER,
        alert_id=f"event:{event.id}",
        severity=event.severity,
        threat_type=threat_slug(event.type, "event"),
        title=event.message or event.type,
        affected_asset=event.hostname or None,
        vendor_account=event.account_id,
        observed_at=event.timestamp,
        raw=_raw(item),
        device_id=event.agent_id,
        description=event.message or "",
    )


def _one(item: object, at: str) -> AlertSignal:
    body = require_object(item, at, "a RocketCyber incident or event")
    is_event = "title" not in body and ("type" in body or "timestamp" in body)
    return event_signal(body, at) if is_event else incident_signal(body, at)


def normalise(payload: object) -> list[AlertSignal]:
    if isinstance(payload, list):
        return each(payload, "", _one)
    body = require_object(payload, "", "a RocketCyber incident, event or page")
    for envelope in ("items", "data"):
        if envelope in body:
            return each(body[envelope], f"/{envelope}", _one)
    if "id" not in body:
        raise AlertPayloadError("/id", "required field is missing")
    return [_one(body, "")]


def _raw(item: object) -> Mapping[str, Any]:
    return item if isinstance(item, dict) else {}
