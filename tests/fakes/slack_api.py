"""A loopback fake of the Slack Web API that speaks its wire format, for ``aiohttp_server`` on a random port.

Point slack-sdk at it with ``AsyncWebClient(token=..., base_url=fake.base_url)`` (``SLACK_API_URL`` in the
service). Every call is recorded (method name, form or JSON arguments, headers) before any injected failure
applies. Answers follow Slack's documented shapes: ``{"ok": true, ...}`` with a fresh ``ts`` for messages,
``{"ok": false, "error": ...}`` for API errors, HTTP 429 with ``Retry-After`` for rate limits.

Failures: ``rate_limit_next(n, retry_after=1)``, ``fail_next(n, status=500)``, ``error_next(method, error)``
(``ok: false``), ``slow(seconds)`` (for timeouts). Users for ``users.info`` / ``users.lookupByEmail`` come from
``add_user``. The state lives on the app under a typed ``web.AppKey``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer


@dataclass(frozen=True)
class SlackCall:
    method: str
    args: dict[str, Any]
    token: str | None
    at: float

    def blocks(self) -> list[dict[str, Any]]:
        raw = self.args.get("blocks") or []
        return json.loads(raw) if isinstance(raw, str) else list(raw)


@dataclass
class SlackState:
    calls: list[SlackCall] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    team_id: str = "T0PSA"
    bot_user_id: str = "U0BOT"
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _failures: deque[tuple[int, str | None]] = field(default_factory=deque)
    _errors: dict[str, deque[str]] = field(default_factory=dict)
    delay: float = 0.0

    def rate_limit_next(self, n: int = 1, *, retry_after: int = 1) -> None:
        self._failures.extend([(429, str(retry_after))] * n)

    def fail_next(self, n: int = 1, *, status: int = 500) -> None:
        self._failures.extend([(status, None)] * n)

    def error_next(self, method: str, error: str) -> None:
        self._errors.setdefault(method, deque()).append(error)

    def slow(self, seconds: float) -> None:
        self.delay = seconds

    def add_user(
        self, user_id: str, *, email: str, name: str = "", tz: str = "Europe/Berlin", locale: str = "de-DE"
    ) -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name or email.split("@")[0],
            "real_name": name or email,
            "tz": tz,
            "locale": locale,
            "is_bot": False,
            "profile": {"email": email, "real_name": name or email, "display_name": name},
        }

    def of(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"


SLACK_STATE = web.AppKey("slack_state", SlackState)


async def _arguments(request: web.Request) -> dict[str, Any]:
    """slack-sdk sends some methods' arguments in the query string, others as a form or JSON body."""
    args: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        args.update(body if isinstance(body, dict) else {})
    elif request.content_type == "application/x-www-form-urlencoded":
        args.update(parse_qsl((await request.read()).decode()))
    return args


def _token(request: web.Request, args: dict[str, Any]) -> str | None:
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ") if header.startswith("Bearer ") else args.get("token")


async def _api(request: web.Request) -> web.Response:
    state = request.app[SLACK_STATE]
    method = request.match_info["method"]
    args = await _arguments(request)
    state.calls.append(SlackCall(method, args, _token(request, args), time.monotonic()))
    if state.delay:
        await asyncio.sleep(state.delay)
    if state._failures:
        status, retry_after = state._failures.popleft()
        headers = {"Retry-After": retry_after} if retry_after else {}
        body = {"ok": False, "error": "ratelimited"} if status == 429 else {"ok": False, "error": "fatal_error"}
        return web.json_response(body, status=status, headers=headers)
    pending = state._errors.get(method)
    if pending:
        return web.json_response({"ok": False, "error": pending.popleft()})
    if not _token(request, args):
        return web.json_response({"ok": False, "error": "not_authed"})
    return web.json_response({"ok": True, **_answer(state, method, args)})


def _answer(state: SlackState, method: str, args: dict[str, Any]) -> dict[str, Any]:
    if method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "chat.unfurl", "chat.meMessage"):
        ts = args.get("ts") or state.next_ts()
        return {
            "channel": args.get("channel", ""),
            "ts": ts,
            "message_ts": ts,
            "message": {"ts": ts, "text": args.get("text", "")},
        }
    if method in ("views.open", "views.push", "views.update", "views.publish"):
        return {"view": {"id": f"V{len(state.calls):06d}", "type": "modal", "hash": "h1"}}
    if method == "users.info":
        user = state.users.get(str(args.get("user")))
        return {"user": user} if user else {"ok": False, "error": "user_not_found"}
    if method == "users.lookupByEmail":
        found = next((u for u in state.users.values() if u["profile"]["email"] == args.get("email")), None)
        return {"user": found} if found else {"ok": False, "error": "users_not_found"}
    if method == "auth.test":
        return {
            "url": "https://psa-test.slack.com/",
            "team": "PSA Test",
            "team_id": state.team_id,
            "user_id": state.bot_user_id,
            "bot_id": "B0BOT",
        }
    if method == "chat.getPermalink":
        message = str(args.get("message_ts", "")).replace(".", "")
        return {"permalink": f"https://psa-test.slack.com/archives/{args.get('channel')}/p{message}"}
    if method == "conversations.info":
        return {"channel": {"id": args.get("channel"), "is_ext_shared": args.get("channel", "").startswith("CX")}}
    if method == "conversations.replies":
        return {"messages": [], "has_more": False}
    if method == "oauth.v2.access":
        return {
            "access_token": "xoxb-installed",
            "token_type": "bot",
            "scope": "commands,chat:write",
            "bot_user_id": state.bot_user_id,
            "app_id": "A0PSA",
            "team": {"id": state.team_id, "name": "PSA Test"},
            "enterprise": None,
            "authed_user": {"id": "U0INSTALLER"},
        }
    return {}


@dataclass
class FakeSlack:
    server: TestServer
    state: SlackState

    @property
    def base_url(self) -> str:
        """What slack-sdk's ``base_url`` wants: it appends the method name."""
        return str(self.server.make_url("/api/"))


async def start_fake_slack(aiohttp_server: AiohttpServer) -> FakeSlack:
    app = web.Application()
    state = SlackState()
    app[SLACK_STATE] = state
    app.router.add_route("*", "/api/{method}", _api)
    server = await aiohttp_server(app)
    return FakeSlack(server, state)
