"""What the alert use-cases need from storage, inside the unit of work's transaction (``uow.alerts``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from psa_chatops.core.alert_triage import AlertRecord
from psa_chatops.core.alerts import AlertSeverity
from psa_chatops.core.directory import Asset
from psa_chatops.core.priorities import Priority


@dataclass(frozen=True)
class AlertFilter:
    customer_ids: Sequence[str] | None = None  # None: every customer (and the triage queue)
    provider: str | None = None
    statuses: Sequence[str] | None = None
    severities: Sequence[str] | None = None
    ticket_number: int | None = None
    triage: bool | None = None  # True: only alerts without a customer
    before_id: int | None = None  # keyset: the id of the last row of the previous page (newest first)
    limit: int = 50


class AlertStore(Protocol):
    async def get(self, provider: str, alert_id: str) -> AlertRecord | None: ...

    async def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], AlertRecord]: ...

    async def insert(self, record: AlertRecord, *, actor: str) -> None:
        """Raises ``ConcurrencyError`` when the ``(provider, alert_id)`` was taken meanwhile (the bus retries)."""

    async def insert_many(self, records: Sequence[tuple[AlertRecord, str]]) -> None:
        """``insert`` for several alerts, each with its actor, at once."""

    async def save(self, record: AlertRecord, *, actor: str) -> None: ...

    async def upgrade(self, record: AlertRecord, *, actor: str) -> None:
        """Save an alert that was recorded without a ticket, only if it still has none: ``ConcurrencyError`` when
        another transaction gave it one meanwhile (the bus retries, and it is a duplicate then)."""

    async def count_again(self, provider: str, alert_id: str, *, seen_at: datetime, actor: str) -> AlertRecord:
        """A duplicate: ``count + 1`` and the later ``last_seen``, in one statement (no lost updates)."""

    async def correlated(self, correlation_key: str, *, since: datetime) -> AlertRecord | None:
        """The newest alert with this key seen since ``since`` whose ticket is still open."""

    async def correlated_many(self, keys: Sequence[str], *, since: datetime) -> dict[str, AlertRecord]:
        """``correlated`` for several keys at once (the keys without such an alert are missing)."""

    async def for_ticket(self, number: int) -> list[AlertRecord]: ...

    async def find(self, query: AlertFilter) -> list[tuple[int, AlertRecord]]:
        """Newest first, each with its row id (the page cursor)."""

    async def customer_for_account(self, provider: str, account: str) -> str | None: ...

    async def customer_exists(self, customer_id: str) -> bool: ...

    async def severity_overrides(self, customer_id: str) -> Mapping[AlertSeverity, Priority]: ...

    async def assets_named(self, customer_id: str, name: str) -> list[Asset]:
        """The customer's assets whose name or hostname could be ``name`` (full or short); the core picks one."""

    async def ensure_triage_customer(self, customer_id: str) -> bool:
        """Create the triage queue's customer record if missing; False when it cannot exist (no SLA policy)."""

    async def announce(self, record: AlertRecord, *, priority: Priority, now: datetime) -> int:
        """Outbox rows for an alert that has no ticket (``notify_only``): one per routing rule taking alerts."""

    async def isolate(self, record: AlertRecord, *, event_id: str, now: datetime) -> None:
        """The ``soc:<provider>`` outbox row that isolates the alert's device (``record.device_id``)."""
