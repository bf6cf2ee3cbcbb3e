"""The per-destination batcher: one send per batch, each caller gets its own outcome, shutdown loses no caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from psa_chatops.integrations.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from psa_chatops.integrations.siem.batching import Batcher


class Recorder:
    def __init__(self, outcomes: dict[int, DeliveryError] | None = None) -> None:
        self.sent: list[tuple[str, list[int]]] = []
        self.outcomes = outcomes or {}
        self.gate: asyncio.Event | None = None

    async def send(self, key: str, items: Sequence[int]) -> Sequence[DeliveryError | None]:
        self.sent.append((key, list(items)))
        if self.gate is not None:
            await self.gate.wait()
        return [self.outcomes.get(i) for i in items]


async def test_concurrent_items_go_in_one_send_and_get_their_own_outcome() -> None:
    refused = PermanentDeliveryError("no")
    recorder = Recorder({2: refused})
    batcher = Batcher(recorder.send, max_items=10, linger_seconds=0)

    results = await asyncio.gather(*(batcher.submit("a", i) for i in range(4)), return_exceptions=True)

    assert recorder.sent == [("a", [0, 1, 2, 3])]
    assert results == [None, None, refused, None]


async def test_keys_batch_separately_and_a_full_batch_leaves_at_once() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.send, max_items=2, linger_seconds=0)
    await asyncio.gather(*(batcher.submit(k, i) for i, k in enumerate("aabab")))
    assert sorted(recorder.sent) == [("a", [0, 1]), ("a", [3]), ("b", [2, 4])]
    assert batcher.batches_sent == 3


async def test_a_whole_batch_failure_reaches_every_caller() -> None:
    async def fail(key: str, items: Sequence[int]) -> Sequence[DeliveryError | None]:
        raise RetryableDeliveryError("down")

    batcher = Batcher(fail, linger_seconds=0)
    results = await asyncio.gather(*(batcher.submit("a", i) for i in range(3)), return_exceptions=True)
    assert [type(r) for r in results] == [RetryableDeliveryError] * 3


async def test_a_wrong_number_of_outcomes_is_retryable() -> None:
    async def short(key: str, items: Sequence[int]) -> Sequence[DeliveryError | None]:
        return [None]

    batcher = Batcher(short, linger_seconds=0)
    results = await asyncio.gather(*(batcher.submit("a", i) for i in range(2)), return_exceptions=True)
    assert all(isinstance(r, RetryableDeliveryError) for r in results)


async def test_cancelling_the_leader_releases_the_others() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.send, linger_seconds=3600)  # the leader would linger for an hour
    leader = asyncio.create_task(batcher.submit("a", 1))
    await asyncio.sleep(0)
    follower = asyncio.create_task(batcher.submit("a", 2))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    with pytest.raises(RetryableDeliveryError, match="abandoned"):
        await follower
    assert recorder.sent == []
