"""Fixtures for the integration tests: a loopback webhook sink and a client session that is always closed."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer

# Until pyproject.toml sets `pythonpath = ["."]` (or tests/ becomes a package), make `tests.fakes` importable
# when pytest is run as `.venv/bin/pytest`, which, unlike `python -m pytest`, does not put the root on sys.path.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.fakes.sink import RunningSink, start_sink  # noqa: E402


@pytest.fixture
async def sink(aiohttp_server: AiohttpServer) -> RunningSink:
    return await start_sink(aiohttp_server)


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
