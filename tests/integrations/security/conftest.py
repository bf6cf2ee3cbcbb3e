"""Fixtures for the SOC vendor tests: the loopback SentinelOne and Defender fakes, a cursor store on a real
database, and a sink that records what the pollers hand on (and can be told to fail)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core.alerts import AlertSignal
from psa_chatops.storage.alert_cursors import AlertCursorStore
from tests.fakes.defender import FakeDefender, start_fake_defender
from tests.fakes.graph import tls_files
from tests.fakes.sentinelone import FakeSentinelOne, start_fake_sentinelone


@dataclass
class RecordingSink:
    """The poller's sink: records every batch; ``fail_next`` makes the next calls raise (the ingest failed)."""

    batches: list[list[AlertSignal]] = field(default_factory=list)
    failures: int = 0

    async def __call__(self, signals: list[AlertSignal]) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("ingest failed")
        self.batches.append(signals)

    @property
    def ids(self) -> list[str]:
        return [s.alert_id for batch in self.batches for s in batch]


@pytest.fixture
def alert_sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def cursors(sqlite_engine: AsyncEngine) -> AlertCursorStore:
    return AlertCursorStore(sqlite_engine)


@pytest.fixture
async def s1(aiohttp_server: AiohttpServer) -> FakeSentinelOne:
    return await start_fake_sentinelone(aiohttp_server)


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, ssl.SSLContext, ssl.SSLContext]:
    return tls_files(tmp_path)


@pytest.fixture
async def mde(
    aiohttp_server: AiohttpServer, tls: tuple[Path, ssl.SSLContext, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> FakeDefender:
    fake = await start_fake_defender(aiohttp_server, tls)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_file))  # msal's requests session trusts the fake
    return fake


@pytest.fixture
async def tls_session(mde: FakeDefender) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=mde.client_ssl)) as session:
        yield session
