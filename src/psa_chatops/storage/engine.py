"""Engines for SQLite (aiosqlite, the embedded default) and PostgreSQL (asyncpg). Nothing is created at import.

SQLite gets WAL, ``synchronous=NORMAL`` and ``BEGIN IMMEDIATE`` so concurrent writers queue on the busy timeout
instead of failing when a read transaction tries to upgrade to a write lock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from psa_chatops.storage import json_codec

SQLITE_BUSY_TIMEOUT_S = 30
READ_ONLY = "psa_read_only"


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads only: on SQLite it does not queue behind writers (WAL readers never block)."""
    async with engine.connect() as conn:
        yield await conn.execution_options(**{READ_ONLY: True})


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if is_sqlite(url):
        return _sqlite_engine(url, echo=echo)
    return create_async_engine(
        url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10, **json_codec.ENGINE_OPTIONS
    )


def sqlite_pragmas(dbapi_connection: Any) -> None:
    """WAL, NORMAL sync, foreign keys, busy timeout; and no implicit BEGIN (we issue our own)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        f"busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_engine(url: str, *, echo: bool) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **json_codec.ENGINE_OPTIONS
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        sqlite_pragmas(dbapi_connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
