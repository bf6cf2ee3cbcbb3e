"""Remembered responses for retried requests (REST ``Idempotency-Key``; later Slack retries and Message-IDs).

A key is reserved before the work runs and completed with the response after it, so two concurrent requests with
the same key never both run: the second sees "in progress". A reservation whose owner died is taken over once it
is older than ``stale_after``. The request hash tells a retry (same body) from a misuse (another body).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.storage import tables as t
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

KEYS = t.table_of(t.IdempotencyKeyRow)
PENDING: dict[str, Any] = {"state": "pending"}


@dataclass(frozen=True)
class Reservation:
    outcome: Literal["reserved", "replay", "mismatch", "in_progress"]
    response: dict[str, Any] | None = None


class IdempotencyStore:
    def __init__(
        self, engine: AsyncEngine, *, writer: SqliteWriter | None = None, stale_after: timedelta = timedelta(minutes=1)
    ) -> None:
        self._engine, self._writer, self._stale_after = engine, writer, stale_after

    async def reserve(self, scope: str, key: str, request_hash: str, *, now: datetime) -> Reservation:
        async def work(conn: SqlConnection) -> Reservation:
            row = (await conn.execute(select(KEYS).where(KEYS.c.scope == scope, KEYS.c.key == key))).first()
            if row is None:
                values = {"scope": scope, "key": key, "request_hash": request_hash, "response": PENDING}
                await conn.execute(insert(KEYS), {**values, "created_at": now})
                return Reservation("reserved")
            if row.request_hash != request_hash:
                return Reservation("mismatch")
            if row.response.get("state") != "pending":
                return Reservation("replay", row.response)
            if now - row.created_at < self._stale_after:
                return Reservation("in_progress")
            await conn.execute(
                update(KEYS).where(KEYS.c.scope == scope, KEYS.c.key == key).values(created_at=now)
            )  # the first attempt died: this one takes over
            return Reservation("reserved")

        try:
            return await in_transaction(self._engine, self._writer, work)
        except IntegrityError:  # another request inserted the same key between our read and insert
            return Reservation("in_progress")

    async def complete(self, scope: str, key: str, response: dict[str, Any]) -> None:
        async def work(conn: SqlConnection) -> None:
            await conn.execute(update(KEYS).where(KEYS.c.scope == scope, KEYS.c.key == key).values(response=response))

        await in_transaction(self._engine, self._writer, work)

    async def release(self, scope: str, key: str) -> None:
        """Forget a reservation whose request failed without an answer worth repeating (a 5xx): retrying runs it."""

        async def work(conn: SqlConnection) -> None:
            await conn.execute(delete(KEYS).where(KEYS.c.scope == scope, KEYS.c.key == key))

        await in_transaction(self._engine, self._writer, work)

    async def purge(self, *, before: datetime) -> int:
        async def work(conn: SqlConnection) -> int:
            return int((await conn.execute(delete(KEYS).where(KEYS.c.created_at < before))).rowcount or 0)

        return await in_transaction(self._engine, self._writer, work)
