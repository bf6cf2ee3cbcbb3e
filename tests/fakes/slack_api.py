"""A loopback fake of the Slack Web API that speaks its wire format, for ``aiohttp_server`` on a random port.

Point slack-sdk at it with ``AsyncWebClient(token=..., base_url=fake.base_url)`` (``SLACK_API_URL`` in the
service). Every call is recorded (method name, form or JSON arguments, headers) before any injected failure
applies. Answers follow Slack's documented shapes: ``{"ok": true, ...}`` with a fresh ``ts`` for messages,
``{"ok": false, "error": ...}`` for API errors, HTTP 429 with ``Retry-After`` for rate limits.

Failures: ``rate_limit_next(n, retry_after=1)``, ``fail_next(n, status=500)``, ``error_next(method, error)``
(``ok: false``), ``slow(seconds)`` (for timeouts). Users for ``users.info`` / ``users.lookupByEmail`` come from
``add_user``. The state lives on the app under a typed ``web.AppKey``.

Messages: every successful ``chat.postMessage`` is kept in ``messages`` (channel, ts, thread_ts, text, blocks)
and ``chat.update`` edits the kept message; ``delete_message(channel, ts)`` deletes one the way a user would,
after which ``chat.update`` on it answers ``message_not_found`` as Slack does. ``clock`` (monotonic seconds)
stamps the calls; tests on a virtual clock set it. An incoming webhook lives at ``FakeSlack.webhook_url``: it
answers ``ok`` as text, and the injected HTTP failures apply to it too.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
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
    clock: Callable[[], float] = time.monotonic
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    deleted: set[tuple[str, str]] = field(default_factory=set)

    def rate_limit_next(self, n: int = 1, *, retry_after: int = 1) -> None:
        self._failures.extend([(429, str(retry_after))] * n)

    def fail_next(self, n: int = 1, *, status: int = 500) -> None:
        self._failures.extend([(status, None)] * n)

    def error_next(self, method: str, error: str) -> None:
        self._errors.setdefault(method, deque()).append(error)

    def slow(self, seconds: float) -> None:
        self.delay = seconds

    def recover(self) -> None:
        """Drop the injected HTTP failures that have not happened yet (the outage is over)."""
        self._failures.clear()

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

    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages that were posted and are not deleted, oldest first (optionally in one channel)."""
        return [m for (c, _), m in self.messages.items() if channel is None or c == channel]

    def add_message(self, channel: str, ts: str, text: str, *, user: str = "UCUSTOMER") -> None:
        """A message someone else wrote, for ``conversations.history`` to find."""
        self.messages[(channel, ts)] = {"channel": channel, "ts": ts, "thread_ts": None, "text": text, "user": user}

    def delete_message(self, channel: str, ts: str) -> None:
        self.messages.pop((channel, ts), None)
        self.deleted.add((channel, ts))

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


def _app_credentials(request: web.Request, args: dict[str, Any]) -> bool:
    """``oauth.v2.access`` authenticates the app (client id and secret, as form fields or HTTP Basic), not a token."""
    return bool(args.get("client_id") and args.get("client_secret")) or request.headers.get(
        "Authorization", ""
    ).startswith("Basic ")


async def _api(request: web.Request) -> web.Response:
    state = request.app[SLACK_STATE]
    method = request.match_info["method"]
    args = await _arguments(request)
    state.calls.append(SlackCall(method, args, _token(request, args), state.clock()))
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
    if not (_token(request, args) or _app_credentials(request, args)):
        return web.json_response({"ok": False, "error": "not_authed"})
    return web.json_response({"ok": True, **_answer(state, method, args)})


def _keep_message(state: SlackState, method: str, args: dict[str, Any], ts: str) -> dict[str, Any] | None:
    """Keeps posted messages and applies edits; the error answer for an edit of a deleted message."""
    key = (str(args.get("channel", "")), ts)
    if method == "chat.update" and key in state.deleted:
        return {"ok": False, "error": "message_not_found"}
    if method == "chat.postMessage":
        state.messages[key] = {"channel": key[0], "ts": ts, "thread_ts": args.get("thread_ts"), "edits": 0}
    elif method != "chat.update" or key not in state.messages:
        return None
    message = state.messages[key]
    raw = args.get("blocks") or []
    message.update(text=args.get("text", ""), blocks=json.loads(raw) if isinstance(raw, str) else list(raw))
    message["edits"] += method == "chat.update"
    return None


WEBHOOK_METHOD = "incoming-webhook"


async def _incoming_webhook(request: web.Request) -> web.Response:
    """Slack's incoming webhooks take a JSON message and answer ``ok`` (or an error name) as plain text."""
    state = request.app[SLACK_STATE]
    body = await request.json()
    state.calls.append(SlackCall(WEBHOOK_METHOD, body if isinstance(body, dict) else {}, None, state.clock()))
    if state._failures:
        status, retry_after = state._failures.popleft()
        headers = {"Retry-After": retry_after} if retry_after else {}
        text = "rate_limited" if status == 429 else "no_service" if status == 404 else "internal_error"
        return web.Response(text=text, status=status, headers=headers)
    return web.Response(text="ok")


def _chat_answer(state: SlackState, method: str, args: dict[str, Any]) -> dict[str, Any]:
    ts = args.get("ts") or state.next_ts()
    error = _keep_message(state, method, args, ts)
    if error is not None:
        return error
    return {
        "channel": args.get("channel", ""),
        "ts": ts,
        "message_ts": ts,
        "message": {"ts": ts, "text": args.get("text", "")},
    }


def _answer(state: SlackState, method: str, args: dict[str, Any]) -> dict[str, Any]:
    if method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "chat.unfurl", "chat.meMessage"):
        return _chat_answer(state, method, args)
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
    if method.startswith("conversations."):
        return _conversations(state, method, args)
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


async def _response_url(request: web.Request) -> web.Response:
    """A ``response_url`` (Slack's ``hooks.slack.com/actions/...``): recorded as the pseudo-method "response_url"."""
    state = request.app[SLACK_STATE]
    body = await request.json() if request.content_type == "application/json" else {}
    args = {**(body if isinstance(body, dict) else {}), "hook": request.match_info["hook"]}
    state.calls.append(SlackCall("response_url", args, None, time.monotonic()))
    if state.delay:
        await asyncio.sleep(state.delay)
    return web.Response(text="ok")


def _conversations(state: SlackState, method: str, args: dict[str, Any]) -> dict[str, Any]:
    if method == "conversations.info":
        return {"channel": {"id": args.get("channel"), "is_ext_shared": args.get("channel", "").startswith("CX")}}
    if method == "conversations.history":  # latest + inclusive + limit=1, as the 🎫 reaction asks
        found = state.messages.get((str(args.get("channel")), str(args.get("latest"))))
        return {"messages": [{"type": "message", **found}] if found else [], "has_more": False}
    return {"messages": [], "has_more": False}


@dataclass
class FakeSlack:
    server: TestServer
    state: SlackState

    @property
    def base_url(self) -> str:
        """What slack-sdk's ``base_url`` wants: it appends the method name."""
        return str(self.server.make_url("/api/"))

    @property
    def webhook_url(self) -> str:
        return str(self.server.make_url("/services/T0PSA/B0HOOK/not-a-secret"))

    def webhook_calls(self) -> list[SlackCall]:
        return self.state.of(WEBHOOK_METHOD)

    def response_url(self, hook: str = "hook") -> str:
        """A ``response_url`` for payloads: posts to it are recorded as method "response_url"."""
        return str(self.server.make_url(f"/response/{hook}"))


async def start_fake_slack(aiohttp_server: AiohttpServer) -> FakeSlack:
    app = web.Application()
    state = SlackState()
    app[SLACK_STATE] = state
    app.router.add_route("*", "/api/{method}", _api)
    app.router.add_post("/services/{path:.+}", _incoming_webhook)
    app.router.add_post("/response/{hook}", _response_url)
    server = await aiohttp_server(app)
    return FakeSlack(server, state)
