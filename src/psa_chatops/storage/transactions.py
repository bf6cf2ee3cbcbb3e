"""One short write transaction for stores outside the command path (outbox, API keys, audit log, idempotency).

On SQLite it runs whole on the writer thread, so it queues first come first served behind the commands (and
group-commits with them) instead of sleeping in SQLite's busy handler.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.storage.sqlite_writer import SqliteWriter, WriterConnection
from psa_chatops.storage.tables import SqlConnection

T = TypeVar("T")


async def in_transaction(
    engine: AsyncEngine, writer: SqliteWriter | None, work: Callable[[SqlConnection], Coroutine[Any, Any, T]]
) -> T:
    if writer is None:
        async with engine.begin() as conn:
            return await work(conn)

    async def on_writer() -> T:
        conn = WriterConnection(writer)
        await conn.open()
        try:
            result = await work(conn)
            await conn.commit()
            return result
        finally:
            await conn.rollback()
            await conn.close()

    return await writer.run(on_writer)
