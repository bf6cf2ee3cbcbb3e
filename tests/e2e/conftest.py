"""End-to-end: artefacts generated from the OpenAPI document (Postman collection, SDKs) used against the real service.

The service listens on a loopback port (``aiohttp_server``) with the test directory and an API key with every scope;
the generators and newman run as asyncio subprocesses, so the server keeps answering while they work. Artefacts go
to a per-session temporary ``BUILD_DIR``: a developer's ``make postman``/``make sdk`` in the same checkout is not
disturbed. The npm tools are installed into ``tools/node_modules`` by the scripts on first use (needs the registry).
Without node/npm the tests that need them skip, except under CI, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_aiohttp import AiohttpServer

from psa_chatops.bot import keys
from psa_chatops.bot.api import keys as api_keys
from psa_chatops.bot.api.principal import SCOPES
from psa_chatops.bot.app import create_app
from tests.bot.api.conftest import api_settings
from tests.conftest import FrozenClock
from tests.fixtures_directory import seed_directory

ROOT = Path(__file__).resolve().parents[2]
TOOL_TIMEOUT = 90.0  # seconds; the first run installs the npm tools


def require_node() -> None:
    missing = [program for program in ("node", "npm") if shutil.which(program) is None]
    if missing:
        reason = f"{' and '.join(missing)} not on PATH: the Postman/TypeScript artefacts need Node.js 18+"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass(frozen=True)
class Tool:
    returncode: int
    output: str

    def check(self) -> str:
        assert self.returncode == 0, f"exit {self.returncode}:\n{self.output[-6000:]}"
        return self.output


async def run_tool(*args: str | Path, env: dict[str, str] | None = None) -> Tool:
    """A subprocess in the checkout, awaited without blocking the loop; stdout and stderr together."""
    process = await asyncio.create_subprocess_exec(
        *(str(a) for a in args),
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(TOOL_TIMEOUT):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Tool(process.returncode, output.decode(errors="replace"))


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("build")


@dataclass(frozen=True)
class Service:
    url: str  # http://127.0.0.1:<port>, without the API root
    key: str  # an API key with every scope


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def service(aiohttp_server: AiohttpServer, tmp_path: Path, clock: FrozenClock) -> Service:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(api_settings(tmp_path, public_url=url), clock=clock)
    await aiohttp_server(app, host="127.0.0.1", port=port)
    await seed_directory(app[keys.ENGINE])
    created = await app[api_keys.API_KEYS].create(
        name="e2e",
        scopes=sorted(SCOPES),
        created_by="technician:alice",
        now=clock.now(),
    )
    return Service(url, created.secret)
