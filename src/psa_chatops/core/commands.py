"""Commands: what an actor asks the PSA to do. Imperative names, plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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
