"""Security alerts as the PSA sees them, whatever SOC platform raised them.

Every inbound shape (the seed's generic document, each vendor's webhook or API format) is normalised into one
``AlertSignal`` before anything else looks at it, so triage, de-duplication and cards never know the vendor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AlertSeverity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFORMATIONAL = "informational"


class AlertClassification(StrEnum):
    """The verdict on an alert; close-back maps it onto each vendor's own vocabulary."""

    TRUE_POSITIVE = "true_positive"
    FALSE_POSITIVE = "false_positive"
    BENIGN = "benign"  # real activity, expected or authorised (a pentest, an admin tool)
    UNDETERMINED = "undetermined"


class AlertStatus(StrEnum):
    """Where an alert stands in our PSA (its ticket has its own status)."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    IGNORED = "ignored"


class AlertAction(StrEnum):
    """What the sender asks for (seed 9.7): a ticket, a notification only, or nothing but the record."""

    CREATE_TICKET = "create_ticket"
    NOTIFY_ONLY = "notify_only"
    IGNORE = "ignore"


@dataclass(frozen=True)
class AlertSignal:
    """One alert, normalised.

    ``provider`` is a stable slug (``rocketcyber``, ``barracuda-xdr``, ``sentinelone``, ``defender``, or the
    lower-cased name a generic sender gave). ``customer_ref`` is our customer id when the sender knows it;
    ``vendor_account`` is the vendor's own site/tenant/account key that the mapping table resolves to a customer.
    ``raw`` keeps the payload exactly as received, so nothing a vendor sent is lost.
    """

    provider: str
    alert_id: str
    severity: AlertSeverity
    threat_type: str
    title: str
    affected_asset: str | None = None
    customer_ref: str | None = None
    vendor_account: str | None = None
    action: AlertAction = AlertAction.CREATE_TICKET
    observed_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    device_id: str | None = None  # the vendor's own device/agent id (isolation needs it, not the host name)
    description: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """The de-duplication key: the same alert from the same provider is one record."""
        return (self.provider, self.alert_id)
