"""``alert_poll_cursors``: where each SOC vendor poller stands. The poller writes a cursor only after its sink took
the alerts before it, so the row is the durable "handed on up to here"; ``updated_by`` names the poller."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

CURSORS = t.table_of(t.AlertPollCursorRow)


class AlertCursorStore:
    def __init__(self, engine: AsyncEngine, *, writer: SqliteWriter | None = None) -> None:
        self._engine, self._writer = engine, writer

    async def get(self, provider: str) -> str | None:
        async with read_connection(self._engine) as conn:
            value = (await conn.execute(select(CURSORS.c.cursor).where(CURSORS.c.provider == provider))).scalar()
        return None if value is None else str(value)

    async def put(self, provider: str, cursor: str, *, now: datetime) -> None:
        values = {"cursor": cursor, "updated_at": now, "updated_by": f"poller:{provider}"}

        async def work(conn: SqlConnection) -> None:
            changed = await conn.execute(update(CURSORS).where(CURSORS.c.provider == provider).values(**values))
            if changed.rowcount == 0:
                await conn.execute(insert(CURSORS).values(provider=provider, **values))

        await in_transaction(self._engine, self._writer, work)
