"""The Postman collections generated from the OpenAPI documents (``scripts/postman``) pass under newman against the
running service: every request's status, Content-Type and body match what the spec documents. A tampered copy
fails, which proves the schema assertions really follow the ``$ref``s into the embedded definitions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, Service, require_node, run_tool
from tests.fixtures_directory import ACME, CONTACT, STANDARD, TOM, WS42

pytestmark = pytest.mark.slow
NEWMAN = ROOT / "tools" / "node_modules" / ".bin" / "newman"
REPORT = ROOT / "build" / "newman.json"  # v1's run; other versions: build/newman-<version>.json
# The collection's directory variables default to the sandbox's demo data; this service has the test directory.
DIRECTORY = {
    "customerId": ACME.id,
    "contactId": CONTACT.id,
    "assetId": WS42.id,
    "technicianId": TOM.id,
    "slaPolicyId": STANDARD.id,
}
SCHEMA_TEST = "body matches the documented schema"
_generated: dict[Path, str] = {}  # build dir -> scripts/postman's output: generate once per session


async def collections(build_dir: Path) -> list[Path]:
    require_node()
    if build_dir not in _generated:
        _generated[build_dir] = (
            await run_tool(ROOT / "scripts" / "postman", env={"BUILD_DIR": str(build_dir)})
        ).check()
    found = sorted((build_dir / "postman").glob("psa-chatops-*.postman_collection.json"))
    assert build_dir / "postman" / "psa-chatops-v1.postman_collection.json" in found, _generated[build_dir]
    return found


async def newman(collection: Path, service: Service, version: str, report: Path) -> tuple[str, dict[str, Any]]:
    variables = {"baseUrl": f"{service.url}/api/{version}", "apiKey": service.key, **DIRECTORY}
    await asyncio.to_thread(report.unlink, missing_ok=True)
    result = await run_tool(
        NEWMAN,
        "run",
        collection,
        *(arg for name, value in variables.items() for arg in ("--env-var", f"{name}={value}")),
        *("--reporters", "cli,json", "--reporter-json-export", report),
        *("--timeout-request", "10000", "--color", "off", "--disable-unicode"),
    )
    written = await asyncio.to_thread(report.exists)
    assert written, f"newman wrote no report (exit {result.returncode}):\n{result.output[-8000:]}"
    run: dict[str, Any] = json.loads(await asyncio.to_thread(report.read_text, encoding="utf-8"))["run"]
    run["returncode"] = result.returncode
    return result.output, run


async def test_postman_collections_pass_against_the_running_service(service: Service, build_dir: Path) -> None:
    REPORT.parent.mkdir(exist_ok=True)
    for collection in await collections(build_dir):
        version = collection.name.removeprefix("psa-chatops-").split(".")[0]
        report = REPORT if version == "v1" else REPORT.with_name(f"newman-{version}.json")
        output, run = await newman(collection, service, version, report)
        stats = run["stats"]
        assert run["returncode"] == 0, f"newman failed on {version}:\n{output[-8000:]}"
        assert run["failures"] == [], output[-8000:]
        assert stats["requests"]["failed"] == stats["assertions"]["failed"] == 0
        assert stats["requests"]["total"] >= 8  # at least every ticket operation
        for execution in run["executions"]:  # status; and Content-Type and schema when there is a body
            tests = [a["assertion"] for a in execution.get("assertions", [])]
            expected = 1 if execution["response"]["code"] in (204, 304) else 3
            assert len(tests) == expected, (execution["item"]["name"], tests)
            assert tests[0].startswith("status is"), tests
        names = {execution["item"]["name"] for execution in run["executions"]}
        assert {"Open a ticket", "Get a ticket", "Escalate a ticket"} <= names


async def test_a_response_that_breaks_the_schema_fails(service: Service, build_dir: Path) -> None:
    source = next(c for c in await collections(build_dir) if c.name.startswith("psa-chatops-v1."))
    text = await asyncio.to_thread(source.read_text, encoding="utf-8")
    # Ticket and TicketSummary (in the embedded definitions, reached through $ref) now require a field nobody sends
    tampered = text.replace('\\"required\\":[\\"number\\",', '\\"required\\":[\\"newman_canary\\",\\"number\\",')
    assert tampered != text
    target = build_dir / "postman" / "tampered.postman_collection.json"
    await asyncio.to_thread(target.write_text, tampered, encoding="utf-8")
    output, run = await newman(target, service, "v1", build_dir / "tampered-report.json")
    assert run["returncode"] != 0
    failed = {(f["source"]["name"], f["error"]["test"]) for f in run["failures"]}
    assert failed, output[-4000:]
    assert all(test.startswith(SCHEMA_TEST) for _, test in failed), failed
    assert "newman_canary" in output
    assert {"Open a ticket", "Get a ticket", "List tickets"} <= {name for name, _ in failed}
