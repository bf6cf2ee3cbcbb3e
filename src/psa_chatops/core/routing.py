"""Routing rules: which destination hears about which ticket events (new, SLA, escalation, ...).

A rule names a destination ("slack:C0123", "teams:<conversation>", "webhook:https://...", "email:ops@...") and
filters by event category, customer and minimum priority. The outbox writes one row per matching rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from psa_chatops.core import events as ev
from psa_chatops.core.priorities import Priority


class Category(StrEnum):
    NEW = "new"
    ASSIGNMENT = "assignment"
    STATUS = "status"
    NOTE = "note"
    PRIORITY = "priority"
    SLA = "sla"
    ESCALATION = "escalation"
    ALERT = "alert"  # security alerts: received, acknowledged, classified, escalated to the SOC
    APPOINTMENT = "appointment"  # on-site appointments: booked, moved, cancelled


CATEGORY_OF: dict[type[ev.Event], Category] = {
    ev.TicketOpened: Category.NEW,
    ev.TicketAssigned: Category.ASSIGNMENT,
    ev.TicketStatusChanged: Category.STATUS,
    ev.NoteAdded: Category.NOTE,
    ev.TicketPriorityChanged: Category.PRIORITY,
    ev.SlaWarningRaised: Category.SLA,
    ev.SlaBreached: Category.SLA,
    ev.TicketEscalated: Category.ESCALATION,
    ev.AlertReceived: Category.ALERT,
    ev.AlertAcknowledged: Category.ALERT,
    ev.AlertClassified: Category.ALERT,
    ev.AlertEscalated: Category.ALERT,
    ev.AlertIsolationRequested: Category.ALERT,
    ev.AppointmentScheduled: Category.APPOINTMENT,
    ev.AppointmentRescheduled: Category.APPOINTMENT,
    ev.AppointmentCancelled: Category.APPOINTMENT,
}


@dataclass(frozen=True)
class RoutingRule:
    id: int
    destination: str
    categories: frozenset[Category]
    customer_id: str | None = None
    min_priority: Priority | None = None
    dispatchers: bool = False

    def matches(self, event: ev.Event, *, customer_id: str, priority: Priority) -> bool:
        if self._dispatcher_page(event):
            return True
        category = CATEGORY_OF.get(type(event))
        return category is not None and self.accepts(category, customer_id=customer_id, priority=priority)

    def accepts(self, category: Category, *, customer_id: str | None, priority: Priority) -> bool:
        """The filters alone, for notifications that have no ticket event (a ``notify_only`` alert)."""
        if category not in self.categories:
            return False
        if self.customer_id is not None and self.customer_id != customer_id:
            return False
        return self.min_priority is None or priority.at_least(self.min_priority)

    def _dispatcher_page(self, event: ev.Event) -> bool:
        """The dispatcher group hears every escalation that asks for it, whatever its other filters say."""
        return self.dispatchers and isinstance(event, ev.TicketEscalated) and event.notify_dispatchers


def is_internal(event: ev.Event) -> bool:
    """Events with no category (clock bookkeeping) are never sent anywhere."""
    return type(event) not in CATEGORY_OF
