"""Deliveries that arrive together leave together: one request (or socket write) per batch and destination.

The dispatcher hands a claimed batch of rows to the notifiers concurrently, one ``deliver`` call per row, and
wants one outcome per row. ``Batcher.submit`` joins the caller's item to the open batch of its destination and
waits for that item's own outcome. The first caller of a batch leads it: it lingers ``linger_seconds`` (a few
milliseconds: the other rows of the same claim arrive within one turn of the event loop), then sends the batch;
a caller whose item fills the batch to ``max_items`` sends it at once instead. The send function returns one
outcome per item (``None`` = delivered, else the item's ``DeliveryError``) or raises one ``DeliveryError`` for the
whole batch, so partial failures (Elastic's per-item bulk errors, HEC's invalid event number) reach exactly the
rows they belong to, and the dispatcher's retry and breaker logic needs no change.

No background task: a batch is always sent by a caller that awaits it. If the leader is cancelled (shutdown)
before sending, the batch's other callers get a retryable error instead of waiting forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from psa_chatops.integrations.errors import DeliveryError, RetryableDeliveryError

T = TypeVar("T")
SendBatch = Callable[[str, Sequence[T]], Awaitable[Sequence[DeliveryError | None]]]


@dataclass
class _Batch(Generic[T]):
    items: list[T] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    sealed: bool = False


class Batcher(Generic[T]):
    def __init__(self, send: SendBatch[T], *, max_items: int = 100, linger_seconds: float = 0.005) -> None:
        if max_items < 1:
            raise ValueError("a batch holds at least one item")
        self._send, self._max, self._linger = send, max_items, linger_seconds
        self._open: dict[str, _Batch[T]] = {}
        self.batches_sent = 0  # for tests and metrics: how many requests the deliveries took

    async def submit(self, key: str, item: T) -> None:
        """Send ``item`` with whatever else arrives for ``key``; raises this item's ``DeliveryError``, if any."""
        batch = self._open.get(key)
        leader = batch is None
        if batch is None:
            batch = self._open[key] = _Batch()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        batch.items.append(item)
        batch.waiters.append(waiter)
        try:
            if len(batch.items) >= self._max:
                await self._flush(key, batch)
            elif leader:
                await asyncio.sleep(self._linger)
                await self._flush(key, batch)
            await waiter
        except asyncio.CancelledError:
            self._abandon(key, batch)
            if waiter.done() and not waiter.cancelled():
                waiter.exception()  # our own outcome, retrieved here so asyncio does not report it as lost
            raise

    async def _flush(self, key: str, batch: _Batch[T]) -> None:
        if batch.sealed:
            return  # a caller that filled it sent it already
        batch.sealed = True
        if self._open.get(key) is batch:
            del self._open[key]
        self.batches_sent += 1
        try:
            outcomes = await self._send(key, list(batch.items))
        except DeliveryError as exc:
            outcomes = [exc] * len(batch.items)
        except asyncio.CancelledError:
            _settle(batch.waiters, [RetryableDeliveryError("batch cancelled before its answer")] * len(batch.items))
            raise
        if len(outcomes) != len(batch.items):
            outcomes = [RetryableDeliveryError(f"{len(outcomes)} outcomes for {len(batch.items)} items")] * len(
                batch.items
            )
        _settle(batch.waiters, outcomes)

    def _abandon(self, key: str, batch: _Batch[T]) -> None:
        if batch.sealed:
            return
        batch.sealed = True
        if self._open.get(key) is batch:
            del self._open[key]
        _settle(batch.waiters, [RetryableDeliveryError("batch abandoned at shutdown")] * len(batch.items))


def _settle(waiters: Sequence[asyncio.Future[None]], outcomes: Sequence[DeliveryError | None]) -> None:
    for waiter, outcome in zip(waiters, outcomes, strict=True):
        if waiter.done():
            continue
        if outcome is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(outcome)
