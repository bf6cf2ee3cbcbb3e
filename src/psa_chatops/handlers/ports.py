"""Ports: what the use-cases need from the outside world, as Protocols. ``storage`` and ``integrations`` implement
them; tests may substitute their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, Self

from psa_chatops.core import events as ev
from psa_chatops.core.directory import Asset, Contact, Customer, MaintenanceWindow, Technician
from psa_chatops.core.sla import SlaPolicy
from psa_chatops.core.tickets import Ticket
from psa_chatops.handlers.alert_ports import AlertStore
from psa_chatops.handlers.appointment_ports import AppointmentStore


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class ApiClient:
    """An integration acting through the REST API (an API key or an OAuth2 client). It works with a technician's
    rights, narrowed by its scopes (checked by the gateway) and its optional customer scope (checked here)."""

    id: str  # the actor id recorded on events and in the audit log, e.g. "apikey:k3x9..." or "oauth:<subject>"
    name: str
    scopes: frozenset[str]
    customer_ids: tuple[str, ...] | None = None

    def can_see_customer(self, customer_id: str) -> bool:
        return self.customer_ids is None or customer_id in self.customer_ids


@dataclass(frozen=True)
class Actor:
    """Who is acting: a channel identity resolved to a technician, a customer contact, an API client, or the
    system itself."""

    channel: str
    external_id: str
    technician: Technician | None = None
    contact: Contact | None = None
    locale: str = "en"
    timezone: str = "Europe/Berlin"
    client: ApiClient | None = None

    @property
    def id(self) -> str:
        if self.client:
            return self.client.id
        if self.technician:
            return f"technician:{self.technician.id}"
        if self.contact:
            return f"contact:{self.contact.id}"
        return f"{self.channel}:{self.external_id}"


@dataclass
class AuditSlot:
    """The audit line of the request that runs a command (REST writes): the unit of work writes it in the same
    transaction as the change, once; the gateway writes it itself when no command committed (``written``)."""

    method: str
    route: str
    path: str
    status: int
    request_id: str
    client_ip: str | None = None
    details: dict[str, Any] | None = None
    written: bool = False


@dataclass(frozen=True)
class CommandContext:
    """Who runs this command, and in which chain of cause and effect (for the event envelope)."""

    actor: Actor
    correlation_id: str
    causation_id: str | None = None
    audit: AuditSlot | None = None


@dataclass(frozen=True)
class RecordedEvent:
    """An event with its envelope, as stored in ``ticket_events``."""

    event: ev.Event
    version: int
    actor: str
    correlation_id: str
    causation_id: str | None
    encoded: dict[str, Any] | None = field(default=None, compare=False, repr=False)  # ``data``, when known

    @property
    def event_id(self) -> str:
        return f"{self.event.number}:{self.version}"

    @property
    def data(self) -> dict[str, Any]:
        """The event's JSON payload: encoded once for its row and its notifications."""
        return self.encoded if self.encoded is not None else ev.to_payload(self.event)


@dataclass(frozen=True)
class Delivery:
    """One outbox row handed to a notifier. ``idempotency_key`` is stable across retries and replays."""

    id: int
    idempotency_key: str
    destination: str
    event_type: str
    payload: dict[str, Any]
    attempts: int = 0


@dataclass(frozen=True)
class TicketFilter:
    customer_ids: Sequence[str] | None = None
    statuses: Sequence[str] | None = None
    priorities: Sequence[str] | None = None
    assignee_id: str | None = None
    text: str | None = None
    limit: int = 50
    offset: int = 0
    open_only: bool = field(default=False)
    sort: str = "-number"  # one of SORTS; ties always break on the number, so pages are stable
    after: tuple[Any, int] | None = None  # keyset: (sort value, number) of the last row of the previous page


SORTS = ("-number", "number", "-updated_at", "updated_at", "-created_at", "created_at")


class TicketRepository(Protocol):
    async def get(self, number: int) -> Ticket: ...

    async def next_number(self) -> int: ...

    async def next_numbers(self, count: int) -> list[int]: ...

    async def append(self, ticket: Ticket | None, events: Sequence[ev.Event]) -> Ticket: ...

    async def open_many(self, batch: Sequence[tuple[CommandContext, Sequence[ev.Event]]]) -> list[Ticket]:
        """New tickets, each opened for its own context (actor, correlation), written together."""

    async def find(self, query: TicketFilter) -> list[Ticket]:
        """Tickets for lists: without their notes (``get`` loads those)."""
        ...

    async def count(self, query: TicketFilter) -> int: ...

    async def due_for_sla_check(self, limit: int) -> list[int]: ...

    async def history(self, number: int) -> list[RecordedEvent]: ...


class Directory(Protocol):
    async def customer(self, customer_id: str) -> Customer: ...

    async def contact(self, contact_id: str) -> Contact: ...

    async def technician(self, technician_id: str) -> Technician: ...

    async def asset(self, asset_id: str) -> Asset: ...

    async def sla_policy(self, policy_id: str) -> SlaPolicy: ...

    async def dispatchers(self) -> list[Technician]: ...

    async def maintenance_windows(self, customer_id: str) -> list[MaintenanceWindow]: ...

    async def linked_actor(self, channel: str, external_id: str) -> tuple[str, str] | None: ...


class UnitOfWork(Protocol):
    @property
    def tickets(self) -> TicketRepository: ...

    @property
    def directory(self) -> Directory: ...

    @property
    def alerts(self) -> AlertStore: ...

    @property
    def appointments(self) -> AppointmentStore: ...

    @property
    def context(self) -> CommandContext: ...

    def acting_for(self, context: CommandContext) -> AbstractContextManager[None]:
        """Inside the block, this unit acts on behalf of ``context`` (one request of a batch); a block that ends
        without an exception puts that request's audit line into the commit."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    def collected_events(self) -> list[RecordedEvent]: ...


class Notifier(Protocol):
    """Delivers one outbox row; raises ``integrations.errors.DeliveryError`` subclasses on failure."""

    async def deliver(self, delivery: Delivery) -> None: ...


UnitOfWorkFactory = Callable[[CommandContext], UnitOfWork]
