"""``psa report send``: the dry run prints what would be sent and queues nothing; without mail settings a real
run refuses with the fix; a real run queues the mails once."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from psa_chatops.core import commands as c
from psa_chatops.core.priorities import Priority
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.migrations import upgrade
from tests.conftest import FrozenClock
from tests.integrations.smtp.support import Desk, seed

runner = CliRunner()


async def _prepare(url: str) -> None:
    engine = await asyncio.to_thread(create_engine, url)  # may create the folder
    await upgrade(engine)
    await seed(engine)
    clock = FrozenClock(datetime(2020, 1, 6, 9, 0, tzinfo=UTC))  # long ago: every SLA breached by now
    desk = Desk(engine, clock)
    command = c.OpenTicket(title="Firewall [ohne] Strom", customer_id="CUST-789", priority=Priority.HIGH)
    await desk.bus.handle(command, await desk.as_("dora"))
    await engine.dispose()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "psa.db"
    monkeypatch.setenv("PSA_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    asyncio.run(_prepare(f"sqlite+aiosqlite:///{path}"))
    return path


def report_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox WHERE ticket_number IS NULL").fetchone()[0])


def test_a_dry_run_prints_and_queues_nothing(database: Path) -> None:
    from psa_chatops.bot.cli import app

    result = runner.invoke(app, ["report", "send", "daily-sla", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert re.search(r"tom@msp\.example\s+SlaDigest", result.output)
    assert "breached=1 at_risk=0" in result.output
    assert "3 mail(s) would be sent (dry run: nothing queued)" in result.output
    assert report_rows(database) == 0


def test_a_real_run_needs_mail_settings_and_queues_once(database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from psa_chatops.bot.cli import app

    refused = runner.invoke(app, ["report", "send", "weekly-customer"])
    assert refused.exit_code == 2
    assert "PSA_MAIL_FROM" in refused.output
    monkeypatch.setenv("PSA_MAIL_FROM", "desk@msp.example")
    monkeypatch.setenv("PSA_SMTP_URL", "smtp://127.0.0.1:25")
    first = runner.invoke(app, ["report", "send", "daily-sla"])
    second = runner.invoke(app, ["report", "send", "daily-sla"])
    assert "3 mail(s), 3 queued" in first.output
    assert "3 mail(s), 0 queued" in second.output
    assert report_rows(database) == 3
