"""Per-conversation send pacing for the Teams notifier: Teams' documented per-bot, per-conversation limits.

Teams throttles a bot per conversation ("thread") at about 7 operations per second, 8 per 2 s, 60 per 30 s and
1800 per hour, and answers more with HTTP 429. ``ConversationLane`` is the Slack ``ChannelLane`` (FIFO turns,
``Retry-After`` pauses, background turns for root updates, ``max_wait`` refusals; see ``slack_queue``) with a
different admission rule: instead of a fixed interval between sends, a send waits until every window has room
(``SendWindows``: a token bucket per window whose tokens come back exactly one window after they were spent, so
"at most N in any W seconds" holds for every window, bursts included). Root updates take their turns from the
same lane, so they count against the same limits. ``EditCoalescer`` from ``slack_queue`` is reused as is.

Time is injected (``now`` monotonic seconds, ``sleep``), so the tests run on a virtual clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence

from psa_chatops.integrations.slack_queue import ChannelLane, ChannelLanes, Now, Sleep

TEAMS_WINDOWS: tuple[tuple[float, int], ...] = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
"""(seconds, sends) per conversation, as Teams documents its bot rate limits per thread."""


class SendWindows:
    """At most ``limit`` sends in any ``seconds`` long window, for each (seconds, limit) pair."""

    def __init__(self, windows: Sequence[tuple[float, int]]) -> None:
        if not windows or any(seconds <= 0 or limit < 1 for seconds, limit in windows):
            raise ValueError("windows need positive lengths and limits")
        self._windows = tuple(windows)
        self._sent: deque[float] = deque(maxlen=max(limit for _, limit in windows))

    def wait(self, now: float, *, ahead: int = 0) -> float:
        """Seconds until a send is allowed, when ``ahead`` more sends are admitted first (0: the next one)."""
        sent = list(self._sent)
        at = now
        for _ in range(ahead + 1):
            at = max(at, self._earliest(sent, at))
            sent.append(at)
        return max(0.0, at - now)

    def take(self, now: float) -> None:
        self._sent.append(now)

    def _earliest(self, sent: list[float], now: float) -> float:
        earliest = now
        for seconds, limit in self._windows:
            if len(sent) >= limit:
                earliest = max(earliest, sent[-limit] + seconds)  # the limit-th newest send leaves the window
        return earliest


class ConversationLane(ChannelLane):
    """A ``ChannelLane`` whose turns are admitted by ``SendWindows`` rather than a fixed interval.

    ``interval`` stays the pause used after a 429 without ``Retry-After``; it does not space sends.
    """

    def __init__(
        self, *, windows: Sequence[tuple[float, int]], interval: float, max_wait: float, now: Now, sleep: Sleep
    ) -> None:
        super().__init__(interval=0.0, max_wait=max_wait, now=now, sleep=sleep)
        self.interval = interval
        self.windows = SendWindows(windows)

    def expected_wait(self) -> float:
        ahead = self._queued + (1 if self._lock.locked() else 0)
        now = self._now()
        return max(self.paused_for(), self.windows.wait(now, ahead=ahead))

    async def _ready(self) -> None:
        while True:
            while (paused := self._paused_until - self._now()) > 0:
                await self._sleep(paused)
            wait = self.windows.wait(self._now())
            if wait <= 0:
                break
            await self._sleep(wait)
        self.windows.take(self._now())  # the base class's interval spacing (``_next_at``) is not consulted


class ConversationLanes(ChannelLanes):
    """One ``ConversationLane`` per conversation, created on first use."""

    def __init__(
        self,
        *,
        windows: Sequence[tuple[float, int]] = TEAMS_WINDOWS,
        interval: float = 1.0,
        max_wait: float = 20.0,
        now: Now = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(interval=interval, max_wait=max_wait, now=now, sleep=sleep)
        self.windows = tuple(windows)
        self._conversation_lanes: dict[str, ConversationLane] = {}

    def lane(self, key: str) -> ConversationLane:
        found = self._conversation_lanes.get(key)
        if found is None:
            found = self._conversation_lanes[key] = ConversationLane(
                windows=self.windows, interval=self.interval, max_wait=self.max_wait, now=self.now, sleep=self.sleep
            )
        return found
