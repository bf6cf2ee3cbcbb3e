"""Alert triage: what an incoming security alert becomes. Pure; the handler supplies what storage knows.

The order of the questions is the policy:

1. Seen before (same ``(provider, alert_id)``)? A duplicate only counts (count, last seen) on the record it
   already has; it never opens a second ticket and never notifies again. The exception is an alert first recorded
   without a ticket (``notify_only``) that now asks for one: it gets its ticket.
2. ``ignore``? Recorded, nothing else.
3. No customer matched (neither our id nor a vendor account mapping)? ``create_ticket`` opens a ticket in the
   triage queue (the triage customer) and notifies; an alert is never dropped for want of a customer.
4. ``notify_only``? Recorded and announced, no ticket.
5. An open ticket of the same customer has an alert on the same asset with the same threat type, seen within the
   correlation window? The alert joins that ticket.
6. Otherwise a new ticket, its priority mapped from the severity (per customer overrides, else the defaults).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from psa_chatops.core.alerts import AlertAction, AlertClassification, AlertSeverity, AlertSignal, AlertStatus
from psa_chatops.core.directory import Asset
from psa_chatops.core.errors import N_, Label
from psa_chatops.core.events import AlertLink
from psa_chatops.core.priorities import Priority

DEFAULT_PRIORITIES: Mapping[AlertSeverity, Priority] = {
    AlertSeverity.CRITICAL: Priority.CRITICAL,
    AlertSeverity.HIGH: Priority.HIGH,
    AlertSeverity.MEDIUM: Priority.MEDIUM,
    AlertSeverity.LOW: Priority.LOW,
    AlertSeverity.INFORMATIONAL: Priority.LOW,
}
CLASSIFICATION_LABELS: Mapping[AlertClassification, str] = {
    AlertClassification.TRUE_POSITIVE: N_("true positive"),
    AlertClassification.FALSE_POSITIVE: N_("false positive"),
    AlertClassification.BENIGN: N_("benign (expected activity)"),
    AlertClassification.UNDETERMINED: N_("undetermined"),
}
STATUS_LABELS: Mapping[AlertStatus, str] = {
    AlertStatus.NEW: N_("new"),
    AlertStatus.ACKNOWLEDGED: N_("acknowledged"),
    AlertStatus.ESCALATED: N_("escalated to the SOC"),
    AlertStatus.RESOLVED: N_("resolved"),
    AlertStatus.IGNORED: N_("ignored"),
}
DEFAULT_CORRELATION_WINDOW = timedelta(hours=1)
TRIAGE_CUSTOMER_ID = "TRIAGE"
MAX_TITLE = 200


@dataclass(frozen=True)
class TriagePolicy:
    correlation_window: timedelta = DEFAULT_CORRELATION_WINDOW  # zero turns correlation off
    triage_customer_id: str = TRIAGE_CUSTOMER_ID


class Outcome(StrEnum):
    NEW_TICKET = "new_ticket"
    CORRELATED = "correlated"  # joined an open ticket
    DUPLICATE = "duplicate"  # the same alert again
    NOTIFY_ONLY = "notify_only"
    IGNORED = "ignored"
    TRIAGE = "triage"  # a new ticket in the triage queue: no customer matched


@dataclass(frozen=True)
class AlertRecord:
    """An alert as stored (``security_alerts``): one row per ``(provider, alert_id)``, however often it came."""

    provider: str
    alert_id: str
    severity: AlertSeverity
    threat_type: str
    title: str
    first_seen: datetime
    last_seen: datetime
    count: int
    action: AlertAction
    status: AlertStatus
    customer_id: str | None = None
    ticket_number: int | None = None
    affected_asset: str | None = None
    asset_id: str | None = None
    vendor_account: str | None = None
    customer_ref: str | None = None
    classification: AlertClassification | None = None
    correlation_key: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    device_id: str | None = None  # the vendor's device/agent id (what isolation needs), when the alert named one

    @property
    def triaged(self) -> bool:
        """True while no customer is known (the ticket, if any, sits in the triage queue)."""
        return self.customer_id is None

    def link(self) -> AlertLink:
        return AlertLink(
            provider=self.provider,
            alert_id=self.alert_id,
            severity=self.severity,
            threat_type=self.threat_type,
            title=self.title,
            affected_asset=self.affected_asset,
            asset_id=self.asset_id,
        )


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    priority: Priority
    ticket_number: int | None = None  # the ticket a duplicate or correlated alert belongs to

    @property
    def opens_ticket(self) -> bool:
        return self.outcome in (Outcome.NEW_TICKET, Outcome.TRIAGE)

    @property
    def notifies(self) -> bool:
        return self.outcome not in (Outcome.DUPLICATE, Outcome.IGNORED)


def status_label(status: AlertStatus) -> Label:
    return Label(STATUS_LABELS[status])


def priority_for(severity: AlertSeverity, overrides: Mapping[AlertSeverity, Priority] | None = None) -> Priority:
    """A customer's override wins; severities it does not name keep the default."""
    if overrides and severity in overrides:
        return overrides[severity]
    return DEFAULT_PRIORITIES[severity]


def decide(
    signal: AlertSignal,
    *,
    existing: AlertRecord | None,
    customer_id: str | None,
    correlated: AlertRecord | None,
    overrides: Mapping[AlertSeverity, Priority] | None = None,
) -> Decision:
    """``correlated`` is the candidate storage found for this alert's correlation key within the window, on an
    open ticket; ``customer_id`` is None when no customer matched."""
    priority = priority_for(signal.severity, overrides)
    if existing is not None and is_duplicate(signal, existing):
        return Decision(Outcome.DUPLICATE, priority, existing.ticket_number)
    if signal.action is AlertAction.IGNORE:
        return Decision(Outcome.IGNORED, priority)
    if signal.action is AlertAction.NOTIFY_ONLY:
        return Decision(Outcome.NOTIFY_ONLY, priority)
    if customer_id is None:
        return Decision(Outcome.TRIAGE, priority)
    if correlated is not None and correlated.ticket_number is not None:
        return Decision(Outcome.CORRELATED, priority, correlated.ticket_number)
    return Decision(Outcome.NEW_TICKET, priority)


def is_duplicate(signal: AlertSignal, existing: AlertRecord | None) -> bool:
    """Seen before, and not an alert recorded without a ticket that now asks for one."""
    if existing is None:
        return False
    return existing.ticket_number is not None or signal.action is not AlertAction.CREATE_TICKET


# --- assets and correlation keys ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # asset names repeat for every alert of a customer
def host_names(name: str) -> tuple[str, str]:
    """(full, short): ``WS-042.corp.local`` -> ``("ws-042.corp.local", "ws-042")``; an IP address stays whole."""
    full = name.strip().rstrip(".").lower()
    try:
        ipaddress.ip_address(full)
    except ValueError:
        return full, full.split(".", 1)[0]
    return full, full


def match_asset(name: str, assets: Sequence[Asset]) -> Asset | None:
    """The customer's asset this host or device name means: an exact name or hostname first (case-insensitive),
    else the one asset whose short name matches (``WS-042`` vs ``ws-042.corp.local``). Two candidates are as good
    as none: guessing would file the alert on the wrong machine."""
    full, short = host_names(name)
    if not full:
        return None
    exact = [a for a in assets if full in (a.name.lower(), host_names(a.hostname)[0])]
    if len(exact) == 1:
        return exact[0]
    if exact:
        return None
    loose = [a for a in assets if short in (host_names(a.name)[1], host_names(a.hostname)[1])]
    return loose[0] if len(loose) == 1 else None


def correlation_key(customer_id: str | None, *, asset_id: str | None, affected_asset: str | None, threat: str) -> str:
    """Same customer, same machine, same kind of threat (only for alerts that name a machine: ``has_machine``)."""
    machine = f"asset:{asset_id}" if asset_id else f"host:{host_names(affected_asset or '')[1]}"
    return f"{customer_id or '-'}|{machine}|{threat.strip().lower()}"[:255]


def has_machine(signal: AlertSignal) -> bool:
    return bool((signal.affected_asset or "").strip())


def ticket_title(signal: AlertSignal) -> str:
    """The vendor's title, else "threat - asset" (vendor vocabulary and a host name: no language to translate)."""
    title = " ".join(signal.title.split())
    if not title:
        asset = (signal.affected_asset or "").strip()
        title = f"{signal.threat_type} - {asset}" if asset else signal.threat_type
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"


def provider_slug(name: str) -> str:
    """``"RocketCyber"`` -> ``"rocketcyber"``, ``"Barracuda XDR"`` -> ``"barracuda-xdr"``."""
    return "-".join(name.strip().lower().replace("_", "-").split())
