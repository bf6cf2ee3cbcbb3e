"""Domain events: what happened to a ticket. Past-tense names, plain frozen data, and a lossless JSON codec.

Events are the source of truth (``ticket_events``); the ticket projection is folded from them. Who did it, why
(correlation/causation) and when it was stored are the envelope's business, not the event's.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from psa_chatops.core.alerts import AlertClassification, AlertSeverity
from psa_chatops.core.priorities import Priority
from psa_chatops.core.sla import SlaTargetName
from psa_chatops.core.tickets_state import Source, Status, Visibility


@dataclass(frozen=True, kw_only=True)
class Event:
    number: int
    occurred_at: datetime

    @property
    def type(self) -> str:
        return type(self).__name__


@dataclass(frozen=True, kw_only=True)
class SlaClockSnapshot:
    target_seconds: float
    due_at: datetime | None
    elapsed_seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class TicketOpened(Event):
    title: str
    description: str
    customer_id: str
    priority: Priority
    source: Source
    contact_id: str | None = None
    asset_id: str | None = None
    tags: tuple[str, ...] = ()
    sla: dict[SlaTargetName, SlaClockSnapshot] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TicketAssigned(Event):
    assignee_id: str
    previous_assignee_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class TicketStatusChanged(Event):
    from_status: Status
    to_status: Status
    resolution: str | None = None


@dataclass(frozen=True, kw_only=True)
class NoteAdded(Event):
    note_id: int
    body: str
    visibility: Visibility
    author_id: str


@dataclass(frozen=True, kw_only=True)
class TicketPriorityChanged(Event):
    from_priority: Priority
    to_priority: Priority
    sla: dict[SlaTargetName, SlaClockSnapshot] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class FirstResponseMet(Event):
    pass


@dataclass(frozen=True, kw_only=True)
class SlaPaused(Event):
    elapsed_seconds: dict[SlaTargetName, float]


@dataclass(frozen=True, kw_only=True)
class SlaResumed(Event):
    due_at: dict[SlaTargetName, datetime]


@dataclass(frozen=True, kw_only=True)
class SlaWarningRaised(Event):
    target: SlaTargetName
    threshold: int
    due_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class SlaBreached(Event):
    target: SlaTargetName
    due_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class TicketEscalated(Event):
    level: int
    reason: str
    from_priority: Priority
    to_priority: Priority
    notify_dispatchers: bool


@dataclass(frozen=True, kw_only=True)
class AlertLink:
    """Which security alert a ticket event is about (the ticket itself stays a normal ticket)."""

    provider: str
    alert_id: str
    severity: AlertSeverity
    threat_type: str
    title: str = ""
    affected_asset: str | None = None
    asset_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class AlertReceived(Event):
    """An alert opened this ticket, or (``correlated``) joined it: same asset and threat within the window."""

    alert: AlertLink
    correlated: bool = False


@dataclass(frozen=True, kw_only=True)
class AlertAcknowledged(Event):
    alert: AlertLink


@dataclass(frozen=True, kw_only=True)
class AlertClassified(Event):
    alert: AlertLink
    classification: AlertClassification


@dataclass(frozen=True, kw_only=True)
class AlertEscalated(Event):
    """Handed to the SOC (their analysts, their channel), which is not the ticket's own escalation ladder."""

    alert: AlertLink
    reason: str


@dataclass(frozen=True, kw_only=True)
class AlertIsolationRequested(Event):
    """An admin asked the vendor to cut the alert's device off the network (the SOC outbox row does it)."""

    alert: AlertLink
    device: str


@dataclass(frozen=True, kw_only=True)
class AppointmentScheduled(Event):
    """An on-site visit for this ticket (``core.appointments``); numbered per ticket."""

    appointment_id: int
    technician_id: str
    starts_at: datetime
    ends_at: datetime
    location: str
    title: str
    notes: str = ""


@dataclass(frozen=True, kw_only=True)
class AppointmentRescheduled(Event):
    """The visit as it is now (every field), and where it was before, for the history line."""

    appointment_id: int
    technician_id: str
    starts_at: datetime
    ends_at: datetime
    location: str
    title: str
    notes: str = ""
    previous_starts_at: datetime | None = None
    previous_technician_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class AppointmentCancelled(Event):
    appointment_id: int
    reason: str = ""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        TicketOpened,
        TicketAssigned,
        TicketStatusChanged,
        NoteAdded,
        TicketPriorityChanged,
        FirstResponseMet,
        SlaPaused,
        SlaResumed,
        SlaWarningRaised,
        SlaBreached,
        TicketEscalated,
        AlertReceived,
        AlertAcknowledged,
        AlertClassified,
        AlertEscalated,
        AlertIsolationRequested,
        AppointmentScheduled,
        AppointmentRescheduled,
        AppointmentCancelled,
    )
}


def to_payload(event: Event) -> dict[str, Any]:
    """JSON-ready dict of the event's fields (without number/occurred_at, which the envelope stores)."""
    return {name: _encode(getattr(event, name)) for name in _field_names(type(event)) if name not in _ENVELOPE}


_ENVELOPE = frozenset(("number", "occurred_at"))


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, looked up once per class (``dataclasses.fields`` rebuilds them per call)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def from_payload(type_name: str, *, number: int, occurred_at: datetime, payload: dict[str, Any]) -> Event:
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise ValueError(f"unknown event type {type_name!r}")
    return _decode_dataclass(cls, {**payload, "number": number, "occurred_at": occurred_at})


_PLAIN = frozenset((str, int, float, bool, type(None)))  # exact types: a StrEnum is not plain


def _encode(value: Any) -> Any:
    if type(value) in _PLAIN:  # most fields: no isinstance chain
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _encode(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, dict):
        return {str(_encode(k)): _encode(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


_E = typing.TypeVar("_E")


def _decode_dataclass(cls: type[_E], data: dict[str, Any]) -> _E:
    hints = typing.get_type_hints(cls)
    kwargs = {f.name: _decode(hints[f.name], data[f.name]) for f in dataclasses.fields(cls) if f.name in data}  # type: ignore[arg-type]
    return cls(**kwargs)


def _decode(hint: Any, value: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        return _decode(next(a for a in args if a is not type(None)), value)
    if origin is dict:
        return {_decode(args[0], k): _decode(args[1], v) for k, v in value.items()}
    if origin is tuple:
        return tuple(_decode(args[0], v) for v in value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if hint is datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, value)
    if hint is float:
        return float(value)
    return value
