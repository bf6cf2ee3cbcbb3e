"""``psa try slack '/psa ticket 12345'``: run a slash command through the real service and handlers, against the
configured database, without a Slack workspace, and show every message it produced.

The service runs in-process on a loopback port with a freshly generated signing secret, so the request passes
Bolt's real signature check. Slack's side is a small recorder on another loopback port: it answers the Web API
(``views.open``, ``chat.postMessage``, ...) and the ``response_url`` like Slack would and keeps what it got.
Nothing leaves the machine. Writes (``/psa note``, ``/psa close``) really happen in the configured database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from psa_chatops.bot import keys
from psa_chatops.bot.app import create_app
from psa_chatops.bot.settings import Settings
from psa_chatops.bot.slack.app import lazy_runner
from psa_chatops.bot.slack.client import BOLT
from psa_chatops.bot.slack.identity import SlackIdentity

BUILDER_URL = "https://app.slack.com/block-kit-builder/#"
RECORDER: web.AppKey[list[Captured]] = web.AppKey("captured")


@dataclass(frozen=True)
class Captured:
    """One thing the command sent: the ack, a ``response_url`` post or a Web API call, with its payload."""

    via: str
    payload: dict[str, Any]

    def builder_url(self) -> str:
        surface = self.payload.get("view") if isinstance(self.payload.get("view"), dict) else None
        document = surface or {"blocks": self.payload.get("blocks") or []}
        return BUILDER_URL + quote(json.dumps(document, separators=(",", ":"), ensure_ascii=False))


@dataclass
class Trial:
    text: str
    user_id: str = "UTRY"
    channel_id: str = "C0123TRY0"
    technician: str | None = None  # link the trial user to this technician first (outside the sandbox)
    captured: list[Captured] = field(default_factory=list)


def sign(secret: str, body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


async def _record(request: web.Request) -> web.Response:
    body: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        found = await request.json()
        body.update(found if isinstance(found, dict) else {})
    else:
        body.update(parse_qsl((await request.read()).decode()))
    for name in ("view", "blocks", "unfurls"):
        if isinstance(body.get(name), str):
            body[name] = json.loads(body[name])
    via = request.match_info.get("method", "response_url")
    request.app[RECORDER].append(Captured(via, body))
    if via == "response_url":
        return web.Response(text="ok")
    return web.json_response({"ok": True, "ts": "1.000001", "channel": body.get("channel"), "view": {"id": "VTRY"}})


def recorder() -> web.Application:
    app = web.Application()
    app[RECORDER] = []
    app.router.add_route("*", "/api/{method}", _record)
    app.router.add_post("/response", _record)
    return app


def command_form(trial: Trial, response_url: str) -> str:
    command, _, text = trial.text.strip().partition(" ")
    return urlencode(
        {
            "command": command or "/psa",
            "text": text,
            "user_id": trial.user_id,
            "user_name": "try",
            "channel_id": trial.channel_id,
            "team_id": "T0TRY",
            "response_url": response_url,
            "trigger_id": f"try.{secrets.token_hex(8)}",
        }
    )


async def run(settings: Settings, trial: Trial) -> list[Captured]:
    """Every message the command produced, the ack first."""
    slack_app = recorder()
    slack_side = TestServer(slack_app)
    await slack_side.start_server()
    try:
        secret = secrets.token_hex(16)
        service = service_settings(settings, secret, str(slack_side.make_url("/api/")))
        ack = await _send(service, secret, trial, str(slack_side.make_url("/response")))
    finally:
        await slack_side.close()
    recorded: list[Captured] = slack_app[RECORDER]
    return [*ack, *recorded]


def service_settings(settings: Settings, secret: str, api_url: str) -> Settings:
    return settings.model_copy(
        update={"slack_signing_secret": SecretStr(secret), "slack_api_url": api_url, "run_background": False}
    )


async def _send(settings: Settings, secret: str, trial: Trial, response_url: str) -> list[Captured]:
    """The ack (the HTTP answer), once every lazy listener the command started has finished."""
    async with TestClient(TestServer(create_app(settings))) as client:
        if trial.technician:
            await link(client.app, trial.user_id, trial.technician)
        body = command_form(trial, response_url)
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(secret, body)}
        response = await client.post("/slack/events", data=body, headers=headers)
        ack = await response.json() if response.content_length else {}
        bolt = client.app[BOLT]
        if bolt is not None:
            await lazy_runner(bolt).settle()
    return [Captured("ack", ack)] if ack else []


async def link(app: web.Application, user_id: str, technician_id: str) -> None:
    identity = SlackIdentity(app[keys.ENGINE], app[keys.WRITER], app[keys.CLOCK], sandbox_enabled=False)
    await identity.link(user_id, technician_id)


def report(captured: list[Captured]) -> str:
    """What ``psa try slack`` prints: each message's JSON and its Block Kit Builder link."""
    if not captured:
        return "The command produced no message."
    parts = []
    for item in captured:
        parts.append(f"--- {item.via}")
        parts.append(json.dumps(item.payload, indent=2, ensure_ascii=False, default=str))
        parts.append(f"Block Kit Builder: {item.builder_url()}")
    return "\n".join(parts)
