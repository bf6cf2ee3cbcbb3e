"""Bolt's asyncio lazy-listener runner starts each lazy function with a bare ``asyncio.ensure_future`` and keeps
no reference (the task can be garbage-collected mid-run and is lost on shutdown). This runner keeps every task in
a set, so ``slack_ctx`` can wait for them (with a grace period) and cancel the stragglers on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from slack_bolt.lazy_listener.async_internals import to_runnable_function
from slack_bolt.lazy_listener.async_runner import AsyncLazyListenerRunner
from slack_bolt.request.async_request import AsyncBoltRequest


class TrackedLazyListenerRunner(AsyncLazyListenerRunner):
    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, function: Callable[..., Awaitable[None]], request: AsyncBoltRequest) -> None:
        run = to_runnable_function(internal_func=function, logger=self.logger, request=request)
        task: asyncio.Task[None] = asyncio.create_task(run, name=f"slack-lazy-{function.__name__}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self, grace_seconds: float) -> None:
        """Let running work finish for up to ``grace_seconds``, then cancel what is left."""
        pending = set(self.tasks)
        if pending:
            _done, pending = await asyncio.wait(pending, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def settle(self) -> None:
        """Wait until no lazy work runs (tests and ``psa try``)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
