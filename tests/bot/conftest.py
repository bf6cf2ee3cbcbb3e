"""Fixtures for the runtime tests: the loopback sink and a dispatcher wired to it on controllable clocks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer

from tests.fakes.sink import RunningSink, start_sink


@pytest.fixture
async def sink(aiohttp_server: AiohttpServer) -> RunningSink:
    return await start_sink(aiohttp_server)


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass
class Monotonic:
    """The breakers' clock, moved by hand."""

    value: float = 1000.0

    def __call__(self) -> float:
        return self.value

    def advance(self, delta: timedelta) -> None:
        self.value += delta.total_seconds()


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()
