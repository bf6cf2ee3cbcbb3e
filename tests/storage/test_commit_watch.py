"""The commit watch and its cache: a value is served from memory only while nothing was committed anywhere — by
this process's writer thread, another engine, or a plain sqlite3 connection standing in for another process."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.storage.commit_watch import CommittedCache, CommitWatch
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.migrations import upgrade
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

BUMP = "INSERT INTO counters (name, value) VALUES ('watch-test', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1"


@pytest.fixture
async def database(tmp_path: Path) -> tuple[str, AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}"
    engine = await asyncio.to_thread(create_engine, url)
    await upgrade(engine)
    return url, engine


async def test_the_token_moves_with_every_commit_and_only_then(database: tuple[str, AsyncEngine]) -> None:
    url, engine = database
    watch = await asyncio.to_thread(CommitWatch.open, url)
    try:
        first = watch.token()
        assert first is not None
        assert watch.token() == first  # reading changes nothing
        async with engine.begin() as conn:  # a commit by the async engine
            await conn.execute(text(BUMP))
        second = watch.token()
        assert second != first
        other = sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///"), isolation_level=None)
        other.execute(BUMP)  # another process
        other.close()
        assert watch.token() != second
    finally:
        watch.close()
        await engine.dispose()


async def test_a_commit_by_the_writer_thread_invalidates_the_cache(database: tuple[str, AsyncEngine]) -> None:
    url, engine = database
    watch = await asyncio.to_thread(CommitWatch.open, url)
    writer = SqliteWriter(url)
    cache = CommittedCache(watch)
    reads = 0

    async def load() -> int:
        nonlocal reads
        reads += 1
        async with engine.connect() as conn:
            query = text("SELECT value FROM counters WHERE name = 'watch-test'")
            return int((await conn.execute(query)).scalar() or 0)

    try:
        before = await cache.get("version", load)
        assert await cache.get("version", load) == before
        assert reads == 1  # served from memory

        async def bump(conn: SqlConnection) -> None:
            await conn.execute(text(BUMP))

        await in_transaction(engine, writer, bump)
        assert await cache.get("version", load) == before + 1
        assert reads == 2  # read again, fresh
        assert (cache.hits, cache.misses) == (1, 2)
    finally:
        await asyncio.to_thread(writer.close)
        watch.close()
        await engine.dispose()


async def test_without_a_file_database_the_cache_reads_through() -> None:
    watch = CommitWatch.open("postgresql+asyncpg://somebody@127.0.0.1/psa")
    assert watch.token() is None
    cache, reads = CommittedCache(watch), 0

    async def load() -> int:
        nonlocal reads
        reads += 1
        return reads

    assert [await cache.get("k", load) for _ in range(3)] == [1, 2, 3]


async def test_the_cache_keeps_at_most_its_size(database: tuple[str, AsyncEngine]) -> None:
    url, engine = database
    watch = await asyncio.to_thread(CommitWatch.open, url)
    cache = CommittedCache(watch, size=2)

    async def value() -> str:
        return "v"

    try:
        for key in ("a", "b", "c"):
            await cache.get(key, value)
        await cache.get("a", value)  # "a" was the least recently used: it had to go
        assert cache.misses == 4
    finally:
        watch.close()
        await engine.dispose()
