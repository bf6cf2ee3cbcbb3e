"""``psa try teams``: a message through the real service, its card printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from psa_chatops.bot import cli
from psa_chatops.bot.settings import Settings
from psa_chatops.bot.teams import try_it


async def test_try_runs_the_real_handlers(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}", run_background=False)
    captured = await try_it.run(settings, try_it.Trial("help"))
    [card] = [c for a in captured for c in try_it.cards(a)]
    assert card["type"] == "AdaptiveCard"
    printed = try_it.report(captured)
    assert "Adaptive Cards Designer" in printed
    assert json.loads(printed.split("--- card\n", 1)[1].rsplit("\nAdaptive Cards Designer", 1)[0]) == card


def test_the_cli_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSA_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}")
    result = CliRunner().invoke(cli.app, ["try", "teams", "help"])
    assert result.exit_code == 0, result.output
    assert '"type": "AdaptiveCard"' in result.output
