"""Fixtures for the use-case tests: the bus over a seeded database (SQLite and PostgreSQL) and actor contexts."""

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
