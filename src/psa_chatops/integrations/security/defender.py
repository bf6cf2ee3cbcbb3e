"""Microsoft Defender payloads -> ``AlertSignal``.

Two real shapes (samples in ``shared/corpora/security/microsoft_graph_defender``):

- **Microsoft Graph** ``microsoft.graph.security.alert`` (``GET /security/alerts_v2``): alone or as a page
  ``{"value": [...], "@odata.nextLink": ...}``; this is what the poller fetches. The device comes from the first
  ``deviceEvidence`` (``deviceDnsName``, ``mdeDeviceId``); the customer key is ``tenantId``.
- **Defender for Endpoint API** alert (``GET /api/alerts/{id}``): ``computerDnsName``, ``machineId``,
  ``aadTenantId``; alone or as ``{"value": [...]}``.

Severities are Microsoft's own words; ``unknown``/``UnSpecified`` become medium, so an unrated alert is looked at
rather than filtered away as informational.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from psa_chatops.core.alerts import AlertSeverity, AlertSignal
from psa_chatops.integrations.security.payloads import (
    AlertPayloadError,
    VendorModel,
    each,
    first,
    id_text,
    require_object,
    severity_word,
    threat_slug,
    validate,
)

PROVIDER = "defender"
DEVICE_EVIDENCE = "#microsoft.graph.security.deviceEvidence"
_UNRATED = {"unknown": AlertSeverity.MEDIUM, "unspecified": AlertSeverity.MEDIUM}

Id = Annotated[str, BeforeValidator(id_text)]
Severity = Annotated[AlertSeverity, BeforeValidator(lambda v: severity_word(v, extra=_UNRATED))]
Title = Annotated[str, Field(min_length=1, max_length=1000)]


class Evidence(VendorModel):
    odata_type: str | None = Field(default=None, alias="@odata.type")
    device_dns_name: str | None = None
    mde_device_id: str | None = None


class GraphAlert(VendorModel):
    id: Id
    title: Title
    severity: Severity
    category: str | None = None
    threat_family_name: str | None = None
    tenant_id: str | None = None
    description: str | None = None
    created_date_time: datetime
    last_update_date_time: datetime | None = None
    first_activity_date_time: datetime | None = None
    evidence: list[Evidence] = Field(default_factory=list)


def _device(evidence: list[Evidence]) -> Evidence:
    devices = [e for e in evidence if e.odata_type == DEVICE_EVIDENCE]
    return devices[0] if devices else Evidence()


def graph_signal(item: object, at: str) -> AlertSignal:
    alert = validate(GraphAlert, item, at)
    device = _device(alert.evidence)
    return AlertSignal(
        provider=PROVIDER,
        alert_id=alert.id,
        severity=alert.severity,
        threat_type=threat_slug(alert.threat_family_name or alert.category, "alert"),
        title=alert.title,
        affected_asset=device.device_dns_name or None,
        vendor_account=alert.tenant_id or None,
        observed_at=first([alert.first_activity_date_time, alert.created_date_time]),
        raw=_raw(item),
        device_id=device.mde_device_id or None,
        description=alert.description or "",
    )


def graph_updated_at(signal: AlertSignal) -> datetime | None:
    """``lastUpdateDateTime`` of an already validated Graph alert (the poller's watermark)."""
    alert = GraphAlert.model_validate(signal.raw)
    return first([alert.last_update_date_time, alert.created_date_time])


class EndpointAlert(VendorModel):
    id: Id
    title: Title
    severity: Severity
    category: str | None = None
    threat_family_name: str | None = None
    description: str | None = None
    computer_dns_name: str | None = None
    machine_id: str | None = None
    aad_tenant_id: str | None = None
    alert_creation_time: datetime
    first_event_time: datetime | None = None


def endpoint_signal(item: object, at: str) -> AlertSignal:
    alert = validate(EndpointAlert, item, at)
    return AlertSignal(
        provider=PROVIDER,
        alert_id=alert.id,
        severity=alert.severity,
        threat_type=threat_slug(alert.threat_family_name or alert.category, "alert"),
        title=alert.title,
        affected_asset=alert.computer_dns_name or None,
        vendor_account=alert.aad_tenant_id or None,
        observed_at=first([alert.first_event_time, alert.alert_creation_time]),
        raw=_raw(item),
        device_id=alert.machine_id or None,
        description=alert.description or "",
    )


def _one(item: object, at: str) -> AlertSignal:
    body = require_object(item, at, "a Defender alert")
    endpoint = "alertCreationTime" in body or "machineId" in body
    return endpoint_signal(body, at) if endpoint else graph_signal(body, at)


def normalise(payload: object) -> list[AlertSignal]:
    if isinstance(payload, list):
        return each(payload, "", _one)
    body = require_object(payload, "", "a Defender alert or a page of them")
    if "value" in body:
        return each(body["value"], "/value", _one)
    if "id" not in body and "title" not in body:
        raise AlertPayloadError("", "not a Defender payload: expected an alert (Graph alerts_v2 or MDE) or a page")
    return [_one(body, "")]


def _raw(item: object) -> Mapping[str, Any]:
    return item if isinstance(item, dict) else {}
