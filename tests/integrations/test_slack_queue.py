"""Channel lanes and the edit coalescer on a virtual clock (no Slack involved)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from psa_chatops.integrations.errors import PermanentDeliveryError, RateLimitedError, RetryableDeliveryError
from psa_chatops.integrations.slack_queue import ChannelLanes, EditCoalescer, FollowUp, Memory
from tests.integrations.slack_support import VirtualTime, eventually


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def lanes(vt: VirtualTime) -> ChannelLanes:
    return ChannelLanes(interval=1.0, max_wait=5.0, now=vt.now, sleep=vt.sleep)


class Recorder:
    """An ``apply`` that records (virtual time, state) and fails on demand."""

    def __init__(self, vt: VirtualTime) -> None:
        self.vt = vt
        self.applied: list[tuple[float, str]] = []
        self.failures: list[Exception] = []

    async def __call__(self, state: str) -> FollowUp | None:
        if self.failures:
            raise self.failures.pop(0)
        self.applied.append((self.vt.now(), state))
        return None


@pytest.fixture
async def edits(lanes: ChannelLanes, vt: VirtualTime) -> AsyncIterator[tuple[EditCoalescer[str], Recorder]]:
    recorder = Recorder(vt)
    coalescer: EditCoalescer[str] = EditCoalescer(lanes, recorder, max_defer=10.0, max_attempts=3, backoff=2.0)
    yield coalescer, recorder
    await coalescer.close()


async def test_sends_are_spaced_and_a_pause_holds_the_lane(lanes: ChannelLanes, vt: VirtualTime) -> None:
    lane = lanes.lane("C1")
    sent: list[float] = []

    async def send() -> None:
        async with lane.turn():
            sent.append(vt.now())

    await vt.run(asyncio.gather(send(), send(), send()))
    assert sent == [1000.0, 1001.0, 1002.0]
    lane.pause(3.0)
    assert lane.paused_for() == 3.0
    await vt.run(send())
    assert sent[-1] == 1005.0
    assert lanes.lane("C2").paused_for() == 0.0


async def test_a_queue_longer_than_max_wait_is_refused_at_once(lanes: ChannelLanes) -> None:
    lane = lanes.lane("C1")
    lane.pause(30.0)
    with pytest.raises(RateLimitedError) as refused:
        async with lane.turn():
            pytest.fail("must not get a turn")
    assert refused.value.retry_after == pytest.approx(30.0)


async def test_edits_wait_for_deliveries_in_progress_and_keep_only_the_newest_state(
    lanes: ChannelLanes, vt: VirtualTime, edits: tuple[EditCoalescer[str], Recorder]
) -> None:
    coalescer, recorder = edits
    lane = lanes.lane("C1")
    with lane.active():  # a delivery is in progress: the edit waits
        for version in (2, 3, 5):
            coalescer.request("C1", "root-1", version, f"v{version}")
        coalescer.request("C1", "root-1", 4, "v4")  # older than what is pending: ignored
        await asyncio.sleep(0.01)
        assert recorder.applied == []
    await vt.run(coalescer.wait_idle())
    assert [state for _, state in recorder.applied] == ["v5"]


async def test_a_busy_channel_still_gets_its_edits_after_max_defer(
    lanes: ChannelLanes, vt: VirtualTime, edits: tuple[EditCoalescer[str], Recorder]
) -> None:
    coalescer, recorder = edits
    lane = lanes.lane("C1")
    with lane.active():  # deliveries overlap: the channel is never idle
        coalescer.request("C1", "root-1", 2, "v2")
        with lane.active():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)
        assert recorder.applied == []  # a delivery ended, but the channel is still busy
        vt.advance(11.0)  # ... for longer than max_defer
        with lane.active():
            pass  # the next delivery that ends lets the edit through
        await eventually(lambda: len(recorder.applied) == 1)
    assert recorder.applied == [(1011.0, "v2")]


async def test_failed_edits_are_retried_paused_or_dropped(
    lanes: ChannelLanes, vt: VirtualTime, edits: tuple[EditCoalescer[str], Recorder]
) -> None:
    coalescer, recorder = edits
    recorder.failures = [RateLimitedError("429", retry_after=20.0), RetryableDeliveryError("503")]
    coalescer.request("C1", "root-1", 2, "v2")
    await vt.run(coalescer.wait_idle())
    assert recorder.applied == [(1000.0 + 20.0 + 2.0, "v2")]  # waited out the 429, then backed off 2 s

    recorder.failures = [RetryableDeliveryError("503")] * 3
    coalescer.request("C1", "root-2", 2, "v2")
    await vt.run(coalescer.wait_idle())
    assert len(recorder.applied) == 1  # three transient failures: dropped, the next event re-renders

    recorder.failures = [PermanentDeliveryError("invalid_blocks")]
    coalescer.request("C1", "root-3", 2, "bad")
    coalescer.request("C1", "root-4", 2, "good")
    await vt.run(coalescer.wait_idle())
    assert [state for _, state in recorder.applied] == ["v2", "good"]
    assert coalescer.pending("C1") == 0


async def test_close_cancels_pending_edits(
    lanes: ChannelLanes, vt: VirtualTime, edits: tuple[EditCoalescer[str], Recorder]
) -> None:
    coalescer, recorder = edits
    lanes.lane("C1").pause(5.0)
    coalescer.request("C1", "root-1", 2, "v2")
    await eventually(lambda: vt.sleeping == 1)
    await coalescer.close()
    assert recorder.applied == []
    assert coalescer.pending("C1") == 0


def test_memory_forgets_the_oldest_keys() -> None:
    memory: Memory[str] = Memory(2)
    for key in ("a", "b", "c"):
        memory.put(key, key.upper())
    assert "a" not in memory
    assert (memory.get("b"), memory.get("c"), len(memory)) == ("B", "C", 2)
