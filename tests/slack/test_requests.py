"""One request URL, Bolt's signature checks, and what a bad request gets (never a traceback)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.slack.conftest import Slack, corpus, sign


async def test_url_verification(slack: Slack) -> None:
    body = corpus("events_api_url_verification.json").read_text()
    response = await slack.post(body)
    assert response.status == 200
    assert (await response.json())["challenge"] == json.loads(body)["challenge"]


async def test_bad_signature_is_401_and_logged(slack: Slack, caplog: pytest.LogCaptureFixture) -> None:
    body = corpus("events_api_url_verification.json").read_text()
    caplog.set_level(logging.WARNING)
    response = await slack.post(body, signed=False, headers=sign(body, secret="not-the-secret"))
    assert response.status == 401
    assert "bad or stale signature" in caplog.text


async def test_stale_timestamp_is_401(slack: Slack) -> None:
    body = corpus("events_api_url_verification.json").read_text()
    headers = sign(body, timestamp=int(time.time()) - 60 * 10)
    response = await slack.post(body, signed=False, headers=headers)
    assert response.status == 401


async def test_unsigned_request_is_refused_when_a_secret_is_set(make_slack: Callable[..., Any]) -> None:
    slack: Slack = await make_slack(sandbox=True)
    response = await slack.post(corpus("events_api_url_verification.json").read_text(), signed=False)
    assert response.status == 401


async def test_unsigned_request_is_accepted_only_in_sandbox_without_secret(make_slack: Callable[..., Any]) -> None:
    slack: Slack = await make_slack(sandbox=True, secret=None)
    response = await slack.post(corpus("events_api_url_verification.json").read_text(), signed=False)
    assert response.status == 200


async def test_without_secret_outside_the_sandbox_slack_is_off(make_slack: Callable[..., Any]) -> None:
    slack: Slack = await make_slack(secret=None)
    response = await slack.post(corpus("events_api_url_verification.json").read_text(), signed=False)
    assert response.status == 503


@pytest.mark.parametrize("body", ["payload=%7Bnot-json", "payload=%5B1%2C2%5D", '{"type": '])
async def test_malformed_payload_is_400_without_traceback(slack: Slack, body: str) -> None:
    response = await slack.post(body)
    assert response.status == 400
    text = await response.text()
    assert "Traceback" not in text
    assert "malformed" in text
