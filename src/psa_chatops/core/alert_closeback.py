"""Close-back and isolation: which vendor actions a ticket change asks for. Pure; storage writes the outbox rows.

Resolving or closing a security ticket (one with alerts filed on it) resolves each of its alerts at the source,
with the verdict chosen on the card ("Mark false positive") or, when the ticket was simply closed, as a true
positive. Only vendors whose API can take a verdict get a row; the others (RocketCyber, Barracuda XDR, generic
senders) have nothing to call. The row is ``soc:<provider>`` with the payload ``integrations.security.notifier``
reads: ``{"action": "resolve" | "isolate", "provider", "alert_id", "classification", "device"}``.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from psa_chatops.core import events as ev
from psa_chatops.core.alert_triage import AlertRecord
from psa_chatops.core.alerts import AlertClassification

CLOSE_BACK_PROVIDERS: Final = frozenset({"sentinelone", "defender"})  # their APIs take a verdict on an alert
ISOLATING_PROVIDERS: Final = frozenset({"sentinelone", "defender"})  # their APIs can cut a device off the network
SOC_KIND: Final = "soc"
EVENT_TYPE: Final = "SecurityAlertAction"  # the outbox row's event_type

SocAction = Literal["resolve", "isolate"]


def soc_destination(provider: str) -> str:
    return f"{SOC_KIND}:{provider}"


def soc_payload(
    action: SocAction,
    provider: str,
    alert_id: str,
    *,
    classification: AlertClassification | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    return {
        "action": action,
        "provider": provider,
        "alert_id": alert_id,
        "classification": classification.value if classification else None,
        "device": device,
    }


def closes_ticket(event: ev.Event) -> bool:
    """A status change that finishes the ticket (resolved or closed), not one between finished states."""
    return isinstance(event, ev.TicketStatusChanged) and event.to_status.is_done and not event.from_status.is_done


def verdict(record: AlertRecord) -> AlertClassification:
    """The classification chosen on the card, else a true positive: a ticket closed normally was real work."""
    return record.classification or AlertClassification.TRUE_POSITIVE


def closes_back(record: AlertRecord) -> bool:
    return record.provider in CLOSE_BACK_PROVIDERS


def can_isolate(record: AlertRecord) -> bool:
    return record.provider in ISOLATING_PROVIDERS and bool(record.device_id)
