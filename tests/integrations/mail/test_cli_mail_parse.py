"""``psa mail parse``: JSON for an RFC 822 file or a pasted body, ``--body-only``, stdin, and directory matching
against the demo data when a database is set up."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from psa_chatops.bot.cli import app

runner = CliRunner()


def test_rfc822_file_as_json(corpus: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no database here: no directory matching, and none is created
    result = runner.invoke(app, ["mail", "parse", str(corpus / "zammad/mail005.box")])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["directory_matching"] is False
    assert document["ticket_number"] == 11162
    assert document["body"].startswith("Hallo Martin,")
    assert document["quote"].startswith("Am 07.05.2012")
    assert document["signature"] == "Grüße aus Bonn\n\nJohn & Marc"
    assert document["flags"]["triage"] is True
    assert not (tmp_path / "psa.db").exists()


def test_body_only_from_stdin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    text = "#priority=high\nDer Server ist ausgefallen.\n\nAm 1.3.2026 um 9:00 schrieb A <a@b.example>:\n> alt\n"
    result = runner.invoke(app, ["mail", "parse", "--body-only", "-"], input=text)
    assert result.exit_code == 0, result.output
    assert result.stdout == "Der Server ist ausgefallen.\n"


def test_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["mail", "parse", str(tmp_path / "nope.eml")])
    assert result.exit_code == 2
    assert "cannot read" in result.output
    assert "Traceback" not in result.output


def test_sender_matched_against_the_demo_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "psa.db"
    monkeypatch.setenv("PSA_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    seeded = runner.invoke(app, ["demo", "seed", "--tickets", "0"])
    assert seeded.exit_code == 0, seeded.output
    with sqlite3.connect(database) as conn:
        contact_id, customer_id, address = conn.execute(
            "SELECT id, customer_id, email FROM contacts LIMIT 1"
        ).fetchone()
        asset_id, hostname = conn.execute(
            "SELECT id, hostname FROM assets WHERE customer_id = ? LIMIT 1", (customer_id,)
        ).fetchone()
    raw = f"From: {address}\nSubject: dringend: {hostname}\n\n{hostname} startet nicht.\n"
    result = runner.invoke(app, ["mail", "parse", "-"], input=raw)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["directory_matching"] is True
    assert (document["customer_id"], document["contact_id"]) == (customer_id, contact_id)
    assert document["asset_id"] == asset_id
    assert document["priority"] == "high"
    unknown = json.loads(runner.invoke(app, ["mail", "parse", "-"], input="From: x@nowhere.example\n\nHi\n").stdout)
    assert unknown["flags"]["triage"] is True


def test_help_names_the_command() -> None:
    result = runner.invoke(app, ["mail", "parse", "--help"])
    assert result.exit_code == 0
    assert "--body-only" in result.output
