"""``build_dispatcher`` picks the Slack notifier from the settings, and ``psa worker`` delivers to (fake) Slack."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.lifecycle import build_dispatcher
from psa_chatops.bot.settings import Settings
from psa_chatops.integrations.recorder import RecordingNotifier
from psa_chatops.integrations.slack_notifier import SlackNotifier, SlackWebhookNotifier
from psa_chatops.storage.outbox import OutboxStore
from tests.conftest import FrozenClock
from tests.fakes.slack_api import start_fake_slack
from tests.integrations.chat_support import run_worker_until, worker_database


async def test_build_dispatcher_registers_the_configured_slack_notifier(
    sqlite_engine: AsyncEngine, http_session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    store = OutboxStore(sqlite_engine)

    bot = build_dispatcher(Settings(slack_bot_token="xoxb-1"), store, http_session, clock, engine=sqlite_engine)
    assert isinstance(bot.notifiers.for_destination("slack:C1"), SlackNotifier)

    hook = Settings(slack_webhook_url="https://hooks.slack.com/services/T/B/x")
    webhook = build_dispatcher(hook, store, http_session, clock)
    assert isinstance(webhook.notifiers.for_destination("slack:C1"), SlackWebhookNotifier)

    assert "slack" not in build_dispatcher(Settings(), store, http_session, clock).notifiers.kinds()
    sandbox = Settings(slack_bot_token="xoxb-1", sandbox=True)
    recorded = build_dispatcher(sandbox, store, http_session, clock, engine=sqlite_engine)
    assert isinstance(recorded.notifiers.for_destination("slack:C1"), RecordingNotifier)
    with pytest.raises(ValueError, match="engine"):
        build_dispatcher(Settings(slack_bot_token="xoxb-1"), store, http_session, clock)


async def test_the_worker_posts_a_root_and_a_threaded_reply_then_closes_cleanly(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_fake_slack(aiohttp_server)
    url = await worker_database(tmp_path, "slack:C0123")
    settings = Settings(
        database_url=url,
        dispatcher_poll_seconds=0.05,
        sla_sweep_seconds=3600,
        log_format="text",
        slack_bot_token="xoxb-worker",
        slack_api_url=fake.base_url,
    )
    await run_worker_until(settings, lambda: len(fake.state.posted("C0123")) == 2)
    root, reply = fake.state.posted("C0123")
    assert reply["thread_ts"] == root["ts"]
    assert {call.token for call in fake.state.calls} == {"xoxb-worker"}
    assert len(fake.state.of("chat.update")) == 1  # the shutdown grace let the pending root edit finish
