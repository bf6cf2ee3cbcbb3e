"""``GET /calendar/{token}.ics``: one customer's maintenance windows as iCalendar; ``psa calendar feed``."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import icalendar
import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from typer.testing import CliRunner

from psa_chatops.bot import keys
from psa_chatops.bot.app import create_app
from psa_chatops.bot.cli import app as cli
from psa_chatops.bot.settings import Settings
from psa_chatops.core.directory import MaintenanceWindow
from psa_chatops.storage import calendar_sync
from psa_chatops.storage import directory_writer as writer
from tests.conftest import FrozenClock
from tests.fixtures_directory import seed_directory

MW = MaintenanceWindow(
    "MW-1",
    "CUST-789",
    "Firmware-Update Switches",
    datetime(2026, 11, 28, 19, 0, tzinfo=UTC),
    datetime(2026, 11, 28, 23, 0, tzinfo=UTC),
    ("WS-CLIENT-042",),
)
OTHER = MaintenanceWindow(
    "MW-9",
    "CUST-100",
    "Globex patch night",
    datetime(2026, 12, 1, 20, tzinfo=UTC),
    datetime(2026, 12, 1, 22, tzinfo=UTC),
)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tmp_path: Path, clock: FrozenClock) -> TestClient[Any, Any]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}", run_background=False)
    client = await aiohttp_client(create_app(settings, clock=clock))
    engine = client.server.app[keys.ENGINE]
    await seed_directory(engine)
    async with engine.begin() as conn:
        await writer.add_maintenance_windows(conn, [MW, OTHER])
    return client


async def new_feed(client: TestClient[Any, Any], customer: str = "CUST-789") -> str:
    async with client.server.app[keys.ENGINE].begin() as conn:
        return await calendar_sync.create_feed(conn, customer, created_by="test", now=datetime(2026, 11, 1, tzinfo=UTC))


async def test_the_feed_is_valid_icalendar_with_only_that_customers_windows(client: TestClient[Any, Any]) -> None:
    token = await new_feed(client)
    response = await client.get(f"/calendar/{token}.ics")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    cal = icalendar.Calendar.from_ical(await response.read())
    events = list(cal.walk("VEVENT"))
    assert [str(e["uid"]) for e in events] == ["maintenance-window-MW-1@psa-chatops"]
    (event,) = events
    assert event.decoded("dtstart") == MW.starts_at
    assert event.decoded("dtend") == MW.ends_at
    assert str(event["summary"]) == "Wartungsfenster: Firmware-Update Switches"  # the customer's language
    assert "WS-CLIENT-042" in str(event["description"])


async def test_etag_answers_304_until_a_window_changes(client: TestClient[Any, Any]) -> None:
    token = await new_feed(client)
    first = await client.get(f"/calendar/{token}.ics")
    etag = first.headers["ETag"]
    again = await client.get(f"/calendar/{token}.ics", headers={"If-None-Match": etag})
    assert again.status == 304
    async with client.server.app[keys.ENGINE].begin() as conn:
        await writer.update_window(conn, replace(MW, title="Neu"), calendar=None, now=datetime.now(UTC))
    changed = await client.get(f"/calendar/{token}.ics", headers={"If-None-Match": etag})
    assert changed.status == 200
    assert changed.headers["ETag"] != etag


async def test_unknown_and_revoked_tokens_are_404(client: TestClient[Any, Any]) -> None:
    token = await new_feed(client)
    unknown = await client.get("/calendar/" + "x" * 43 + ".ics")
    async with client.server.app[keys.ENGINE].begin() as conn:
        assert await calendar_sync.revoke_feed(conn, token, now=datetime(2026, 11, 2, tzinfo=UTC))
    revoked = await client.get(f"/calendar/{token}.ics")
    assert unknown.status == revoked.status == 404
    assert await unknown.read() == await revoked.read()


async def test_psa_calendar_feed_prints_a_working_url(
    aiohttp_client: AiohttpClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}"
    monkeypatch.setenv("PSA_DATABASE_URL", url)
    monkeypatch.setenv("PSA_PUBLIC_URL", "https://psa.example")
    client = await aiohttp_client(create_app(Settings(database_url=url, run_background=False), clock=clock))
    await seed_directory(client.server.app[keys.ENGINE])
    runner = CliRunner()
    missing = await asyncio.to_thread(runner.invoke, cli, ["calendar", "feed", "--customer", "CUST-NOPE"])
    assert missing.exit_code == 1
    result = await asyncio.to_thread(runner.invoke, cli, ["calendar", "feed", "--customer", "CUST-789"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("https://psa.example/calendar/"))
    path = line.removeprefix("https://psa.example")
    assert (await client.get(path)).status == 200
    revoke = await asyncio.to_thread(runner.invoke, cli, ["calendar", "revoke", line])
    assert revoke.exit_code == 0, revoke.output
    assert (await client.get(path)).status == 404
