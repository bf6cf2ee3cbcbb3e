"""A loopback fake of Splunk's HTTP Event Collector, strict about the wire format, for ``aiohttp_server``.

Routes: ``POST /services/collector/event`` and ``GET /services/collector/health``. What it checks, answering as
HEC does (status, ``{"text", "code"}``):

- ``Authorization: Splunk <token>``: missing -> 401 code 2 "Token is required"; another scheme -> 401 code 3
  "Invalid authorization"; an unknown token -> 403 code 4 "Invalid token";
- ``Content-Type: application/json`` -> else 400 (our notifier must say what it sends);
- the body: JSON objects, one per line, none empty -> else 400 code 6 "Invalid data format" (``invalid-event-
  number`` when an object is to blame); each an HEC event: ``event`` (a non-empty object or string), ``time``
  (epoch number), ``host``/``source``/``sourcetype``/``index`` strings when present, ``fields`` an object of
  strings, no other keys.

HEC indexes the events before an invalid one and stops there; so does the fake (``state.events``). Failures are
injected through the state: ``fail_next(n, status=503, retry_after=None)``; ``refuse(predicate)`` makes matching
events invalid (HEC's 400 with ``invalid-event-number``); ``down()`` / ``up()``: 503 "Server is busy" (code 9).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

TOKEN = "11111111-2222-3333-4444-555555555555"
EVENT_KEYS = frozenset({"time", "host", "source", "sourcetype", "index", "event", "fields"})


@dataclass(frozen=True)
class HecRequest:
    headers: dict[str, str]
    body: bytes


@dataclass
class HecState:
    tokens: set[str] = field(default_factory=lambda: {TOKEN})
    requests: list[HecRequest] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # what HEC indexed, in order
    failures: deque[tuple[int, str | None]] = field(default_factory=deque)
    refused: list[Callable[[dict[str, Any]], bool]] = field(default_factory=list)
    is_down: bool = False
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def fail_next(self, n: int, *, status: int = 503, retry_after: int | str | None = None) -> None:
        self.failures.extend((status, None if retry_after is None else str(retry_after)) for _ in range(n))

    def refuse(self, predicate: Callable[[dict[str, Any]], bool]) -> None:
        self.refused.append(predicate)

    def down(self) -> None:
        self.is_down = True

    def up(self) -> None:
        self.is_down = False

    async def wait_for_events(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout):
                while len(self.events) < count:
                    self.arrived.clear()
                    await self.arrived.wait()
        except TimeoutError:
            raise AssertionError(f"HEC indexed {len(self.events)} events, expected {count}") from None
        return list(self.events)


HEC_STATE = web.AppKey("hec_state", HecState)


def _answer(status: int, text: str, code: int, **extra: Any) -> web.Response:
    return web.json_response({"text": text, "code": code, **extra}, status=status)


def _auth_error(header: str | None, tokens: set[str]) -> web.Response | None:
    if not header:
        return _answer(401, "Token is required", 2)
    scheme, _, token = header.partition(" ")
    if scheme != "Splunk" or not token:
        return _answer(401, "Invalid authorization", 3)
    return None if token in tokens else _answer(403, "Invalid token", 4)


def event_problem(event: Any) -> str | None:
    """Why ``event`` is not an HEC event, or None."""
    if not isinstance(event, dict):
        return "not an object"
    if set(event) - EVENT_KEYS:
        return f"unknown keys {sorted(set(event) - EVENT_KEYS)}"
    body = event.get("event")
    if body in (None, "", {}) or not isinstance(body, dict | str):
        return "event field is required and must be a non-empty object or string"
    if "time" in event and (isinstance(event["time"], bool) or not isinstance(event["time"], int | float)):
        return "time must be epoch seconds"
    for key in ("host", "source", "sourcetype", "index"):
        if key in event and not isinstance(event[key], str):
            return f"{key} must be a string"
    fields = event.get("fields", {})
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        return "fields must be an object of strings"
    return None


async def _collect(request: web.Request) -> web.Response:
    state = request.app[HEC_STATE]
    body = await request.read()
    state.requests.append(HecRequest(dict(request.headers), body))
    state.arrived.set()
    if state.is_down:
        return _answer(503, "Server is busy", 9)
    if state.failures:
        status, retry_after = state.failures.popleft()
        response = _answer(status, "injected failure", 9 if status == 503 else 99)
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after
        return response
    refused = _auth_error(request.headers.get("Authorization"), state.tokens)
    if refused is not None:
        return refused
    if request.headers.get("Content-Type", "").split(";")[0] != "application/json":
        return _answer(400, "Invalid data format: expected application/json", 6)
    return _index(state, body)


def _index(state: HecState, body: bytes) -> web.Response:
    if not body.endswith(b"\n") or not body.strip():
        return _answer(400, "No data", 5)
    for number, line in enumerate(body.decode().split("\n")[:-1]):
        try:
            event = json.loads(line)
        except ValueError:
            return _answer(400, "Invalid data format", 6, **{"invalid-event-number": number})
        if event_problem(event) is not None or any(predicate(event) for predicate in state.refused):
            return _answer(400, "Invalid data format", 6, **{"invalid-event-number": number})
        state.events.append(event)
        state.arrived.set()
    return _answer(200, "Success", 0)


async def _health(request: web.Request) -> web.Response:
    state = request.app[HEC_STATE]
    return _answer(503, "HEC is unhealthy", 18) if state.is_down else _answer(200, "HEC is healthy", 17)


@dataclass(frozen=True)
class RunningHec:
    state: HecState
    server: TestServer

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


async def start_fake_hec(aiohttp_server: AiohttpServer) -> RunningHec:
    state = HecState()
    app = web.Application()
    app[HEC_STATE] = state
    app.router.add_post("/services/collector/event", _collect)
    app.router.add_get("/services/collector/health", _health)
    return RunningHec(state=state, server=await aiohttp_server(app))
