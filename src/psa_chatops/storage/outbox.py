"""The transactional outbox: rows written with the state change, claimed and settled by the dispatcher.

Row life: ``pending`` -> ``delivered`` | ``recorded`` (sandbox) | ``dead`` (permanent error or attempts used up);
``replay`` puts rows back to ``pending``. A claim is a lease (``claimed_until``), so rows held by a worker that
died become claimable again. Rows for the same (destination, ticket) go out in order: a later row waits while an
earlier one is pending, so thread replies never overtake their root message.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import and_, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core.routing import RoutingRule, is_internal
from psa_chatops.core.tickets import Ticket
from psa_chatops.handlers.ports import Delivery, RecordedEvent
from psa_chatops.storage import mappers as m
from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

OUTBOX = t.table_of(t.OutboxRow)
_INSERT = insert(OUTBOX)
T = TypeVar("T")
_NAMESPACE = uuid.UUID("1d8f3c3e-6a59-4c1e-9d0c-7f1b8f5a2b10")
_NAMESPACE_BYTES = _NAMESPACE.bytes


class RowStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    RECORDED = "recorded"
    DEAD = "dead"


def idempotency_key(event_id: str, destination: str) -> str:
    """``uuid5(_NAMESPACE, "event_id|destination")``, built by hand: ``uuid.UUID`` was most of an outbox row's cost."""
    name = _NAMESPACE_BYTES + f"{event_id}|{destination}".encode()
    digest = bytearray(hashlib.sha1(name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def ticket_summary(ticket: Ticket) -> dict[str, Any]:
    row = m.ticket_to_row(ticket)
    keep = (
        "number",
        "title",
        "customer_id",
        "contact_id",
        "asset_id",
        "priority",
        "status",
        "source",
        "assignee_id",
        "tags",
        "escalation_level",
        "version",
    )
    summary = {k: row[k] for k in keep}
    summary["first_response_due"] = m._iso(row["first_response_due"])
    summary["resolution_due"] = m._iso(row["resolution_due"])
    return summary


def envelope(record: RecordedEvent, summary: dict[str, Any]) -> dict[str, Any]:
    """The delivered document: the event with its envelope and the ticket as it stands after it."""
    return {
        "event_id": record.event_id,
        "type": record.event.type,
        "number": record.event.number,
        "version": record.version,
        "occurred_at": record.event.occurred_at.isoformat(),
        "actor": record.actor,
        "correlation_id": record.correlation_id,
        "causation_id": record.causation_id,
        "data": record.data,
        "ticket": summary,
    }


async def enqueue(
    conn: SqlConnection,
    items: Iterable[tuple[RecordedEvent, Ticket]],
    rules: Sequence[RoutingRule],
    now: datetime,
    *,
    extras: Mapping[str, Mapping[str, Any]] | None = None,
) -> int:
    """One row per (event, destination); ``extras`` (by event id) adds to an envelope, e.g. the alert record an
    alert event is about, so its card shows the alert as it stands."""
    rows = []
    summaries: dict[int, dict[str, Any]] = {}  # the events of one append share one ticket state
    for record, ticket in items:
        if is_internal(record.event):
            continue
        destinations = list(  # one row per destination, even when several rules route there
            dict.fromkeys(
                rule.destination
                for rule in rules
                if rule.matches(record.event, customer_id=ticket.customer_id, priority=ticket.priority)
            )
        )
        if not destinations:
            continue
        if id(ticket) not in summaries:
            summaries[id(ticket)] = ticket_summary(ticket)
        payload = envelope(record, summaries[id(ticket)])
        if extras and record.event_id in extras:
            payload.update(extras[record.event_id])
        rows += [
            {
                "idempotency_key": idempotency_key(record.event_id, destination),
                "destination": destination,
                "event_type": record.event.type,
                "ticket_number": record.event.number,
                "payload": payload,
                "status": RowStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for destination in destinations
        ]
    if rows:
        await conn.execute(_INSERT, rows)
    return len(rows)


@dataclass(frozen=True)
class Outcome:
    """How one delivery attempt ended; the dispatcher settles a batch of these in one transaction."""

    id: int
    status: RowStatus | None = None
    next_attempt_at: datetime | None = None
    error: str | None = None
    burn_attempt: bool = True


class OutboxStore:
    """Claim, settle and replay; on SQLite through the writer thread, so the dispatcher queues behind commands
    in order instead of sleeping in SQLite's busy handler."""

    def __init__(self, engine: AsyncEngine, *, writer: SqliteWriter | None = None) -> None:
        self._engine, self._writer = engine, writer
        self._skip_locked = engine.dialect.name == "postgresql"

    async def _in_tx(self, work: Callable[[SqlConnection], Coroutine[Any, Any, T]]) -> T:
        return await in_transaction(self._engine, self._writer, work)

    async def claim(self, *, now: datetime, limit: int, lease: timedelta) -> list[Delivery]:
        earlier = OUTBOX.alias("earlier")
        blocked = exists().where(
            and_(
                earlier.c.destination == OUTBOX.c.destination,
                earlier.c.ticket_number == OUTBOX.c.ticket_number,
                earlier.c.status == RowStatus.PENDING.value,
                earlier.c.id < OUTBOX.c.id,
            )
        )
        due = (
            select(OUTBOX.c.id)
            .where(
                OUTBOX.c.status == RowStatus.PENDING.value,
                OUTBOX.c.next_attempt_at <= now,
                (OUTBOX.c.claimed_until.is_(None)) | (OUTBOX.c.claimed_until < now),
                ~blocked,
            )
            .order_by(OUTBOX.c.id)
            .limit(limit)
        )
        if self._skip_locked:
            due = due.with_for_update(skip_locked=True, of=OUTBOX)

        async def work(conn: SqlConnection) -> list[Any]:
            ids = list((await conn.execute(due)).scalars())
            if not ids:
                return []
            stmt = update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(claimed_until=now + lease)
            return list((await conn.execute(stmt.returning(*OUTBOX.c))).all())

        rows = await self._in_tx(work)
        return sorted((_delivery(r) for r in rows), key=lambda d: d.id)

    async def settle(self, outcomes: Sequence[Outcome], *, now: datetime) -> None:
        """One ``UPDATE ... WHERE id IN (...)`` per distinct outcome: a batch is mostly "delivered, now"."""
        if not outcomes:
            return
        groups: dict[tuple[Any, ...], list[int]] = {}
        for o in outcomes:
            groups.setdefault((o.status, o.next_attempt_at, o.error, o.burn_attempt), []).append(o.id)

        async def work(conn: SqlConnection) -> None:
            for (status, next_attempt_at, error, burn_attempt), ids in groups.items():
                values: dict[str, Any] = {"claimed_until": None, "last_error": error}
                if status is not None:
                    values["status"] = status.value
                if status in (RowStatus.DELIVERED, RowStatus.RECORDED):
                    values["delivered_at"] = now
                if next_attempt_at is not None:
                    values["next_attempt_at"] = next_attempt_at
                if burn_attempt:
                    values["attempts"] = OUTBOX.c.attempts + 1
                await conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(**values))

        await self._in_tx(work)

    async def replay(self, *, ids: Sequence[int] = (), dead: bool = False, now: datetime) -> int:
        stmt = update(OUTBOX).values(
            status=RowStatus.PENDING.value, attempts=0, next_attempt_at=now, claimed_until=None, delivered_at=None
        )
        if dead:
            stmt = stmt.where(OUTBOX.c.status == RowStatus.DEAD.value)
        elif ids:
            stmt = stmt.where(OUTBOX.c.id.in_(list(ids)))
        else:
            return 0

        async def work(conn: SqlConnection) -> int:
            return int((await conn.execute(stmt)).rowcount)

        return await self._in_tx(work)

    async def rows(self, *, status: str | None = None, limit: int = 50) -> list[Any]:
        stmt = select(OUTBOX).order_by(OUTBOX.c.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(OUTBOX.c.status == status)
        async with read_connection(self._engine) as conn:
            return list((await conn.execute(stmt)).all())

    async def get(self, delivery_id: int) -> DeliveryRecord | None:
        async with read_connection(self._engine) as conn:
            row = (await conn.execute(select(OUTBOX).where(OUTBOX.c.id == delivery_id))).first()
        return None if row is None else _record(row)

    async def page(
        self,
        *,
        status: str | None = None,
        destination: str | None = None,
        ticket_number: int | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[DeliveryRecord]:
        """Newest first, keyset-paged on the id: rows older than ``before``, so a page never shifts as rows arrive."""
        stmt = select(OUTBOX).order_by(OUTBOX.c.id.desc()).limit(limit)
        filters = {OUTBOX.c.status: status, OUTBOX.c.destination: destination, OUTBOX.c.ticket_number: ticket_number}
        for column, value in filters.items():
            if value is not None:
                stmt = stmt.where(column == value)
        if before is not None:
            stmt = stmt.where(OUTBOX.c.id < before)
        async with read_connection(self._engine) as conn:
            return [_record(r) for r in (await conn.execute(stmt)).all()]

    async def stats(self, *, now: datetime) -> dict[str, Any]:
        """Row counts by status and the age of the oldest pending row (for /metrics and /readyz)."""
        async with read_connection(self._engine) as conn:
            counts: dict[Any, Any] = dict(
                (await conn.execute(select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status))).all()
            )
            oldest = (
                await conn.execute(
                    select(func.min(OUTBOX.c.created_at)).where(OUTBOX.c.status == RowStatus.PENDING.value)
                )
            ).scalar()
        if isinstance(oldest, datetime) and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=now.tzinfo)
        age = (now - oldest).total_seconds() if isinstance(oldest, datetime) else 0.0
        return {"by_status": {str(k): int(v) for k, v in counts.items()}, "oldest_pending_age_seconds": age}


@dataclass(frozen=True)
class DeliveryRecord:
    """One outbox row as an operator inspects it (the API's ``/deliveries``)."""

    id: int
    idempotency_key: str
    destination: str
    event_type: str
    ticket_number: int | None
    payload: dict[str, Any]
    status: RowStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    claimed_until: datetime | None


def _record(row: Any) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        idempotency_key=row.idempotency_key,
        destination=row.destination,
        event_type=row.event_type,
        ticket_number=row.ticket_number,
        payload=row.payload,
        status=RowStatus(row.status),
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        claimed_until=row.claimed_until,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        idempotency_key=row.idempotency_key,
        destination=row.destination,
        event_type=row.event_type,
        payload=row.payload,
        attempts=row.attempts,
    )
