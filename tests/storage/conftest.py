"""Fixtures for the storage tests: a seeded database, a bus on it and contexts for the directory's actors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import actor_for, build_bus, new_context
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import CommandContext
from tests.conftest import FrozenClock
from tests.fixtures_directory import seed_directory

ContextFor = Callable[[str], Awaitable[CommandContext]]


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncEngine:
    """The parametrized engine (SQLite, PostgreSQL) with the test directory and no routing rules."""
    await seed_directory(engine)
    return engine


@pytest.fixture
def bus(db: AsyncEngine, clock: FrozenClock) -> MessageBus:
    return build_bus(db, clock)


@pytest.fixture
def context_for(db: AsyncEngine, clock: FrozenClock) -> ContextFor:
    async def make(external_id: str) -> CommandContext:
        return new_context(await actor_for(db, clock, channel="test", external_id=external_id))

    return make
