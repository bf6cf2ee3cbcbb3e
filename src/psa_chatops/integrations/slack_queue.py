"""Per-channel send pacing and coalesced root edits for the Slack notifier (no Slack specifics in here).

Slack allows about one message per second per channel and answers bursts with HTTP 429. Each channel has a
``ChannelLane``: one send at a time, at least ``interval`` seconds apart, paused while a ``Retry-After`` runs.

- ``lane.turn()`` is for messages that an outbox row waits on (roots and thread replies): FIFO, so replies go
  out in the order they arrived. When the queue ahead is longer than ``max_wait`` seconds the turn is refused
  with ``RateLimitedError`` instead of holding the dispatcher's batch (and its lease) for minutes; the row comes
  back after that many seconds.
- ``lane.background_turn(deadline)`` is for root edits. It gives way while any delivery for the channel is in
  progress (``lane.active()``), so a burst of replies goes out first and the edits that piled up meanwhile
  collapse into one; ``deadline`` bounds that (a channel that is never quiet still gets its roots edited).

``EditCoalescer`` keeps the newest wanted state per (channel, target) and runs at most one flush task per
channel; each flush performs one edit per lane turn, with the newest state at that moment. The tasks are owned
(``close`` cancels and awaits them). Edits live in memory only: losing them on a crash or shutdown is accepted
because edits are idempotent re-renders, and the next event for the ticket (or a replay) renders the root again.

Time is injected (``now`` monotonic seconds, ``sleep``), so the tests run on a virtual clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from psa_chatops.integrations.errors import DeliveryError, RateLimitedError, RetryableDeliveryError

logger = logging.getLogger(__name__)

Now = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
S = TypeVar("S")
V = TypeVar("V")

FollowUp = Callable[[], Awaitable[None]]
"""Work an edit asks for after its lane turn (e.g. posting a new root when the old one was deleted)."""


class ChannelLane:
    def __init__(self, *, interval: float, max_wait: float, now: Now, sleep: Sleep) -> None:
        self.interval, self.max_wait = interval, max_wait
        self._now, self._sleep = now, sleep
        self._lock = asyncio.Lock()
        self._next_at = float("-inf")
        self._paused_until = float("-inf")
        self._queued = 0
        self._active = 0
        self._ended = asyncio.Event()  # replaced after each set: a pulse for every delivery that ends

    @property
    def busy(self) -> bool:
        """A delivery for this channel is in progress."""
        return self._active > 0

    def pause(self, seconds: float) -> None:
        """No sends for ``seconds`` (a ``Retry-After``); a longer pause already running is kept."""
        self._paused_until = max(self._paused_until, self._now() + max(seconds, 0.0))

    def pause_for_rate_limit(self, error: DeliveryError | None) -> None:
        """Pause for a rate limit's ``Retry-After`` (one interval without it); other errors do not pause."""
        if isinstance(error, RateLimitedError):
            self.pause(error.retry_after if error.retry_after is not None else self.interval)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._now())

    def expected_wait(self) -> float:
        """Roughly how long a send queued now would wait for its turn."""
        ahead = self._queued + (1 if self._lock.locked() else 0)
        return max(0.0, max(self._next_at, self._paused_until) - self._now()) + ahead * self.interval

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Marks a delivery in progress (from its first step, before it queues for a turn)."""
        self._active += 1
        try:
            yield
        finally:
            self._active -= 1
            ended, self._ended = self._ended, asyncio.Event()
            ended.set()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        wait = self.expected_wait()
        if wait > self.max_wait:
            raise RateLimitedError(f"channel send queue is {wait:.0f}s long", retry_after=wait)
        self._queued += 1
        try:
            await self._lock.acquire()
        finally:
            self._queued -= 1
        try:
            await self._ready()
            yield
        finally:
            self._next_at = self._now() + self.interval
            self._lock.release()

    @contextlib.asynccontextmanager
    async def background_turn(self, deadline: float) -> AsyncIterator[None]:
        while True:
            while self._active and self._now() < deadline:
                await self._ended.wait()  # re-check whenever a delivery ends: quiet now, or past the deadline?
            await self._lock.acquire()
            try:
                await self._ready()
            except BaseException:
                self._lock.release()
                raise
            if not self._active or self._now() >= deadline:
                break
            self._lock.release()  # a delivery arrived while we waited for the slot: it goes first
        try:
            yield
        finally:
            self._next_at = self._now() + self.interval
            self._lock.release()

    async def _ready(self) -> None:
        while (wait := max(self._next_at, self._paused_until) - self._now()) > 0:
            await self._sleep(wait)


class ChannelLanes:
    """One lane per channel key, created on first use (channels are few: they come from routing rules)."""

    def __init__(
        self,
        *,
        interval: float = 1.0,
        max_wait: float = 20.0,
        now: Now = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.interval, self.max_wait = interval, max_wait
        self.now, self.sleep = now, sleep
        self._lanes: dict[str, ChannelLane] = {}

    def lane(self, key: str) -> ChannelLane:
        found = self._lanes.get(key)
        if found is None:
            found = self._lanes[key] = ChannelLane(
                interval=self.interval, max_wait=self.max_wait, now=self.now, sleep=self.sleep
            )
        return found


class Memory(Generic[V]):
    """A bounded map that forgets the least recently stored keys first."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, V] = OrderedDict()

    def get(self, key: str) -> V | None:
        return self._items.get(key)

    def put(self, key: str, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class PendingEdit(Generic[S]):
    version: int
    state: S
    first_requested_at: float
    attempts: int = 0


Apply = Callable[[S], Awaitable[FollowUp | None]]


class EditCoalescer(Generic[S]):
    """Newest wanted state per (channel, target), flushed by one owned task per channel, one edit per turn.

    ``apply(state)`` performs one edit inside the lane turn and raises ``DeliveryError``s; it may return a
    follow-up to run after the turn. Rate limits pause the lane and keep the edit; other transient errors keep
    it for up to ``max_attempts`` tries, ``backoff`` seconds apart (doubling); anything else drops it (logged).
    """

    def __init__(
        self,
        lanes: ChannelLanes,
        apply: Apply[S],
        *,
        max_defer: float = 10.0,
        max_attempts: int = 3,
        backoff: float = 2.0,
    ) -> None:
        self._lanes, self._apply = lanes, apply
        self._max_defer, self._max_attempts, self._backoff = max_defer, max_attempts, backoff
        self._pending: dict[str, OrderedDict[str, PendingEdit[S]]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def request(self, channel: str, target: str, version: int, state: S) -> None:
        """Want ``target`` to show ``state`` (at ``version``); an older or equal version than one pending is ignored."""
        pending = self._pending.setdefault(channel, OrderedDict())
        current = pending.get(target)
        if current is not None and current.version >= version:
            return
        since = current.first_requested_at if current is not None else self._lanes.now()
        pending[target] = PendingEdit(version, state, since)
        if channel not in self._tasks:
            task = asyncio.get_running_loop().create_task(self._flush(channel), name=f"slack-edits:{channel}")
            self._tasks[channel] = task

    def pending(self, channel: str) -> int:
        return len(self._pending.get(channel, ()))

    async def wait_idle(self) -> None:
        """Until every requested edit is done (tests, graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._pending.clear()

    async def _flush(self, channel: str) -> None:
        lane = self._lanes.lane(channel)
        pending = self._pending[channel]
        try:
            while pending:
                oldest = min(edit.first_requested_at for edit in pending.values())
                follow_up: FollowUp | None = None
                retry_in = 0.0
                async with lane.background_turn(oldest + self._max_defer):
                    target, edit = pending.popitem(last=False)  # the newest state of the longest-waiting target
                    try:
                        follow_up = await self._apply(edit.state)
                    except RateLimitedError as exc:
                        lane.pause_for_rate_limit(exc)
                        self._keep(pending, target, edit, count=False)
                    except RetryableDeliveryError as exc:
                        retry_in = self._backoff * 2.0**edit.attempts
                        self._keep(pending, target, edit, count=True, error=exc)
                    except DeliveryError as exc:
                        logger.warning("root edit dropped for %s %s: %s", channel, target, exc)
                    except Exception:  # a bug must not kill the channel's flush; the next event re-renders
                        logger.exception("root edit crashed for %s %s", channel, target)
                if retry_in:
                    await self._lanes.sleep(retry_in)
                if follow_up is not None:
                    await self._run(follow_up, channel)
        finally:
            if self._tasks.get(channel) is asyncio.current_task():
                del self._tasks[channel]
            if not pending:
                self._pending.pop(channel, None)

    def _keep(
        self,
        pending: OrderedDict[str, PendingEdit[S]],
        target: str,
        edit: PendingEdit[S],
        *,
        count: bool,
        error: DeliveryError | None = None,
    ) -> None:
        if target in pending:  # a newer state arrived meanwhile: it replaces this one
            return
        edit.attempts += 1 if count else 0
        if edit.attempts >= self._max_attempts:
            logger.warning("root edit dropped after %d attempts for %s: %s", edit.attempts, target, error)
            return
        pending[target] = edit
        pending.move_to_end(target, last=False)

    @staticmethod
    async def _run(follow_up: FollowUp, channel: str) -> None:
        try:
            await follow_up()
        except DeliveryError as exc:
            logger.warning("follow-up after a root edit failed for %s: %s", channel, exc)
