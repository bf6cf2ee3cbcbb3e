"""``psa apikey``: create prints the key once, list never shows it, revoke stops it."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from psa_chatops.bot.cli import app
from psa_chatops.storage.api_keys import digest

runner = CliRunner()
KEY = re.compile(r"psa_[a-z0-9]{10}_[A-Za-z0-9_-]{40,}")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "psa.db"
    monkeypatch.setenv("PSA_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    return path


def create(*args: str) -> tuple[str, str]:
    result = runner.invoke(app, ["apikey", "create", *args])
    assert result.exit_code == 0, result.output
    match = KEY.search(result.output)
    assert match is not None, result.output
    return match.group(0), result.output


def listed() -> list[dict[str, object]]:
    result = runner.invoke(app, ["apikey", "list", "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def test_every_apikey_command_has_help() -> None:
    assert "create" in runner.invoke(app, ["apikey", "--help"]).output
    for command in ("create", "list", "revoke"):
        result = runner.invoke(app, ["apikey", command, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.output
    assert "--expires-days" in runner.invoke(app, ["apikey", "create", "--help"]).output


def test_create_prints_the_key_once_and_stores_only_its_hash(db: Path) -> None:
    key, output = create(
        "--name", "RMM", "--scopes", "tickets:read,tickets:write", "--customer", "CUST-789", "--allow", "10.0.0.0/8"
    )
    key_id = key.split("_")[1]
    assert f"id:     {key_id}" in output
    assert "tickets:read tickets:write" in output
    assert "will not be shown again" in output
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT secret_hash, customer_ids, allowed_networks FROM api_keys").fetchone()
    assert row == (digest(key), '["CUST-789"]', '["10.0.0.0/8"]')
    keys = listed()
    assert [k["id"] for k in keys] == [key_id]
    assert keys[0]["scopes"] == ["tickets:read", "tickets:write"]
    table = runner.invoke(app, ["apikey", "list"])
    assert key_id in table.output
    assert key not in table.output
    assert key not in json.dumps(keys)


def test_expiry(db: Path) -> None:
    create("--name", "short", "--scopes", "admin", "--expires-days", "7")
    (key,) = listed()
    assert key["expires_at"] is not None


def test_revoke(db: Path) -> None:
    key, _ = create("--name", "old", "--scopes", "admin")
    key_id = key.split("_")[1]
    result = runner.invoke(app, ["apikey", "revoke", key_id])
    assert result.exit_code == 0, result.output
    assert f"revoked {key_id}" in result.output
    assert listed()[0]["revoked_at"] is not None
    again = runner.invoke(app, ["apikey", "revoke", key_id])
    assert again.exit_code == 1
    assert runner.invoke(app, ["apikey", "revoke", "nope"]).exit_code == 1


def test_bad_input_is_one_clear_line(db: Path) -> None:
    unknown = runner.invoke(app, ["apikey", "create", "--name", "x", "--scopes", "tickets:read,god"])
    assert unknown.exit_code == 2
    assert "unknown scopes: god" in unknown.output
    assert "Traceback" not in unknown.output
    network = runner.invoke(app, ["apikey", "create", "--name", "x", "--scopes", "admin", "--allow", "lan"])
    assert network.exit_code == 2
    assert "not an IP network" in network.output
    missing = runner.invoke(app, ["apikey", "create", "--scopes", "admin"])
    assert missing.exit_code == 2
    assert listed() == []
