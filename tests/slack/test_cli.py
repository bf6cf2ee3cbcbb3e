"""``psa try slack`` and ``psa manifest slack``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from psa_chatops.bot.cli import app
from psa_chatops.bot.slack import manifest
from psa_chatops.bot.slack.oauth import BOT_SCOPES
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.migrations import upgrade
from tests.conftest import SHARED_CORPORA
from tests.fixtures_directory import seed_directory

runner = CliRunner()
SCHEMA = SHARED_CORPORA / "slack" / "schemas" / "schemastore-slack-app-manifest.json"


@pytest.fixture
async def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}"
    engine = await asyncio.to_thread(create_engine, url)
    await upgrade(engine)
    await seed_directory(engine)
    await engine.dispose()
    monkeypatch.setenv("PSA_DATABASE_URL", url)


def invoke(*args: str) -> str:
    """The CLI runs its own event loop: run it in a worker thread, as a terminal would run it."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


async def test_try_slack_prints_the_help_and_a_block_kit_link(seeded: None) -> None:
    output = await asyncio.to_thread(invoke, "try", "slack", "/psa help")
    assert "--- ack" in output
    assert "/psa ticket" in output
    assert "https://app.slack.com/block-kit-builder/#" in output


async def test_try_slack_runs_a_real_query_as_a_technician(seeded: None) -> None:
    output = await asyncio.to_thread(invoke, "try", "slack", "/psa mine", "--technician", "alice")
    assert "My open tickets" in output or "open tickets" in output


async def test_try_slack_shows_the_modal_a_command_opens(seeded: None) -> None:
    output = await asyncio.to_thread(invoke, "try", "slack", "/psa ticket new Printer", "--technician", "dora")
    assert "--- views.open" in output
    assert "modal.new_ticket" in output


def test_manifest_slack_has_our_urls_and_validates() -> None:
    document = json.loads(invoke("manifest", "slack", "--url", "https://psa.example.com/"))
    assert document["features"]["slash_commands"][0]["url"] == "https://psa.example.com/slack/events"
    assert document["settings"]["interactivity"]["message_menu_options_url"] == "https://psa.example.com/slack/events"
    assert document["features"]["unfurl_domains"] == ["psa.example.com"]
    assert document["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)
    assert "chat:write.public" not in BOT_SCOPES
    if not SCHEMA.exists():
        pytest.skip(f"the Slack manifest schema is not here: {SCHEMA}")
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))


def test_manifest_needs_https() -> None:
    result = runner.invoke(app, ["manifest", "slack", "--url", "http://localhost:8080"])
    assert result.exit_code == 2
    assert "https" in result.output


async def test_manifest_template_is_read_off_the_loop() -> None:
    document = await manifest.load("https://psa.example.com")
    assert document["oauth_config"]["redirect_urls"] == ["https://psa.example.com/slack/oauth_redirect"]
