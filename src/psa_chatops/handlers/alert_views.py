"""Views of security alerts, for the alert cards and the REST API. Channel-neutral, ready to show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psa_chatops.handlers.views import TicketView


@dataclass(frozen=True)
class AlertView:
    provider: str
    alert_id: str
    severity: str
    threat_type: str
    title: str
    status: str  # new | acknowledged | escalated | resolved | ignored
    action: str  # what the sender asked for: create_ticket | notify_only | ignore
    count: int
    first_seen: datetime
    last_seen: datetime
    priority: str  # the ticket priority this severity maps to for the customer
    customer_id: str | None = None  # None: no customer matched, the alert is in the triage queue
    customer_name: str | None = None
    customer_ref: str | None = None  # what the sender named as customer
    vendor_account: str | None = None
    affected_asset: str | None = None
    asset_id: str | None = None
    asset: str | None = None
    ticket_number: int | None = None
    classification: str | None = None
    actions: tuple[str, ...] = ()  # what the cards offer: acknowledge, assign_to_me, create_ticket, ...

    @property
    def triage(self) -> bool:
        return self.customer_id is None


@dataclass(frozen=True)
class AlertIngestView:
    """What became of one incoming alert."""

    outcome: str  # core.alert_triage.Outcome
    alert: AlertView
    ticket: TicketView | None = None

    @property
    def created(self) -> bool:
        """A new ticket was opened (the REST API answers 201)."""
        return self.outcome in ("new_ticket", "triage")


@dataclass(frozen=True)
class AlertListView:
    alerts: tuple[AlertView, ...]
    next_before: int | None  # the keyset cursor: pass it back to get the next (older) page
