"""The Slack harness: the real service (``create_app``) with Slack pointed at the loopback fake, requests signed
with Slack's v0 scheme, payloads built from the recorded Bolt/Slack corpora (``../shared/corpora/slack``).

Slack users: UALICE (admin alice), UDORA (dispatcher dora), UTOM (technician tom) are linked; UNEW is not.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient, AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot import keys
from psa_chatops.bot.app import create_app
from psa_chatops.bot.settings import Settings
from psa_chatops.bot.slack.app import lazy_runner
from psa_chatops.bot.slack.client import BOLT
from psa_chatops.core import commands as c
from psa_chatops.handlers.views import TicketView
from psa_chatops.storage import directory_writer as w
from tests.conftest import SHARED_CORPORA, FrozenClock
from tests.fakes.slack_api import FakeSlack, start_fake_slack
from tests.fixtures_directory import seed_directory

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CORPUS = SHARED_CORPORA / "slack" / "bolt_python"
USERS = {"UALICE": "alice", "UDORA": "dora", "UTOM": "tom"}


def corpus(name: str) -> Path:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"the Slack corpus is not here: {path} (../shared/corpora/slack/bolt_python)")
    return path


def sign(body: str, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 request signature: HMAC-SHA256 over "v0:{timestamp}:{body}"."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def settings_for(tmp_path: Path, fake: FakeSlack, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}",
        "run_background": False,
        "public_url": "https://psa.example.com",
        "slack_signing_secret": SECRET,
        "slack_bot_token": "xoxb-test",
        "slack_api_url": fake.base_url,
        **overrides,
    }
    return Settings(**values)


async def link_users(engine: AsyncEngine, clock: FrozenClock) -> None:
    async with engine.begin() as conn:
        for user, tech in USERS.items():
            await w.link_actor(
                conn, channel="slack", external_id=user, kind="technician", target_id=tech, now=clock.now()
            )


@dataclass
class Slack:
    """Sends Slack's requests to the service and reads what it did."""

    client: TestClient[Any, Any]
    fake: FakeSlack
    secret: str | None = SECRET

    @property
    def engine(self) -> AsyncEngine:
        return self.client.app[keys.ENGINE]

    async def post(self, body: str, *, headers: dict[str, str] | None = None, signed: bool = True) -> ClientResponse:
        content_type = "application/json" if body.startswith("{") else "application/x-www-form-urlencoded"
        all_headers = {
            "Content-Type": content_type,
            **(sign(body, secret=self.secret) if signed and self.secret else {}),
        }
        return await self.client.post("/slack/events", data=body.encode(), headers={**all_headers, **(headers or {})})

    async def command(self, text: str, *, user: str = "UALICE", channel: str = "C0123ABCD", trigger: str = "") -> Any:
        form = dict(parse_qsl(corpus("slash_command.form.txt").read_text().strip()))
        form.update(
            command="/psa",
            text=text,
            user_id=user,
            channel_id=channel,
            team_id="T0PSA",
            response_url=self.fake.response_url("command"),
            trigger_id=trigger or f"trigger-{time.monotonic_ns()}",
        )
        form.pop("enterprise_id", None)
        response = await self.post(urlencode(form))
        assert response.status == 200, await response.text()
        return await response.json() if response.content_length else {}

    async def interaction(self, payload: dict[str, Any], **kwargs: Any) -> ClientResponse:
        return await self.post(urlencode({"payload": json.dumps(payload)}), **kwargs)

    async def settle(self) -> None:
        """Wait until every lazy listener finished (never a sleep)."""
        bolt = self.client.app[BOLT]
        assert bolt is not None
        await lazy_runner(bolt).settle()

    def calls(self, method: str) -> list[Any]:
        return self.fake.state.of(method)

    async def open_ticket(self, title: str = "Printer on fire", *, user: str = "tech:alice") -> TicketView:
        from psa_chatops.bot.bootstrap import actor_for, new_context

        actor = await actor_for(self.engine, self.client.app[keys.CLOCK], channel="slack", external_id="UALICE")
        command = c.OpenTicket(title=title, customer_id="CUST-789", description="It burns.")
        view: TicketView = await self.client.app[keys.BUS].handle(command, new_context(actor))
        return view


def block_actions(
    fake: FakeSlack, *, action_id: str, value: str = "", user: str = "UALICE", block_id: str = "b", **extra: Any
) -> dict[str, Any]:
    payload = deepcopy(json.loads(corpus("block_actions.json").read_text()))
    payload["user"] = {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0PSA"}
    payload["team"] = {"id": "T0PSA", "domain": "psa-test"}
    payload["response_url"] = fake.response_url("action")
    payload["trigger_id"] = f"trigger-{time.monotonic_ns()}"
    payload["actions"] = [
        {
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "type": "button",
            "action_ts": f"{time.time():.6f}",
            **extra,
        }
    ]
    return payload


def view_submission(callback_id: str, values: dict[str, Any], *, user: str = "UALICE", **view: Any) -> dict[str, Any]:
    payload = deepcopy(json.loads(corpus("view_submission.json").read_text()))
    payload["user"] = {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0PSA"}
    payload["team"] = {"id": "T0PSA", "domain": "psa-test"}
    payload["view"].update(callback_id=callback_id, state={"values": values}, **view)
    payload["view"].setdefault("id", f"V{time.monotonic_ns()}")
    return payload


def text_value(block_action: tuple[str, str], value: str) -> dict[str, Any]:
    block, action = block_action
    return {block: {action: {"type": "plain_text_input", "value": value}}}


def selected(block_action: tuple[str, str], value: str) -> dict[str, Any]:
    block, action = block_action
    return {block: {action: {"type": "static_select", "selected_option": {"value": value}}}}


def event_callback(event: dict[str, Any], *, event_id: str = "Ev0001") -> dict[str, Any]:
    payload = deepcopy(json.loads(corpus("events_api_message.json").read_text()))
    payload.update(team_id="T0PSA", event_id=event_id, event=event)
    payload.pop("enterprise_id", None)
    return payload


async def eventually(check: Callable[[], bool], *, within: float = 5.0) -> None:
    """Poll a condition (concurrent effects), failing after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - a polling assert on a fake's record; there is no event to wait on
            await asyncio.sleep(0.01)


@pytest.fixture
async def fake_slack(aiohttp_server: AiohttpServer) -> FakeSlack:
    return await start_fake_slack(aiohttp_server)


@pytest.fixture
def make_slack(
    aiohttp_client: AiohttpClient, tmp_path: Path, clock: FrozenClock, fake_slack: FakeSlack
) -> Callable[..., Any]:
    async def make(*, link: bool = True, secret: str | None = SECRET, **overrides: Any) -> Slack:
        settings = settings_for(tmp_path, fake_slack, slack_signing_secret=secret, **overrides)
        client = await aiohttp_client(create_app(settings, clock=clock))
        await seed_directory(client.app[keys.ENGINE])
        if link:
            await link_users(client.app[keys.ENGINE], clock)
        return Slack(client, fake_slack, secret)

    return make


@pytest.fixture
async def slack(make_slack: Callable[..., Any]) -> Slack:
    made: Slack = await make_slack()
    return made


def limits(payload: dict[str, Any], **kwargs: Any) -> None:
    """Slack's Block Kit limits on everything we emit (the cards developers' checker, when it is there)."""
    try:
        from tests.cards.slack_limits import assert_within_slack_limits
    except ImportError:  # the renderers' test helper is not in this checkout yet
        assert len(payload.get("blocks") or []) <= 100
        return
    assert_within_slack_limits(payload, **kwargs)
