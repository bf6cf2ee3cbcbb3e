"""``alert_poll_cursors`` on SQLite and PostgreSQL: one row per provider, overwritten, attributed to the poller."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.storage.alert_cursors import CURSORS, AlertCursorStore
from psa_chatops.storage.sqlite_writer import SqliteWriter

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


async def test_a_cursor_is_stored_per_provider_and_overwritten(engine: AsyncEngine) -> None:
    store = AlertCursorStore(engine)
    assert await store.get("sentinelone") is None
    await store.put("sentinelone", "one", now=NOW)
    await store.put("defender", "d", now=NOW)
    await store.put("sentinelone", "two", now=NOW + timedelta(minutes=1))
    assert (await store.get("sentinelone"), await store.get("defender")) == ("two", "d")
    async with engine.connect() as conn:
        rows = (await conn.execute(select(CURSORS).order_by(CURSORS.c.provider))).all()
    assert [(r.provider, r.cursor, r.updated_at, r.updated_by) for r in rows] == [
        ("defender", "d", NOW, "poller:defender"),
        ("sentinelone", "two", NOW + timedelta(minutes=1), "poller:sentinelone"),
    ]


async def test_writes_go_through_the_sqlite_writer(sqlite_engine: AsyncEngine) -> None:
    writer = SqliteWriter(sqlite_engine.url.render_as_string(hide_password=False))
    try:
        store = AlertCursorStore(sqlite_engine, writer=writer)
        await store.put("defender", "w", now=NOW)
        assert await store.get("defender") == "w"
    finally:
        await asyncio.to_thread(writer.close)
