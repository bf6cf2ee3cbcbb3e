"""Where a ticket's conversation lives in a chat destination: the ``chat_threads`` table.

One row per (destination, ticket): the root message later events reply under (``root_id``, Slack's ``ts``), the
conversation it sits in (the channel id) and the ticket version the root currently shows (``rendered_version``).
Reads use a read-only connection; writes are short transactions through ``in_transaction``, so on SQLite they
queue on the writer thread behind the commands instead of sleeping in SQLite's busy handler.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

THREADS = t.table_of(t.ChatThreadRow)
T = TypeVar("T")


@dataclass(frozen=True)
class ChatThread:
    destination: str
    ticket_number: int
    root_id: str
    conversation: str
    rendered_version: int


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ChatThreadStore:
    def __init__(
        self, engine: AsyncEngine, *, writer: SqliteWriter | None = None, now: Callable[[], datetime] = _utcnow
    ) -> None:
        self._engine, self._writer, self._now = engine, writer, now

    async def _in_tx(self, work: Callable[[SqlConnection], Coroutine[Any, Any, T]]) -> T:
        return await in_transaction(self._engine, self._writer, work)

    async def get(self, destination: str, ticket_number: int) -> ChatThread | None:
        stmt = select(THREADS).where(THREADS.c.destination == destination, THREADS.c.ticket_number == ticket_number)
        async with read_connection(self._engine) as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        return ChatThread(row.destination, row.ticket_number, row.root_id, row.conversation, row.rendered_version)

    async def put(self, thread: ChatThread) -> None:
        """Record (or replace) the root of a ticket's thread in a destination."""
        now = self._now()
        values = {"root_id": thread.root_id, "conversation": thread.conversation, "updated_at": now}
        values["rendered_version"] = thread.rendered_version
        key = (THREADS.c.destination == thread.destination, THREADS.c.ticket_number == thread.ticket_number)

        async def work(conn: SqlConnection) -> None:
            if (await conn.execute(update(THREADS).where(*key).values(**values))).rowcount:
                return
            row = {"destination": thread.destination, "ticket_number": thread.ticket_number, "created_at": now}
            await conn.execute(insert(THREADS), {**row, **values})

        await self._in_tx(work)

    async def mark_rendered(self, destination: str, ticket_number: int, *, root_id: str, version: int) -> bool:
        """The root now shows ``version``; never moves ``rendered_version`` backwards. False when nothing changed
        (the root was replaced meanwhile, or already shows a newer version)."""
        stmt = (
            update(THREADS)
            .where(
                THREADS.c.destination == destination,
                THREADS.c.ticket_number == ticket_number,
                THREADS.c.root_id == root_id,
                THREADS.c.rendered_version < version,
            )
            .values(rendered_version=version, updated_at=self._now())
        )

        async def work(conn: SqlConnection) -> bool:
            return bool((await conn.execute(stmt)).rowcount)

        return await self._in_tx(work)

    async def forget(self, destination: str, ticket_number: int, *, root_id: str | None = None) -> bool:
        """Drop the recorded root (it was deleted in the chat); with ``root_id``, only if it is still that root."""
        stmt = delete(THREADS).where(THREADS.c.destination == destination, THREADS.c.ticket_number == ticket_number)
        if root_id is not None:
            stmt = stmt.where(THREADS.c.root_id == root_id)

        async def work(conn: SqlConnection) -> bool:
            return bool((await conn.execute(stmt)).rowcount)

        return await self._in_tx(work)
