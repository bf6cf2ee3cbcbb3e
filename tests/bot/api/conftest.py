"""A running service with the API (SQLite file, the fixed test directory) and a factory for API keys."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from psa_chatops.bot import keys
from psa_chatops.bot.api import keys as api_keys
from psa_chatops.bot.app import create_app
from psa_chatops.bot.settings import Settings
from tests.conftest import FrozenClock
from tests.fixtures_directory import seed_directory

ALL_SCOPES = ("tickets:read", "tickets:write", "directory:read", "directory:write", "routing:read", "routing:write")


@dataclass
class Api:
    """The test client plus the app, with helpers that build headers for a key."""

    client: TestClient[Any, Any]

    @property
    def app(self) -> Any:
        return self.client.server.app

    async def key(
        self,
        *scopes: str,
        customers: list[str] | None = None,
        networks: list[str] | None = None,
        name: str = "test key",
    ) -> str:
        store = self.app[api_keys.API_KEYS]
        created = await store.create(
            name=name,
            scopes=list(scopes or ALL_SCOPES),
            created_by="technician:alice",
            now=self.app[keys.CLOCK].now(),
            customer_ids=customers,
            allowed_networks=networks,
        )
        return created.secret

    async def auth(self, *scopes: str, customers: list[str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.key(*scopes, customers=customers)}"}


MakeApi = Callable[..., Awaitable[Api]]


def api_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}",
        "sandbox": True,
        "sla_sweep_seconds": 3600,
        "run_background": False,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_api(aiohttp_client: AiohttpClient, tmp_path: Path, clock: FrozenClock) -> MakeApi:
    async def make(**overrides: Any) -> Api:
        app = create_app(api_settings(tmp_path, **overrides), clock=clock)
        client = await aiohttp_client(app)
        await seed_directory(app[keys.ENGINE])
        return Api(client)

    return make


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api()


@pytest.fixture
def closed_port() -> int:
    """A local port nobody listens on (bound, then released, so the OS refuses connections to it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
