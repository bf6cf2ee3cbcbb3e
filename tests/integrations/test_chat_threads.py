"""``ChatThreadStore`` on SQLite (directly and through the writer thread) and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.storage.chat_threads import ChatThread, ChatThreadStore
from psa_chatops.storage.sqlite_writer import SqliteWriter

DEST = "slack:C0123"


async def check_store(store: ChatThreadStore) -> None:
    assert await store.get(DEST, 7) is None
    await store.put(ChatThread(DEST, 7, "100.000001", "C0123", 3))
    assert await store.get(DEST, 7) == ChatThread(DEST, 7, "100.000001", "C0123", 3)

    assert await store.mark_rendered(DEST, 7, root_id="100.000001", version=5) is True
    assert await store.mark_rendered(DEST, 7, root_id="100.000001", version=4) is False  # never backwards
    assert await store.mark_rendered(DEST, 7, root_id="other", version=9) is False  # not that root any more
    assert (await store.get(DEST, 7)) == ChatThread(DEST, 7, "100.000001", "C0123", 5)

    assert await store.forget(DEST, 7, root_id="other") is False
    assert await store.forget(DEST, 7, root_id="100.000001") is True
    await store.put(ChatThread(DEST, 7, "200.000001", "C0123", 6))
    await store.put(ChatThread(DEST, 7, "300.000001", "C0123", 7))  # replaces
    assert await store.get(DEST, 7) == ChatThread(DEST, 7, "300.000001", "C0123", 7)
    assert await store.get("slack:C0999", 7) is None


async def test_chat_threads_round_trip(engine: AsyncEngine) -> None:
    await check_store(ChatThreadStore(engine, now=lambda: datetime(2026, 11, 23, 9, tzinfo=UTC)))


async def test_chat_threads_through_the_sqlite_writer(sqlite_engine: AsyncEngine) -> None:
    writer = SqliteWriter(sqlite_engine.url.render_as_string(hide_password=False))
    try:
        await check_store(ChatThreadStore(sqlite_engine, writer=writer))
    finally:
        await asyncio.to_thread(writer.close)
