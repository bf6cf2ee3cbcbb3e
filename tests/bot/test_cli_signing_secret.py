"""``psa apikey create --signing-secret`` and ``psa apikey signing-secret``: the secret is printed once, stored for
verification, rotated and removed."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from psa_chatops.bot.cli import app
from tests.bot.test_cli_apikey import create, db

__all__ = ["db"]  # the fixture, shared with the other apikey tests
runner = CliRunner()
SECRET = re.compile(r"signing secret: ([A-Za-z0-9_-]{40,})")


def stored_secret(path: Path) -> str | None:
    with sqlite3.connect(path) as conn:
        (value,) = conn.execute("SELECT signing_secret FROM api_keys").fetchone()
    return value if value is None else str(value)


def test_create_with_a_signing_secret_prints_it_once(db: Path) -> None:
    _, output = create("--name", "SOC", "--scopes", "alerts:write", "--signing-secret")

    match = SECRET.search(output)
    assert match is not None, output
    assert stored_secret(db) == match.group(1)


def test_a_key_without_the_flag_has_no_secret(db: Path) -> None:
    create("--name", "RMM", "--scopes", "tickets:read")

    assert stored_secret(db) is None


def test_rotate_and_clear(db: Path) -> None:
    key, output = create("--name", "SOC", "--scopes", "alerts:write", "--signing-secret")
    key_id = key.split("_")[1]
    old = SECRET.search(output)
    assert old is not None

    rotated = runner.invoke(app, ["apikey", "signing-secret", key_id])
    new = rotated.output.splitlines()[0]
    cleared = runner.invoke(app, ["apikey", "signing-secret", key_id, "--clear"])
    missing = runner.invoke(app, ["apikey", "signing-secret", "nosuchkey0"])

    assert rotated.exit_code == 0
    assert new != old.group(1)
    assert len(new) >= 40
    assert cleared.exit_code == 0
    assert stored_secret(db) is None
    assert missing.exit_code == 1
    assert "no API key" in missing.output
