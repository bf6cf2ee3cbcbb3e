"""The fake Slack Web API answers slack-sdk the way Slack does (so the Slack tests test our code, not the fake)."""

from __future__ import annotations

import pytest
from pytest_aiohttp import AiohttpServer
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import start_fake_slack


async def test_slack_sdk_talks_to_the_fake(aiohttp_server: AiohttpServer) -> None:
    fake = await start_fake_slack(aiohttp_server)
    client = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
    posted = await client.chat_postMessage(channel="C1", text="hi", blocks=[{"type": "divider"}])
    assert posted["ok"] is True
    assert posted["ts"]
    call = fake.state.of("chat.postMessage")[0]
    assert call.token == "xoxb-test"
    assert call.blocks() == [{"type": "divider"}]
    fake.state.add_user("U1", email="tom@msp.example")
    assert (await client.users_info(user="U1"))["user"]["profile"]["email"] == "tom@msp.example"


async def test_rate_limits_and_errors_look_like_slacks(aiohttp_server: AiohttpServer) -> None:
    fake = await start_fake_slack(aiohttp_server)
    client = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
    fake.state.rate_limit_next(retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel="C1", text="hi")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    fake.state.error_next("chat.update", "message_not_found")
    with pytest.raises(SlackApiError) as missing:
        await client.chat_update(channel="C1", ts="1.1", text="x")
    assert missing.value.response["error"] == "message_not_found"
