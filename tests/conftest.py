"""Shared fixtures: real databases (SQLite file and the local PostgreSQL), a frozen clock, a wired bus.

PostgreSQL tests use the server on 127.0.0.1:5432 (trust auth) and their own database ``psa_chatops_test``,
rebuilt per test. Without the server they skip locally but fail under CI, where ``.ci/run`` starts it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from blockbuster import BlockBuster, blockbuster_ctx
from pytest_aiohttp import AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import actor_for, build_bus, new_context
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import CommandContext
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.migrations import upgrade
from tests.fakes.sink import RunningSink, start_sink
from tests.fixtures_directory import seed_directory

PG_ADMIN_DSN = os.environ.get("PSA_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_TEST_DB = f"psa_chatops_test_{os.getpid()}"  # one per test process: parallel runs must not collide
SHARED_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PSA_*/SLACK_*/TEAMS_* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("PSA_", "SLACK_", "TEAMS_", "MICROSOFT_")):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    """Fail any test whose code makes a blocking call on the event loop (aiohttp's conftest does the same).

    Allowed, with reasons: ``PRAGMA data_version`` (reads SQLite's WAL index in shared memory, ~15 µs, no disk
    I/O); files read once and cached — the gettext catalogs, the Alembic scripts at start-up,
    and the tz database when a timezone is first used (ZoneInfo caches it). asyncpg looks for ~/.pgpass and
    client certificates when it opens a pooled connection (upstream behaviour, once per pooled connection).
    """
    allowed = (
        ("src/psa_chatops/i18n/__init__.py", "_translations"),
        ("src/psa_chatops/storage/migrations/__init__.py", "run_upgrade"),
        ("src/psa_chatops/storage/commit_watch.py", "token"),
        ("src/psa_chatops/core/sla.py", "zone"),
        ("asyncpg/connect_utils.py", "_parse_connect_dsn_and_args"),
    )
    with blockbuster_ctx(["psa_chatops"]) as bb:
        for name in bb.functions:
            for path, function in allowed:
                bb.functions[name].can_block_in(path, function)
        yield bb


@dataclass
class FrozenClock:
    moment: datetime

    def now(self) -> datetime:
        return self.moment

    def advance(self, **kwargs: float) -> datetime:
        self.moment += timedelta(**kwargs)
        return self.moment


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # a Monday morning in Berlin


async def _reset_pg_database() -> str:
    try:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_DSN}: {exc}")
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            PG_TEST_DB,
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}"')
        await admin.execute(f'CREATE DATABASE "{PG_TEST_DB}"')
    finally:
        await admin.close()
    return PG_ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{PG_TEST_DB}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty database: SQLite in a temp file, then the local PostgreSQL."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}" if request.param == "sqlite" else await _reset_pg_database()
    eng = await asyncio.to_thread(create_engine, url)
    await upgrade(eng)
    yield eng
    await eng.dispose()
    if request.param == "postgres":
        await _drop_pg_database()


async def _drop_pg_database() -> None:
    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = await asyncio.to_thread(create_engine, f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}")
    await upgrade(eng)
    yield eng
    await eng.dispose()


# --- a seeded database with a bus on it (use-case and storage tests) ----------------------------------------------

ContextFor = Callable[[str], Awaitable[CommandContext]]


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncEngine:
    await seed_directory(engine)
    return engine


@pytest.fixture
def bus(db: AsyncEngine, clock: FrozenClock) -> MessageBus:
    return build_bus(db, clock)


@pytest.fixture
def context_for(db: AsyncEngine, clock: FrozenClock) -> ContextFor:
    """A fresh command context for a channel identity on the "test" channel (alice, dora, tom, sam, petra, ...)."""

    async def make(external_id: str) -> CommandContext:
        return new_context(await actor_for(db, clock, channel="test", external_id=external_id))

    return make


# --- loopback fakes ------------------------------------------------------------------------------------------------


@pytest.fixture
async def sink(aiohttp_server: AiohttpServer) -> RunningSink:
    return await start_sink(aiohttp_server)


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
