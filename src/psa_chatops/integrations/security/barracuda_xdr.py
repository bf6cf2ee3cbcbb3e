"""Barracuda XDR alerts -> ``AlertSignal``.

Barracuda publishes no webhook schema or sample for XDR (formerly SKOUT), and none exists in any public corpus we
searched. This model follows what Barracuda's XDR documentation does describe about an alert: an *alert* is an
*alarm* the SOC escalated to the MSP, tracked as a ticket with a number, an alarm name, a severity (Critical, High,
Medium, Low), the customer *account* it belongs to, a category, the affected endpoint, and a creation time (XDR
Dashboard "Alarms and Alerts" / "View Ticket" pages). The field names are ours, chosen to match those documented
labels, in snake_case or camelCase:

    {"alert_id": "XDR-2026-004211", "alarm_name": "Ransomware behaviour detected", "severity": "Critical",
     "account_id": "ACC-1042", "account_name": "Müller GmbH", "category": "Ransomware",
     "hostname": "WS-CLIENT-042", "created_at": "2026-11-27T22:14:03Z", "description": "..."}

``ticket_id``/``ticket_number`` and ``title`` are accepted for ``alert_id`` and ``alarm_name``, ``endpoint`` for
``hostname``. One alert, a list, or ``{"alerts": [...]}``. Close-back to XDR is not possible: XDR offers no public
API to answer a ticket (the closure codes are chosen in its dashboard).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BeforeValidator, Field

from psa_chatops.core.alerts import AlertSeverity, AlertSignal
from psa_chatops.integrations.security.payloads import (
    VendorModel,
    each,
    id_text,
    require_object,
    severity_word,
    threat_slug,
    validate,
)

PROVIDER = "barracuda-xdr"


def _aliases(*names: str) -> AliasChoices:
    camel = [n.split("_")[0] + "".join(w.title() for w in n.split("_")[1:]) for n in names]
    return AliasChoices(*dict.fromkeys(name for pair in zip(names, camel, strict=True) for name in pair))


class XdrAlert(VendorModel):
    alert_id: Annotated[str, BeforeValidator(id_text)] = Field(
        validation_alias=_aliases("alert_id", "ticket_id", "ticket_number")
    )
    alarm_name: Annotated[str, Field(min_length=1, max_length=1000)] = Field(
        validation_alias=_aliases("alarm_name", "title")
    )
    severity: Annotated[AlertSeverity, BeforeValidator(severity_word)]
    account_id: Annotated[str, BeforeValidator(id_text)] = Field(validation_alias=_aliases("account_id"))
    account_name: str | None = None
    category: str | None = None
    hostname: str | None = Field(default=None, validation_alias=_aliases("hostname", "endpoint"))
    created_at: datetime | None = None
    description: str | None = None


def alert_signal(item: object, at: str) -> AlertSignal:
    alert = validate(XdrAlert, item, at)
    return AlertSignal(
        provider=PROVIDER,
        alert_id=alert.alert_id,
        severity=alert.severity,
        threat_type=threat_slug(alert.category, "alarm"),
        title=alert.alarm_name,
        affected_asset=alert.hostname or None,
        vendor_account=alert.account_id,
        observed_at=alert.created_at,
        raw=item if isinstance(item, dict) else {},
        description=alert.description or "",
    )


def normalise(payload: object) -> list[AlertSignal]:
    if isinstance(payload, list):
        return each(payload, "", alert_signal)
    body: Mapping[str, Any] = require_object(payload, "", "a Barracuda XDR alert or {alerts: [...]}")
    if "alerts" in body:
        return each(body["alerts"], "/alerts", alert_signal)
    return [alert_signal(body, "")]
