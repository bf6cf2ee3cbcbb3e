"""Commands: what an actor asks the PSA to do. Imperative names, plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from psa_chatops.core.alerts import AlertClassification, AlertSignal
from psa_chatops.core.priorities import Priority
from psa_chatops.core.tickets_state import Source, Status, Visibility


@dataclass(frozen=True, kw_only=True)
class Command:
    pass


@dataclass(frozen=True, kw_only=True)
class OpenTicket(Command):
    title: str
    customer_id: str
    description: str = ""
    priority: Priority = Priority.MEDIUM
    source: Source = Source.API
    contact_id: str | None = None
    asset_id: str | None = None
    assignee_id: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AssignTicket(Command):
    number: int
    assignee_id: str


@dataclass(frozen=True, kw_only=True)
class ChangeStatus(Command):
    number: int
    status: Status
    resolution: str | None = None


@dataclass(frozen=True, kw_only=True)
class AddNote(Command):
    number: int
    body: str
    visibility: Visibility = Visibility.INTERNAL


@dataclass(frozen=True, kw_only=True)
class ChangePriority(Command):
    number: int
    priority: Priority


@dataclass(frozen=True, kw_only=True)
class EscalateTicket(Command):
    number: int
    reason: str
    raise_priority: bool = True
    notify_dispatchers: bool = True


@dataclass(frozen=True, kw_only=True)
class CloseTicket(Command):
    number: int
    resolution: str


@dataclass(frozen=True, kw_only=True)
class UpdateTicket(Command):
    """Several field changes at once, in one transaction, optionally only if the ticket is still at
    ``expected_version`` (what the REST API's ``If-Match`` asks for)."""

    number: int
    status: Status | None = None
    priority: Priority | None = None
    assignee_id: str | None = None
    resolution: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class CheckSlaBreaches(Command):
    now: datetime
    numbers: tuple[int, ...] = field(default=())


@dataclass(frozen=True, kw_only=True)
class CheckTicketSla(Command):
    number: int


@dataclass(frozen=True, kw_only=True)
class IngestAlert(Command):
    """A security alert arrived (REST, a vendor webhook or a poller): de-duplicate, correlate, triage."""

    signal: AlertSignal


@dataclass(frozen=True, kw_only=True)
class AcknowledgeAlert(Command):
    provider: str
    alert_id: str


@dataclass(frozen=True, kw_only=True)
class ClassifyAlert(Command):
    """The verdict on an alert; it closes the alert's ticket with the classification as resolution."""

    provider: str
    alert_id: str
    classification: AlertClassification
    comment: str = ""


@dataclass(frozen=True, kw_only=True)
class EscalateAlert(Command):
    provider: str
    alert_id: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class IsolateDevice(Command):
    """Admins only: cut the alert's device off the network through the vendor's API (SentinelOne, Defender)."""

    provider: str
    alert_id: str


@dataclass(frozen=True, kw_only=True)
class OpenAlertTicket(Command):
    """A ticket for an alert that was recorded without one (``notify_only``): the card's "Create ticket"."""

    provider: str
    alert_id: str


@dataclass(frozen=True, kw_only=True)
class ScheduleAppointment(Command):
    """An on-site visit of ``technician_id`` at the ticket's customer (``core.appointments``)."""

    number: int
    technician_id: str
    starts_at: datetime
    ends_at: datetime
    location: str
    title: str = ""
    notes: str = ""


@dataclass(frozen=True, kw_only=True)
class RescheduleAppointment(Command):
    """Only the fields given change; ``expected_version`` is the appointment's (HTTP If-Match)."""

    number: int
    appointment_id: int
    technician_id: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    location: str | None = None
    title: str | None = None
    notes: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class CancelAppointment(Command):
    number: int
    appointment_id: int
    reason: str = ""
    expected_version: int | None = None
