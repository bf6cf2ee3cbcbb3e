"""A loopback fake of the SentinelOne Management API v2.1 (the parts the poller and close-back use).

Routes under ``/web/api/v2.1``: ``GET /threats`` (``updatedAt__gte``, ``sortBy=updatedAt``, ``sortOrder``,
``limit`` 1-1000, opaque ``cursor``; answers ``{"data": [...], "pagination": {"nextCursor", "totalItems"}}``),
``POST /threats/analyst-verdict``, ``POST /threats/incident`` and ``POST /agents/actions/disconnect`` (``filter.ids``
and ``data``; answer ``{"data": {"affected": n}}``; an unknown verdict or status is a 400 as SentinelOne answers).
Every request needs ``Authorization: ApiToken <token>`` (else 401 with SentinelOne's ``errors`` body).
Failures: ``fail_next(n, status=429, retry_after=2)``; ``down()`` / ``up()`` (503 without Retry-After).
"""

from __future__ import annotations

import base64
import copy
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

TOKEN = "s1-api-token"
API = "/web/api/v2.1"
VERDICTS = {"true_positive", "suspicious", "false_positive", "undefined"}
STATUSES = {"unresolved", "in_progress", "resolved"}


@dataclass(frozen=True)
class S1Call:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    authorization: str | None


@dataclass
class S1State:
    threats: list[dict[str, Any]] = field(default_factory=list)
    agents: set[str] = field(default_factory=set)
    disconnected: list[str] = field(default_factory=list)
    calls: list[S1Call] = field(default_factory=list)
    is_down: bool = False
    _failures: deque[tuple[int, str | None]] = field(default_factory=deque)

    def fail_next(self, n: int = 1, *, status: int = 429, retry_after: int | None = 2) -> None:
        self._failures.extend([(status, str(retry_after) if retry_after is not None else None)] * n)

    def down(self) -> None:
        self.is_down = True

    def up(self) -> None:
        self.is_down = False

    def threat(self, threat_id: str) -> dict[str, Any]:
        return next(t for t in self.threats if t["id"] == threat_id)

    def of(self, path: str) -> list[S1Call]:
        return [c for c in self.calls if c.path == API + path]


S1_STATE = web.AppKey("s1_state", S1State)
BODY = web.RequestKey("body", dict[str, Any])


def _errors(status: int, title: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"errors": [{"code": status * 10000 + 10, "detail": None, "title": title}]}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    state = request.app[S1_STATE]
    body: dict[str, Any] = {}
    if request.can_read_body:
        parsed = await request.json()
        body = parsed if isinstance(parsed, dict) else {}
    state.calls.append(
        S1Call(request.method, request.path, dict(request.query), body, request.headers.get("Authorization"))
    )
    if state.is_down:
        return _errors(503, "Service Unavailable")
    if state._failures:
        status, retry_after = state._failures.popleft()
        return _errors(
            status,
            "Too Many Requests" if status == 429 else "Error",
            {"Retry-After": retry_after} if retry_after else {},
        )
    if request.headers.get("Authorization") != f"ApiToken {TOKEN}":
        return _errors(401, "Authentication Failed")
    request[BODY] = body
    response: web.StreamResponse = await handler(request)
    return response


def _updated(threat: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(threat["threatInfo"]["updatedAt"].replace("Z", "+00:00"))


async def _threats(request: web.Request) -> web.Response:
    state, query = request.app[S1_STATE], request.query
    try:
        limit = int(query.get("limit", "10"))
        since = (
            datetime.fromisoformat(query["updatedAt__gte"].replace("Z", "+00:00"))
            if "updatedAt__gte" in query
            else None
        )
        offset = int(base64.b64decode(query["cursor"]).decode()) if "cursor" in query else 0
    except (ValueError, KeyError):
        return _errors(400, "Validation Error")
    if not 1 <= limit <= 1000 or query.get("sortBy", "updatedAt") != "updatedAt":
        return _errors(400, "Validation Error")
    found = [t for t in state.threats if since is None or _updated(t) >= since]
    found.sort(key=_updated, reverse=query.get("sortOrder") == "desc")
    page = found[offset : offset + limit]
    more = offset + limit < len(found)
    next_cursor = base64.b64encode(str(offset + limit).encode()).decode() if more else None
    return web.json_response(
        {"data": copy.deepcopy(page), "pagination": {"nextCursor": next_cursor, "totalItems": len(found)}}
    )


def _ids(body: dict[str, Any]) -> list[str] | None:
    ids = (body.get("filter") or {}).get("ids")
    return ids if isinstance(ids, list) and all(isinstance(i, str) for i in ids) else None


async def _verdict(request: web.Request) -> web.Response:
    state, body = request.app[S1_STATE], request[BODY]
    verdict, ids = (body.get("data") or {}).get("analystVerdict"), _ids(body)
    if verdict not in VERDICTS or ids is None:
        return _errors(400, "Validation Error")
    hits = [t for t in state.threats if t["id"] in ids]
    for threat in hits:
        threat["threatInfo"]["analystVerdict"] = verdict
    return web.json_response({"data": {"affected": len(hits)}})


async def _incident(request: web.Request) -> web.Response:
    state, body = request.app[S1_STATE], request[BODY]
    status, ids = (body.get("data") or {}).get("incidentStatus"), _ids(body)
    if status not in STATUSES or ids is None:
        return _errors(400, "Validation Error")
    hits = [t for t in state.threats if t["id"] in ids]
    for threat in hits:
        threat["threatInfo"]["incidentStatus"] = status
    return web.json_response({"data": {"affected": len(hits)}})


async def _disconnect(request: web.Request) -> web.Response:
    state, body = request.app[S1_STATE], request[BODY]
    ids = _ids(body)
    if ids is None or not isinstance(body.get("data"), dict):
        return _errors(400, "Validation Error")
    hits = [i for i in ids if i in state.agents]
    state.disconnected.extend(hits)
    return web.json_response({"data": {"affected": len(hits)}})


@dataclass
class FakeSentinelOne:
    server: TestServer
    state: S1State

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


async def start_fake_sentinelone(aiohttp_server: AiohttpServer) -> FakeSentinelOne:
    app = web.Application(middlewares=[_guard])
    state = S1State()
    app[S1_STATE] = state
    app.router.add_get(f"{API}/threats", _threats)
    app.router.add_post(f"{API}/threats/analyst-verdict", _verdict)
    app.router.add_post(f"{API}/threats/incident", _incident)
    app.router.add_post(f"{API}/agents/actions/disconnect", _disconnect)
    return FakeSentinelOne(await aiohttp_server(app), state)
