"""SentinelOne payloads -> ``AlertSignal``.

Two shapes, both real (samples in ``shared/corpora/security/sentinelone``):

- a **threat** of the Management API v2.1 (``GET /web/api/v2.1/threats``: ``id``, ``threatInfo``,
  ``agentRealtimeInfo``, ``agentDetectionInfo``), alone, as a list, or as an API page ``{"data": [...]}``; this is
  what the poller fetches and what exports contain;
- a **Unified Alert Management** alert (the GraphQL alerts API: ``{"data": {"alert": {...}}}`` or a connection
  ``{"data": {"alerts": {"edges": [{"node": {...}}]}}}``).

Threats carry no severity; SentinelOne's own consoles rank them by AI confidence, so: ``malicious`` -> high
(critical when classified as ransomware), ``suspicious`` -> medium, anything else -> low. The customer key is the
**site id** (an MSP's SentinelOne account holds one site per customer). ``device_id`` is the agent id that
``/agents/actions/disconnect`` isolates.
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

PROVIDER = "sentinelone"
Id = Annotated[str, BeforeValidator(id_text)]
OptionalId = Annotated[str | None, BeforeValidator(lambda v: None if v is None else id_text(v))]
Text = Annotated[str, Field(min_length=1, max_length=1000)]


def _confidence(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in {"malicious", "suspicious", "n/a"}:
        raise ValueError("expected malicious, suspicious or n/a")
    return value.lower()


class ThreatInfo(VendorModel):
    threat_name: Text
    classification: str | None = None
    confidence_level: Annotated[str | None, BeforeValidator(_confidence)] = None
    identified_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    file_path: str | None = None
    incident_status: str | None = None


class AgentInfo(VendorModel):
    agent_computer_name: str | None = None
    agent_id: OptionalId = None
    site_id: OptionalId = None
    site_name: str | None = None
    account_id: OptionalId = None


class DetectionInfo(VendorModel):
    site_id: OptionalId = None
    account_id: OptionalId = None


class Threat(VendorModel):
    id: Id
    threat_info: ThreatInfo
    agent_realtime_info: AgentInfo | None = None
    agent_detection_info: DetectionInfo | None = None


def threat_severity(info: ThreatInfo) -> AlertSeverity:
    if info.confidence_level == "malicious":
        ransomware = (info.classification or "").lower() == "ransomware"
        return AlertSeverity.CRITICAL if ransomware else AlertSeverity.HIGH
    if info.confidence_level == "suspicious":
        return AlertSeverity.MEDIUM
    return AlertSeverity.LOW


def threat_signal(item: object, at: str) -> AlertSignal:
    threat = validate(Threat, item, at)
    info, agent = threat.threat_info, threat.agent_realtime_info or AgentInfo()
    detection = threat.agent_detection_info or DetectionInfo()
    kind = info.classification or "Threat"
    return AlertSignal(
        provider=PROVIDER,
        alert_id=threat.id,
        severity=threat_severity(info),
        threat_type=threat_slug(info.classification, "threat"),
        title=f"{kind}: {info.threat_name}",
        affected_asset=agent.agent_computer_name or None,
        vendor_account=first([agent.site_id, detection.site_id]),
        observed_at=first([info.identified_at, info.created_at]),
        raw=_raw(item),
        device_id=agent.agent_id,
        description=info.file_path or "",
    )


def threat_updated_at(signal: AlertSignal) -> datetime | None:
    """When the threat last changed (the poller's watermark); read from the raw threat, already validated."""
    info = signal.raw.get("threatInfo")
    if not isinstance(info, dict):
        return None
    parsed = ThreatInfo.model_validate(info)
    return first([parsed.updated_at, parsed.created_at])


# --- Unified Alert Management ---------------------------------------------------------------------------------------


class UamAsset(VendorModel):
    name: str | None = None


class UamScopeRef(VendorModel):
    id: OptionalId = None


class UamScope(VendorModel):
    site: UamScopeRef | None = None
    account: UamScopeRef | None = None


class UamRealTime(VendorModel):
    scope: UamScope | None = None


class UamAlert(VendorModel):
    id: Id
    name: Text
    severity: Annotated[AlertSeverity, BeforeValidator(severity_word)]
    classification: str | None = None
    description: str | None = None
    asset: UamAsset | None = None
    real_time: UamRealTime | None = None
    detected_at: datetime | None = None
    first_seen_at: datetime | None = None
    created_at: datetime | None = None


def uam_signal(item: object, at: str) -> AlertSignal:
    alert = validate(UamAlert, item, at)
    scope = alert.real_time.scope if alert.real_time and alert.real_time.scope else UamScope()
    return AlertSignal(
        provider=PROVIDER,
        alert_id=alert.id,
        severity=alert.severity,
        threat_type=threat_slug(alert.classification, "threat"),
        title=alert.name,
        affected_asset=alert.asset.name if alert.asset else None,
        vendor_account=first([scope.site.id if scope.site else None, scope.account.id if scope.account else None]),
        observed_at=first([alert.detected_at, alert.first_seen_at, alert.created_at]),
        raw=_raw(item),
        description=alert.description or "",
    )


def _uam_edges(connection: object, at: str) -> list[AlertSignal]:
    edges = require_object(connection, at, "a UAM alerts connection").get("edges")
    return each(edges, f"{at}/edges", lambda edge, where: uam_signal(_node(edge, where), f"{where}/node"))


def _node(edge: object, at: str) -> object:
    return require_object(edge, at, "an edge with a node").get("node")


# --- the payload ----------------------------------------------------------------------------------------------------


def normalise(payload: object) -> list[AlertSignal]:
    if isinstance(payload, list):
        return each(payload, "", threat_signal)
    body = require_object(payload, "", "a SentinelOne threat, threats page or UAM alert")
    data = body.get("data")
    if "threatInfo" in body:
        return [threat_signal(body, "")]
    if isinstance(data, list):
        return each(data, "/data", threat_signal)
    if isinstance(data, dict) and "alert" in data:
        return [uam_signal(data["alert"], "/data/alert")]
    if isinstance(data, dict) and "alerts" in data:
        return _uam_edges(data["alerts"], "/data/alerts")
    raise AlertPayloadError(
        "", "not a SentinelOne payload: expected a threat (threatInfo), a threats page (data: [...]) or a UAM alert"
    )


def _raw(item: object) -> Mapping[str, Any]:
    return item if isinstance(item, dict) else {}
