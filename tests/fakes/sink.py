"""A loopback HTTP sink: a fake webhook receiver that speaks the wire, for ``aiohttp_server`` on a random port.

Every request on any path and method is recorded in a ``SinkState`` (headers, raw body, arrival time) before
any injected failure is applied, as a real receiver would see it. Failures are injected through the state:

- ``fail_next(n, status=503, retry_after=None)``: the next ``n`` requests get ``status`` (plus ``Retry-After``);
- ``down()`` / ``up()``: close the connection without answering (the client sees a disconnect);
- ``slow(seconds)``: delay every answer, to exercise client timeouts. Delays end early when the server shuts
  down, so a test never waits for a delay its client already gave up on.

The state lives on the app under a typed ``web.AppKey`` (``SINK_STATE``), never a string key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy
from pytest_aiohttp import AiohttpServer


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes
    received_at: float

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


@dataclass(frozen=True)
class InjectedFailure:
    status: int
    retry_after: str | None


class SinkState:
    """What the sink received, and what it should do with the next requests."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self._failures: deque[InjectedFailure] = deque()
        self._down = False
        self._delay = 0.0
        self._released = asyncio.Event()
        self._arrived = asyncio.Event()

    def record(self, request: ReceivedRequest) -> None:
        self.requests.append(request)
        self._arrived.set()

    def fail_next(self, n: int, *, status: int = 503, retry_after: str | int | None = None) -> None:
        header = None if retry_after is None else str(retry_after)
        self._failures.extend(InjectedFailure(status, header) for _ in range(n))

    def down(self) -> None:
        self._down = True

    def up(self) -> None:
        self._down = False

    def slow(self, seconds: float) -> None:
        self._delay = seconds

    @property
    def is_down(self) -> bool:
        return self._down

    def take_failure(self) -> InjectedFailure | None:
        return self._failures.popleft() if self._failures else None

    async def pause(self) -> None:
        """Hold an answer for the ``slow`` delay, or until ``release`` (server shutdown)."""
        if self._delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), self._delay)

    def release(self) -> None:
        self._released.set()

    def unique_keys(self) -> set[str]:
        return set(self._keys())

    def duplicates(self) -> dict[str, int]:
        """Idempotency keys received more than once, with how often."""
        return {key: count for key, count in Counter(self._keys()).items() if count > 1}

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:  # noqa: ASYNC109
        """Wait until ``count`` requests have arrived; fail the test after ``timeout`` seconds.

        A ``timeout`` parameter (rather than the caller's ``asyncio.timeout``) turns expiry into a readable
        assertion, as bolt's ``assert_received_request_count_async`` does.
        """
        try:
            async with asyncio.timeout(timeout):
                while len(self.requests) < count:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(f"sink received {len(self.requests)} requests, expected {count}") from None
        return list(self.requests)

    def _keys(self) -> list[str]:
        return [r.idempotency_key for r in self.requests if r.idempotency_key is not None]


SINK_STATE = web.AppKey("sink_state", SinkState)


async def _record(request: web.Request) -> SinkState:
    state = request.app[SINK_STATE]
    body = await request.read()
    headers = CIMultiDictProxy(CIMultiDict(request.headers))
    state.record(ReceivedRequest(request.method, request.path, headers, body, time.monotonic()))
    return state


async def _handle(request: web.Request) -> web.StreamResponse:
    state = await _record(request)
    await state.pause()
    if state.is_down and request.transport is not None:
        request.transport.close()
        return web.Response(status=503)
    failure = state.take_failure()
    if failure is not None:
        headers = {} if failure.retry_after is None else {"Retry-After": failure.retry_after}
        return web.Response(status=failure.status, text="injected failure", headers=headers)
    return web.json_response({"ok": True})


async def _release_delays(app: web.Application) -> None:
    app[SINK_STATE].release()


def make_sink_app() -> tuple[web.Application, SinkState]:
    state = SinkState()
    app = web.Application()
    app[SINK_STATE] = state
    app.router.add_route("*", "/{tail:.*}", _handle)
    app.on_shutdown.append(_release_delays)
    return app, state


@dataclass(frozen=True)
class RunningSink:
    """A started sink: its state and server, and ``webhook:`` destinations pointing at it."""

    state: SinkState
    server: TestServer

    def url(self, path: str = "/hook") -> str:
        return str(self.server.make_url(path))

    def destination(self, path: str = "/hook") -> str:
        return f"webhook:{self.url(path)}"


async def start_sink(aiohttp_server: AiohttpServer) -> RunningSink:
    app, state = make_sink_app()
    return RunningSink(state=state, server=await aiohttp_server(app))
