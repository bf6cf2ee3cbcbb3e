"""One-webhook notifiers (Slack's incoming webhook, Teams' Workflows), the same apart from the HTTP call.

A webhook is bound to one channel, cannot thread, edit, or tell who reads along: each event is one message, internal
notes are never sent, and the keys of rows already posted are remembered (bounded) so a retry never reposts within
a process. 429 -> ``RateLimitedError`` (the one lane pauses), other statuses as ``error_for_status``, connection
errors and timeouts retryable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

import aiohttp

from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.chat_threads import is_internal_note
from psa_chatops.integrations.errors import RetryableDeliveryError, error_for_status
from psa_chatops.integrations.resilience import parse_retry_after
from psa_chatops.integrations.slack_queue import ChannelLanes, Memory, Now, Sleep

logger = logging.getLogger(__name__)

B = TypeVar("B")
Answer = tuple[int, str, str | None]
"""What a webhook answered: the status, the start of its body, its ``Retry-After``."""


class ChatWebhookNotifier(ABC, Generic[B]):
    """The shared delivery; a channel says how to check a destination, render a body (``B``) and POST it."""

    LANE: ClassVar[str]
    LABEL: ClassVar[str]  # "Slack incoming webhook", in error messages
    VIA: ClassVar[str]  # "the incoming webhook", in the log line of a note not sent

    def __init__(
        self,
        url: str,
        *,
        public_url: str,
        locale_for: Callable[[str], str],
        timeout: float = 10.0,
        max_queue_wait: float = 20.0,
        remembered_keys: int = 10_000,
        now: Now = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._url, self._timeout = url, timeout
        self._public_url, self._locale_for = public_url, locale_for
        self.lanes = self._new_lanes(max_wait=max_queue_wait, now=now, sleep=sleep)
        self._posted: Memory[bool] = Memory(remembered_keys)
        self._session: aiohttp.ClientSession | None = None
        self._wall_clock = wall_clock

    @abstractmethod
    def _new_lanes(self, *, max_wait: float, now: Now, sleep: Sleep) -> ChannelLanes:
        """The channel's pacing for its one lane."""

    @abstractmethod
    def _check(self, destination: str) -> None: ...

    @abstractmethod
    async def _body(self, payload: dict[str, Any], *, locale: str, destination: str) -> B: ...

    @abstractmethod
    async def _post(self, body: B) -> Answer: ...

    async def deliver(self, delivery: Delivery) -> None:
        destination = delivery.destination
        self._check(destination)
        if delivery.idempotency_key in self._posted:
            return
        if is_internal_note(delivery.payload):
            logger.info("internal note not sent through %s (%s)", self.VIA, destination)
            return
        body = await self._body(delivery.payload, locale=self._locale_for(destination), destination=destination)
        lane = self.lanes.lane(self.LANE)
        async with lane.turn():
            try:
                status, text, retry_header = await self._post(body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                message = f"{self.LABEL} failed: {type(exc).__name__}"
                raise RetryableDeliveryError(message, destination=destination) from exc
        retry_after = parse_retry_after(retry_header, now=self._wall_clock())
        message = f"{self.LABEL} answered {status}: {text[:200]}"
        error = error_for_status(status, retry_after=retry_after, message=message, destination=destination)
        lane.pause_for_rate_limit(error)
        if error is not None:
            raise error
        self._posted.put(delivery.idempotency_key, True)

    def paused_for(self) -> float:
        return self.lanes.lane(self.LANE).paused_for()

    async def close(self, *, grace: float = 0.0) -> None:
        """Close the HTTP session (``grace`` only for symmetry: nothing runs in the background here)."""
        if self._session is not None:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self._session
