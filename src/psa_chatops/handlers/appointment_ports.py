"""What the appointment use-cases need from storage, inside the unit of work's transaction (``uow.appointments``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from psa_chatops.core import events as ev
from psa_chatops.core.appointments import Appointment
from psa_chatops.core.tickets import Ticket


@dataclass(frozen=True)
class AppointmentFilter:
    customer_ids: Sequence[str] | None = None  # None: every customer
    technician_id: str | None = None
    ticket_number: int | None = None
    starts_from: datetime | None = None  # appointments that end after this
    starts_before: datetime | None = None  # ... and start before this
    include_cancelled: bool = False
    after: tuple[datetime, int, int] | None = None  # keyset: (starts_at, ticket, id) of the previous page's last
    limit: int = 100


class AppointmentStore(Protocol):
    async def get(self, number: int, appointment_id: int) -> Appointment:
        """Raises ``NotFoundError``."""

    async def next_id(self, number: int) -> int: ...

    async def busy(self, technician_id: str, starts_at: datetime, ends_at: datetime) -> list[Appointment]:
        """The technician's scheduled appointments overlapping that time, on any ticket."""

    async def find(self, query: AppointmentFilter) -> list[Appointment]:
        """Earliest first (ties: ticket, then id)."""

    async def record(self, ticket: Ticket, events: Sequence[ev.Event], *, actor: str, calendar: str | None) -> None:
        """Project the appended appointment events and, with a calendar, queue their sync: same transaction."""
