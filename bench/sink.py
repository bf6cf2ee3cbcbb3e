"""A loopback webhook receiver for the benchmarks: answers 200 to any POST and counts ``Idempotency-Key`` headers.

Used in-process (``start_sink``) or as its own process (``python -m bench.sink``), so that on a small machine the
receiver does not share an event loop with the code being measured. Control endpoints:
``GET /_stats`` (counts and every key with how often it arrived) and ``POST /_reset``.

The standalone process prints ``PORT <n>`` once listening and exits when its stdin closes (the parent went away),
on SIGTERM, or after ``--max-seconds``, whichever comes first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class KeyCounter:
    keys: Counter[str] = field(default_factory=Counter)
    first_seen: dict[str, float] = field(default_factory=dict)  # key -> time.monotonic() of its first arrival
    requests: int = 0
    without_key: int = 0
    delay: float = 0.0  # seconds to wait before answering, like a real receiver doing some work

    def reset(self) -> None:
        self.keys.clear()
        self.first_seen.clear()
        self.requests = self.without_key = 0

    def stats(self) -> dict[str, Any]:
        duplicates = sum(n - 1 for n in self.keys.values() if n > 1)
        return {
            "requests": self.requests,
            "unique": len(self.keys),
            "duplicates": duplicates,
            "without_key": self.without_key,
            "keys": dict(self.keys),
        }


COUNTER = web.AppKey("counter", KeyCounter)


async def _receive(request: web.Request) -> web.Response:
    await request.read()
    counter = request.app[COUNTER]
    counter.requests += 1
    key = request.headers.get("Idempotency-Key")
    if key is None:
        counter.without_key += 1
    else:
        counter.keys[key] += 1
        counter.first_seen.setdefault(key, time.monotonic())
    if counter.delay:
        await asyncio.sleep(counter.delay)
    return web.Response(status=200, text="ok")


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[COUNTER].stats())


async def _reset(request: web.Request) -> web.Response:
    request.app[COUNTER].reset()
    return web.json_response({"ok": True})


def make_sink_app(counter: KeyCounter) -> web.Application:
    app = web.Application(client_max_size=8 * 1024**2)
    app[COUNTER] = counter
    app.router.add_get("/_stats", _stats)
    app.router.add_post("/_reset", _reset)
    app.router.add_post("/{tail:.*}", _receive)
    return app


async def start_sink(counter: KeyCounter, *, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, int]:
    """Start the sink on ``host`` (a random free port by default); returns the runner and the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    runner = web.AppRunner(make_sink_app(counter), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock, backlog=1024).start()
    return runner, int(sock.getsockname()[1])


async def _serve(max_seconds: float) -> None:
    runner, port = await start_sink(KeyCounter())
    print(f"PORT {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    # stdin closing means the parent is gone: never outlive it.
    stdin = sys.stdin.fileno()
    loop.add_reader(stdin, lambda: None if os.read(stdin, 4096) else stop.set())
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max_seconds)
    finally:
        loop.remove_reader(stdin)
        await runner.cleanup()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    asyncio.run(_serve(args.max_seconds))


if __name__ == "__main__":
    cli()
