"""Slack threads that belong to a ticket: a message turned into ticket N (shortcut or 🎫 reaction) maps
(channel, thread ts) -> N in ``chat_threads`` under the destination ``slack-thread:<channel>``, so replies in that
thread become notes. Routed channels' threads (``slack:<channel>``) are the outbox notifier's; we only read ours."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

THREADS = t.table_of(t.ChatThreadRow)


def destination(channel: str) -> str:
    return f"slack-thread:{channel}"


async def remember(
    engine: AsyncEngine, writer: SqliteWriter | None, *, channel: str, thread_ts: str, number: int, now: datetime
) -> None:
    values = {
        "destination": destination(channel),
        "ticket_number": number,
        "root_id": thread_ts,
        "conversation": channel,
        "rendered_version": 0,
        "created_at": now,
        "updated_at": now,
    }

    async def work(conn: SqlConnection) -> None:
        await conn.execute(insert(THREADS).values(**values))

    await in_transaction(engine, writer, work)


async def ticket_of(engine: AsyncEngine, *, channel: str, thread_ts: str) -> int | None:
    query = select(THREADS.c.ticket_number).where(
        THREADS.c.destination == destination(channel), THREADS.c.root_id == thread_ts
    )
    async with read_connection(engine) as conn:
        return (await conn.execute(query.limit(1))).scalar_one_or_none()
