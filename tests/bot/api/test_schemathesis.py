"""schemathesis over every operation of both API versions, authorised as an admin: no server errors, and every
response (status, content type, headers, body) conforms to the OpenAPI document."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from pytest_aiohttp import AiohttpServer

from psa_chatops.bot import keys
from psa_chatops.bot.api import keys as api_keys
from psa_chatops.bot.app import create_app
from tests.bot.api.conftest import api_settings
from tests.conftest import FrozenClock
from tests.fixtures_directory import seed_directory

CHECKS = ",".join(
    (
        "not_a_server_error",
        "response_schema_conformance",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
    )
)
ST = Path(sys.executable).with_name("st")
GENEROUS = {"api_rate_per_key": 10_000.0, "api_burst_per_key": 100_000, "api_rate_per_ip": 10_000.0}


@pytest.mark.timeout(480)  # every operation of a version, fuzzed: ~100 s for v1 on a quiet machine
@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_every_operation_conforms(
    version: str, aiohttp_server: AiohttpServer, tmp_path: Path, clock: FrozenClock, unused_tcp_port: int
) -> None:
    base = f"http://127.0.0.1:{unused_tcp_port}"
    settings = api_settings(tmp_path, public_url=base, api_burst_per_ip=100_000, **GENEROUS)
    app = create_app(settings, clock=clock)
    await aiohttp_server(app, port=unused_tcp_port)
    await seed_directory(app[keys.ENGINE])
    key = await app[api_keys.API_KEYS].create(name="schemathesis", scopes=["admin"], created_by="test", now=clock.now())
    junit = tmp_path / "junit.xml"
    process = await asyncio.create_subprocess_exec(
        str(ST),
        "run",
        f"{base}/api/{version}/openapi.json",
        "--header",
        f"Authorization: Bearer {key.secret}",
        "--checks",
        CHECKS,
        "--max-examples",
        "15",
        "--seed",
        "20261128",
        "--report",
        "junit",
        "--report-junit-path",
        str(junit),
        "--no-color",
        "--request-timeout",
        "60",  # a loaded CI machine must not turn a slow answer into a failure
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=420)  # ~100 s on a quiet machine
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
    report = ElementTree.parse(junit).getroot()  # noqa: S314 - our own report file, written by st just now
    suites = [report, *report.iter("testsuite")]
    tests = max(int(s.get("tests", 0)) for s in suites)
    failures = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in report.iter("testsuite"))
    assert tests >= 8, text[-3000:]
    assert failures == 0, text[-6000:]
