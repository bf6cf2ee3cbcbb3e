"""The ``psa`` command line: help, settings errors, demo seed, events verify, outbox and doctor."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from psa_chatops.bot.cli import app

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "psa.db"
    monkeypatch.setenv("PSA_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    return path


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "worker", "migrate", "sandbox", "doctor", "events", "outbox", "demo"):
        assert command in result.output


def test_invalid_setting_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSA_PORT", "eighty")
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 2
    assert "PSA_PORT" in result.output
    assert "Traceback" not in result.output


def test_unsupported_database_url_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSA_DATABASE_URL", "mysql://root@localhost/psa")
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 2
    assert "PSA_DATABASE_URL" in result.output
    assert "postgresql+asyncpg://" in result.output


def test_seed_is_idempotent_and_verify_detects_drift(db: Path) -> None:
    first = runner.invoke(app, ["demo", "seed", "--tickets", "15"])
    assert first.exit_code == 0, first.output
    assert "15 tickets" in first.output
    again = runner.invoke(app, ["demo", "seed", "--tickets", "15"])
    assert "already present" in again.output
    ok = runner.invoke(app, ["events", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "15 tickets checked, 0 drift(s)" in ok.output
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE tickets SET title = 'tampered' WHERE number = 12003")
    drift = runner.invoke(app, ["events", "verify"])
    assert drift.exit_code == 1
    assert "#12003 title" in drift.output


def test_outbox_list_and_replay(db: Path) -> None:
    assert runner.invoke(app, ["demo", "seed", "--tickets", "3"]).exit_code == 0
    listed = runner.invoke(app, ["outbox", "list", "--status", "pending", "--limit", "5"])
    assert listed.exit_code == 0
    assert "TicketOpened" in listed.output or "pending" in listed.output
    assert runner.invoke(app, ["outbox", "list", "--status", "bogus"]).exit_code == 2
    assert runner.invoke(app, ["outbox", "replay"]).exit_code == 2
    replayed = runner.invoke(app, ["outbox", "replay", "--dead"])
    assert replayed.exit_code == 0
    assert "0 row(s)" in replayed.output


def test_doctor_reports_an_unreachable_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSA_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/psa")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "database" in result.output
    assert "fix:" in result.output


def test_doctor_passes_on_a_migrated_sandbox(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSA_SANDBOX", "1")
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "migrations: at" in result.output


def test_doctor_checks_redis_and_the_oauth2_signing_key(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSA_SANDBOX", "1")
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    monkeypatch.setenv("PSA_REDIS_URL", f"redis://:topsecret@127.0.0.1:{dead}/0")
    monkeypatch.setenv("PSA_JWT_PRIVATE_KEY", "not a pem")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "redis: unreachable" in result.output
    assert "oauth2 signing key" in result.output
    assert "topsecret" not in result.output
