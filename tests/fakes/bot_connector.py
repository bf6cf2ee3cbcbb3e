"""A loopback fake of the Bot Framework connector service (Bot Connector REST API v3) that speaks its wire format,
for ``aiohttp_server`` on a random port. An incoming activity's ``serviceUrl`` points here, so the Agents SDK's
replies, updates and proactive sends land in ``.state.calls``.

Routes (as the connector documents them): ``POST /v3/conversations`` (create), ``POST
/v3/conversations/{id}/activities`` (send), ``POST /v3/conversations/{id}/activities/{activityId}`` (reply),
``PUT /v3/conversations/{id}/activities/{activityId}`` (update), ``DELETE ...`` (delete),
``GET /v3/conversations/{id}/members`` and ``.../members/{userId}``. Answers ``{"id": ...}`` like the service.
Failures: ``fail_next(n, status=429, retry_after=1)`` (also 412, 502, 504, 403, 404), ``slow(seconds)``.
Calls are stamped with ``state.clock()`` (``time.monotonic`` unless a test sets a virtual clock). A reply in a
channel's reply chain is a send to ``{channel id};messageid={root id}`` (``call.thread_root``); ``state.messages``
keeps the current body of every posted activity (updates replace it), ``state.thread(channel, root)`` lists the
replies posted in one chain.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer


@dataclass(frozen=True)
class ConnectorCall:
    method: str
    path: str
    conversation_id: str | None
    activity_id: str | None
    body: dict[str, Any]
    authorization: str | None
    at: float

    @property
    def channel(self) -> str | None:
        """The conversation id without a ``;messageid=`` thread suffix."""
        return self.conversation_id.split(";messageid=", 1)[0] if self.conversation_id else None

    @property
    def thread_root(self) -> str | None:
        """The root activity id of the reply chain this send went to (``{id};messageid={root}``), if any."""
        if self.conversation_id is None or ";messageid=" not in self.conversation_id:
            return None
        return self.conversation_id.split(";messageid=", 1)[1]

    @property
    def kind(self) -> str:
        """send | reply | update | delete | create | members"""
        if self.path.endswith("/members") or "/members/" in self.path:
            return "members"
        if self.conversation_id is None:
            return "create"
        if self.method == "PUT":
            return "update"
        if self.method == "DELETE":
            return "delete"
        return "reply" if self.activity_id else "send"

    def cards(self) -> list[dict[str, Any]]:
        return [
            a.get("content", {})
            for a in self.body.get("attachments") or []
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]


@dataclass
class ConnectorState:
    calls: list[ConnectorCall] = field(default_factory=list)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _failures: deque[tuple[int, str | None]] = field(default_factory=deque)
    delay: float = 0.0
    clock: Callable[[], float] = time.monotonic
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # activity id -> its current body
    answered: dict[int, str] = field(default_factory=dict)  # id(call) -> the activity id answered
    deleted: set[str] = field(default_factory=set)  # activity ids deleted in "Teams": updates answer 404

    def delete_message(self, activity_id: str) -> None:
        """As if a user deleted the message in Teams."""
        self.deleted.add(activity_id)
        self.messages.pop(activity_id, None)

    def thread(self, channel: str, root_id: str) -> list[ConnectorCall]:
        """Successful sends in the reply chain of ``root_id`` in ``channel``, oldest first."""
        return [
            c for c in self.of("send") if c.channel == channel and c.thread_root == root_id and id(c) in self.answered
        ]

    def roots(self, channel: str) -> list[ConnectorCall]:
        """Successful top-level sends to ``channel``, oldest first."""
        return [c for c in self.of("send") if c.conversation_id == channel and id(c) in self.answered]

    def activity_id(self, call: ConnectorCall) -> str:
        return self.answered[id(call)]

    def fail_next(self, n: int = 1, *, status: int = 429, retry_after: int | None = 1) -> None:
        self._failures.extend([(status, str(retry_after) if retry_after is not None else None)] * n)

    def recover(self) -> None:
        """Drop the failures still queued by ``fail_next`` (the outage is over)."""
        self._failures.clear()

    def slow(self, seconds: float) -> None:
        self.delay = seconds

    def add_member(self, aad_object_id: str, *, email: str, name: str = "", user_id: str | None = None) -> None:
        self.members[aad_object_id] = {
            "id": user_id or f"29:{aad_object_id}",
            "aadObjectId": aad_object_id,
            "name": name or email,
            "email": email,
            "userPrincipalName": email,
        }

    def of(self, kind: str) -> list[ConnectorCall]:
        return [c for c in self.calls if c.kind == kind]


CONNECTOR_STATE = web.AppKey("connector_state", ConnectorState)


async def _record(request: web.Request) -> tuple[ConnectorState, ConnectorCall]:
    state = request.app[CONNECTOR_STATE]
    body: dict[str, Any] = {}
    if request.can_read_body:
        parsed = await request.json()
        body = parsed if isinstance(parsed, dict) else {}
    call = ConnectorCall(
        request.method,
        request.path,
        request.match_info.get("conversation"),
        request.match_info.get("activity"),
        body,
        request.headers.get("Authorization"),
        state.clock(),
    )
    state.calls.append(call)
    if state.delay:
        await asyncio.sleep(state.delay)
    return state, call


def _failure(state: ConnectorState) -> web.Response | None:
    if not state._failures:
        return None
    status, retry_after = state._failures.popleft()
    headers = {"Retry-After": retry_after} if retry_after else {}
    return web.json_response(
        {"error": {"code": "Throttled", "message": "fake failure"}}, status=status, headers=headers
    )


async def _activities(request: web.Request) -> web.Response:
    state, call = await _record(request)
    failed = _failure(state)
    if failed is not None:
        return failed
    if call.method == "DELETE":
        return web.Response(status=200)
    activity_id = call.activity_id if call.method == "PUT" and call.activity_id else f"1:{next(state._ids)}"
    if call.method == "PUT" and activity_id in state.deleted:
        return web.json_response({"error": {"code": "NotFound", "message": "no such activity"}}, status=404)
    state.messages[activity_id] = call.body
    state.answered[id(call)] = activity_id
    return web.json_response({"id": activity_id})


async def _create(request: web.Request) -> web.Response:
    state, _call = await _record(request)
    failed = _failure(state)
    if failed is not None:
        return failed
    n = next(state._ids)
    return web.json_response(
        {"id": f"a:conversation-{n}", "activityId": f"1:{n}", "serviceUrl": str(request.url.origin())}
    )


async def _members(request: web.Request) -> web.Response:
    state, _call = await _record(request)
    user = request.match_info.get("user")
    if user is None:
        return web.json_response(list(state.members.values()))
    found = next((m for m in state.members.values() if user in (m["id"], m["aadObjectId"])), None)
    if found is None:
        return web.json_response({"error": {"code": "MemberNotFoundInConversation"}}, status=404)
    return web.json_response(found)


@dataclass
class FakeConnector:
    server: TestServer
    state: ConnectorState

    @property
    def service_url(self) -> str:
        """What an activity's ``serviceUrl`` carries (with the trailing slash Teams sends)."""
        return str(self.server.make_url("/"))


async def start_fake_connector(aiohttp_server: AiohttpServer) -> FakeConnector:
    app = web.Application()
    state = ConnectorState()
    app[CONNECTOR_STATE] = state
    app.router.add_post("/v3/conversations", _create)
    app.router.add_route("*", "/v3/conversations/{conversation}/activities", _activities)
    app.router.add_route("*", "/v3/conversations/{conversation}/activities/{activity}", _activities)
    app.router.add_get("/v3/conversations/{conversation}/members", _members)
    app.router.add_get("/v3/conversations/{conversation}/members/{user}", _members)
    server = await aiohttp_server(app)
    return FakeConnector(server, state)
