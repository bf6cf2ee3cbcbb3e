"""A loopback fake of Elasticsearch's bulk API, strict about the wire format, for ``aiohttp_server``.

Routes: ``POST /_bulk`` and ``GET /`` (cluster info, for ``psa doctor``). What it checks, answering as
Elasticsearch does:

- ``Authorization``: ``ApiKey <API_KEY>`` or ``Basic`` of ``USERNAME:PASSWORD``; anything else -> 401 with a
  ``security_exception``;
- ``Content-Type: application/x-ndjson`` -> else 406 (Elasticsearch refuses other media types for ``_bulk``);
- the body: NDJSON ending in a newline; each action line exactly one of ``create``/``index``/``update``/
  ``delete`` (we only accept ``create``, with string ``_index`` and ``_id``), followed by a JSON-object source
  line -> else 400 ``illegal_argument_exception`` / ``parse_exception``.

Each ``create`` stores the document under its index and id; an id that exists answers the item 409
(``version_conflict_engine_exception``), as Elasticsearch does. The answer is ``{"took", "errors", "items"}``
with one item per action, in order. Failures: ``fail_next(n, status=503, retry_after=None)`` for the whole
request; ``fail_items(predicate, status=429)`` for matching documents only (a partial bulk failure: 429
``es_rejected_execution_exception``, 400 ``mapper_parsing_exception``, 503 ``unavailable_shards_exception``).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
USERNAME, PASSWORD = "psa-forwarder", "s3cret!"
ITEM_ERRORS = {
    429: "es_rejected_execution_exception",
    400: "mapper_parsing_exception",
    503: "unavailable_shards_exception",
}


@dataclass(frozen=True)
class BulkRequest:
    headers: dict[str, str]
    body: bytes

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.body.decode().split("\n")[:-1]]


@dataclass
class ElasticState:
    requests: list[BulkRequest] = field(default_factory=list)
    indices: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # index -> _id -> source
    failures: deque[tuple[int, str | None]] = field(default_factory=deque)
    item_failures: list[tuple[Callable[[dict[str, Any]], bool], int]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def fail_next(self, n: int, *, status: int = 503, retry_after: int | str | None = None) -> None:
        self.failures.extend((status, None if retry_after is None else str(retry_after)) for _ in range(n))

    def fail_items(self, predicate: Callable[[dict[str, Any]], bool], *, status: int = 429) -> None:
        """Matching documents fail with ``status`` (every time, until ``heal()``); the others are created."""
        self.item_failures.append((predicate, status))

    def heal(self) -> None:
        self.item_failures.clear()

    def documents(self, index: str) -> dict[str, dict[str, Any]]:
        return self.indices.get(index, {})

    async def wait_for_documents(self, index: str, count: int, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout):
                while len(self.documents(index)) < count:
                    self.arrived.clear()
                    await self.arrived.wait()
        except TimeoutError:
            raise AssertionError(f"{index} holds {len(self.documents(index))} documents, expected {count}") from None
        return dict(self.documents(index))


ELASTIC_STATE = web.AppKey("elastic_state", ElasticState)


def _error(status: int, kind: str, reason: str) -> web.Response:
    return web.json_response({"error": {"type": kind, "reason": reason}, "status": status}, status=status)


def _authorised(header: str | None) -> bool:
    basic = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    return header in (f"ApiKey {API_KEY}", f"Basic {basic}")


async def _bulk(request: web.Request) -> web.Response:
    state = request.app[ELASTIC_STATE]
    body = await request.read()
    state.requests.append(BulkRequest(dict(request.headers), body))
    state.arrived.set()
    if state.failures:
        status, retry_after = state.failures.popleft()
        response = _error(status, "injected_failure", "injected")
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after
        return response
    if not _authorised(request.headers.get("Authorization")):
        return _error(401, "security_exception", "missing authentication credentials for REST request [/_bulk]")
    if request.headers.get("Content-Type", "").split(";")[0] != "application/x-ndjson":
        return _error(406, "media_type_header_exception", "Content-Type must be application/x-ndjson")
    pairs = _parse(body)
    if isinstance(pairs, web.Response):
        return pairs
    items = [_create(state, action, source) for action, source in pairs]
    state.arrived.set()
    errors = any(item["create"]["status"] >= 300 for item in items)
    return web.json_response({"took": 3, "errors": errors, "items": items})


def _parse(body: bytes) -> list[tuple[dict[str, Any], dict[str, Any]]] | web.Response:
    if not body.endswith(b"\n"):
        return _error(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
    try:
        lines = [json.loads(line) for line in body.decode().split("\n")[:-1]]
    except ValueError as exc:
        return _error(400, "parse_exception", f"not JSON: {exc}")
    if not lines or len(lines) % 2:
        return _error(400, "action_request_validation_exception", "every action needs its source line")
    pairs = []
    for action, source in zip(lines[::2], lines[1::2], strict=True):
        if not isinstance(action, dict) or len(action) != 1 or next(iter(action)) not in ("create",):
            return _error(400, "illegal_argument_exception", f"Malformed action/metadata line: {action!r}")
        meta = action["create"]
        if (
            not isinstance(meta, dict)
            or not isinstance(meta.get("_index"), str)
            or not isinstance(meta.get("_id"), str)
        ):
            return _error(400, "illegal_argument_exception", "create needs string _index and _id")
        if not isinstance(source, dict) or not source:
            return _error(400, "parse_exception", "the source of a create must be a JSON object")
        pairs.append((meta, source))
    return pairs


def _create(state: ElasticState, meta: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    index, doc_id = meta["_index"], meta["_id"]
    base = {"_index": index, "_id": doc_id}
    for predicate, status in state.item_failures:
        if predicate(source):
            kind = ITEM_ERRORS.get(status, "exception")
            return {"create": base | {"status": status, "error": {"type": kind, "reason": "injected item failure"}}}
    documents = state.indices.setdefault(index, {})
    if doc_id in documents:
        reason = f"[{doc_id}]: version conflict, document already exists (current version [1])"
        error = {"type": "version_conflict_engine_exception", "reason": reason}
        return {"create": base | {"status": 409, "error": error}}
    documents[doc_id] = source
    return {"create": base | {"_version": 1, "result": "created", "status": 201, "_seq_no": len(documents) - 1}}


async def _info(request: web.Request) -> web.Response:
    if not _authorised(request.headers.get("Authorization")):
        return _error(401, "security_exception", "missing authentication credentials for REST request [/]")
    return web.json_response({"name": "fake-node", "cluster_name": "fake", "version": {"number": "8.15.0"}})


@dataclass(frozen=True)
class RunningElastic:
    state: ElasticState
    server: TestServer

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


async def start_fake_elastic(aiohttp_server: AiohttpServer) -> RunningElastic:
    state = ElasticState()
    app = web.Application()
    app[ELASTIC_STATE] = state
    app.router.add_post("/_bulk", _bulk)
    app.router.add_get("/", _info)
    return RunningElastic(state=state, server=await aiohttp_server(app))
