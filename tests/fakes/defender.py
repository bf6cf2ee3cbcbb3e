"""A loopback fake of Microsoft Graph security alerts (``alerts_v2``) and of the Defender for Endpoint machine
actions, over TLS, with the Entra token endpoint of ``tests.fakes.graph`` (msal accepts only https authorities).

Routes: the token endpoints of ``tests.fakes.graph``; ``GET /v1.0/security/alerts_v2`` (``$filter`` must be
``lastUpdateDateTime ge <ISO time>``, ``$top`` 1-2000; pages link on with an absolute ``@odata.nextLink`` carrying
``$skiptoken``); ``PATCH /v1.0/security/alerts_v2/{id}`` (only ``status``, ``classification``, ``determination``,
``assignedTo`` with Graph's enum values, else 400); ``POST /mde/api/machines/{id}/isolate`` (``Comment`` and
``IsolationType`` Full|Selective required; a second isolation while one is pending is 400
``ActiveRequestAlreadyExists``, as Defender answers). Every API call needs a Bearer token the fake issued; each
is recorded (``state.calls``) with its body and its ``Authorization`` header, before any failure is answered.
Failures: ``fail_next(n, status=429, retry_after=2)``; ``down()`` / ``up()`` (503 without Retry-After).
"""

from __future__ import annotations

import copy
import re
import ssl
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from tests.fakes.graph import GRAPH_STATE, GraphState, _openid, _token

FILTER = re.compile(r"lastUpdateDateTime ge (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)")
STATUSES = {"new", "inProgress", "resolved"}
CLASSIFICATIONS = {"unknown", "falsePositive", "truePositive", "informationalExpectedActivity"}
DETERMINATIONS = {
    "unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
    "multiStagedAttack", "compromisedAccount", "phishing", "maliciousUserActivity", "notMalicious",
    "notEnoughDataToValidate", "confirmedUserActivity", "lineOfBusinessApplication",
}  # fmt: skip
PATCHABLE = {"status", "classification", "determination", "assignedTo"}


@dataclass(frozen=True)
class DefenderCall:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    authorization: str | None = None  # the header as sent: "Bearer <token>"


@dataclass
class DefenderState:
    alerts: list[dict[str, Any]] = field(default_factory=list)
    machines: set[str] = field(default_factory=set)
    isolations: list[dict[str, Any]] = field(default_factory=list)
    calls: list[DefenderCall] = field(default_factory=list)
    is_down: bool = False
    foreign_next_link: bool = False  # nextLink points to another host (a hostile or broken answer)
    _failures: deque[tuple[int, str | None]] = field(default_factory=deque)

    def fail_next(self, n: int = 1, *, status: int = 429, retry_after: int | None = 2) -> None:
        self._failures.extend([(status, str(retry_after) if retry_after is not None else None)] * n)

    def down(self) -> None:
        self.is_down = True

    def up(self) -> None:
        self.is_down = False

    def alert(self, alert_id: str) -> dict[str, Any]:
        return next(a for a in self.alerts if a["id"] == alert_id)

    def of(self, method: str, prefix: str) -> list[DefenderCall]:
        return [c for c in self.calls if c.method == method and c.path.startswith(prefix)]


DEFENDER_STATE = web.AppKey("defender_state", DefenderState)
BODY = web.RequestKey("body", dict[str, Any])


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": "fake"}}, status=status, headers=headers)


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    if not request.path.startswith(("/v1.0/", "/mde/")):
        response: web.StreamResponse = await handler(request)  # the token endpoints record themselves
        return response
    state = request.app[DEFENDER_STATE]
    body: dict[str, Any] = {}
    if request.can_read_body:
        parsed = await request.json()
        body = parsed if isinstance(parsed, dict) else {}
    authorization = request.headers.get("Authorization")
    state.calls.append(DefenderCall(request.method, request.path, dict(request.query), body, authorization))
    if state.is_down:
        return _error(503, "ServiceUnavailable")
    if state._failures:
        status, retry_after = state._failures.popleft()
        code = "TooManyRequests" if status == 429 else "Failure"
        return _error(status, code, {"Retry-After": retry_after} if retry_after else {})
    if (authorization or "").removeprefix("Bearer ") not in request.app[GRAPH_STATE].tokens:
        return _error(401, "InvalidAuthenticationToken")
    request[BODY] = body
    response = await handler(request)
    return response


def _updated(alert: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(alert["lastUpdateDateTime"].replace("Z", "+00:00"))


async def _list(request: web.Request) -> web.Response:
    state, query = request.app[DEFENDER_STATE], request.query
    matched = FILTER.fullmatch(query.get("$filter", ""))
    try:
        top, skip = int(query.get("$top", "50")), int(query.get("$skiptoken", "0"))
    except ValueError:
        return _error(400, "BadRequest")
    if matched is None or not 1 <= top <= 2000:
        return _error(400, "BadRequest")
    since = datetime.fromisoformat(matched.group(1).replace("Z", "+00:00"))
    found = [a for a in state.alerts if _updated(a) >= since]  # Graph keeps its own order: newest created first
    found.sort(key=lambda a: a["createdDateTime"], reverse=True)
    page: dict[str, Any] = {"@odata.context": "fake", "value": copy.deepcopy(found[skip : skip + top])}
    if skip + top < len(found):
        url = request.url.with_query({"$filter": query["$filter"], "$top": str(top), "$skiptoken": str(skip + top)})
        if state.foreign_next_link:
            url = url.with_host("evil.example").with_port(443)
        page["@odata.nextLink"] = str(url)
    return web.json_response(page)


async def _patch(request: web.Request) -> web.Response:
    state, body = request.app[DEFENDER_STATE], request[BODY]
    alert = next((a for a in state.alerts if a["id"] == request.match_info["id"]), None)
    if alert is None:
        return _error(404, "NotFound")
    valid = (
        set(body) <= PATCHABLE
        and body.get("status", "new") in STATUSES
        and body.get("classification", "unknown") in CLASSIFICATIONS
        and body.get("determination", "unknown") in DETERMINATIONS
    )
    if not valid:
        return _error(400, "BadRequest")
    alert.update(body)
    return web.json_response(copy.deepcopy(alert))


async def _isolate(request: web.Request) -> web.Response:
    state, body = request.app[DEFENDER_STATE], request[BODY]
    machine = request.match_info["id"]
    if machine not in state.machines:
        return _error(404, "ResourceNotFound")
    if not isinstance(body.get("Comment"), str) or body.get("IsolationType") not in ("Full", "Selective"):
        return _error(400, "InvalidRequestBody")
    if any(i["machineId"] == machine for i in state.isolations):
        return _error(400, "ActiveRequestAlreadyExists")
    action = {"id": f"action-{len(state.isolations) + 1}", "type": "Isolate", "machineId": machine, **body}
    state.isolations.append(action)
    return web.json_response(action, status=201)


@dataclass
class FakeDefender:
    server: TestServer
    state: DefenderState
    graph: GraphState
    ca_file: Path
    client_ssl: ssl.SSLContext

    @property
    def authority_url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def graph_url(self) -> str:
        return str(self.server.make_url("/v1.0"))

    @property
    def endpoint_url(self) -> str:
        return str(self.server.make_url("/mde"))


async def start_fake_defender(
    aiohttp_server: AiohttpServer, tls: tuple[Path, ssl.SSLContext, ssl.SSLContext]
) -> FakeDefender:
    cert_file, server_ssl, client_ssl = tls
    app = web.Application(middlewares=[_guard])
    state, graph = DefenderState(), GraphState()
    app[DEFENDER_STATE], app[GRAPH_STATE] = state, graph
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", _openid)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", _token)
    app.router.add_get("/v1.0/security/alerts_v2", _list)
    app.router.add_patch("/v1.0/security/alerts_v2/{id}", _patch)
    app.router.add_post("/mde/api/machines/{id}/isolate", _isolate)
    server = await aiohttp_server(app, ssl=server_ssl)
    return FakeDefender(server, state, graph, cert_file, client_ssl)
