"""``psa worker``: the background half of the service (dispatcher + scheduler) without the HTTP listener.

It reuses the web app's ``cleanup_ctx`` so both processes open and close resources the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from aiohttp import web

from psa_chatops.bot import keys, lifecycle
from psa_chatops.bot.metrics import Metrics
from psa_chatops.bot.settings import Settings
from psa_chatops.storage.unit_of_work import SystemClock


def create_worker_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[keys.SETTINGS] = settings
    app[keys.CLOCK] = SystemClock()
    app[keys.METRICS] = Metrics()
    app.cleanup_ctx.extend([lifecycle.database_ctx, lifecycle.http_ctx, lifecycle.background_ctx])
    return app


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(create_worker_app(settings))
    await runner.setup()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
