"""A scheduled poll of one vendor: fetch alerts changed since the stored watermark, hand them to the sink, and
store the new watermark only after the sink returned, so a crash or a failing sink loses nothing.

Failures back off exponentially (``RetryPolicy`` with jitter; a vendor's ``Retry-After`` is a floor) and polls
are skipped until the backoff has passed. Vendor failures that mean "the service is unwell" (timeouts, 5xx, 429)
also feed a ``CircuitBreaker``; while it is open no request goes out. A failing sink is our own problem: it backs
off but does not count against the vendor. The scheduler calls ``poll`` every interval; ``poll`` never raises.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from psa_chatops.core.alerts import AlertSignal
from psa_chatops.integrations.errors import DeliveryError, RateLimitedError
from psa_chatops.integrations.resilience import CircuitBreaker, RetryPolicy, is_breaker_failure
from psa_chatops.integrations.security.feed import AlertFeed
from psa_chatops.integrations.security.watermark import Watermark

logger = logging.getLogger(__name__)

AlertSink = Callable[[list[AlertSignal]], Awaitable[None]]


class CursorStore(Protocol):
    """What the poller needs of ``storage.alert_cursors.AlertCursorStore``."""

    async def get(self, provider: str) -> str | None: ...

    async def put(self, provider: str, cursor: str, *, now: datetime) -> None: ...


@dataclass
class PollResult:
    """What one poll did; ``skipped`` names why nothing was fetched (``backoff``, ``breaker``)."""

    handed_on: int = 0
    invalid: int = 0
    stored: Watermark | None = None
    error: str | None = None
    skipped: str | None = None


@dataclass
class AlertPoller:
    feed: AlertFeed
    cursors: CursorStore
    sink: AlertSink
    breaker: CircuitBreaker
    now: Callable[[], datetime]
    policy: RetryPolicy = field(default_factory=lambda: RetryPolicy(base_seconds=30.0, cap_seconds=1800.0))
    look_back: timedelta = timedelta(days=1)
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0
    not_before: datetime | None = None

    @property
    def provider(self) -> str:
        return self.feed.provider

    async def poll(self) -> PollResult:
        now = self.now()
        if self.not_before is not None and now < self.not_before:
            return PollResult(skipped="backoff")
        if not self.breaker.allow():
            return PollResult(skipped="breaker")
        result = PollResult()
        try:
            await self._run(await self._start(now), result)
        except DeliveryError as exc:  # the vendor failed
            self._failed(exc, vendor=is_breaker_failure(exc), result=result)
            return result
        except Exception as exc:  # the sink (or the cursor store) failed: nothing stored past what was handed on
            logger.exception("%s poll: the sink failed; the watermark stays", self.provider)
            self._failed(exc, vendor=False, result=result)
            return result
        self.breaker.record_success()
        self.failures, self.not_before = 0, None
        return result

    async def _start(self, now: datetime) -> Watermark:
        stored = await self.cursors.get(self.provider)
        if stored is not None:
            try:
                return Watermark.from_text(stored)
            except ValueError:
                logger.warning("%s poll: the stored cursor is unreadable; starting from the look-back", self.provider)
        return Watermark(now - self.look_back)

    async def _run(self, since: Watermark, result: PollResult) -> None:
        last = since
        async for batch in self.feed.batches(since):
            result.invalid += batch.invalid
            if batch.signals:
                await self.sink(batch.signals)
                result.handed_on += len(batch.signals)
            if batch.watermark is not None and batch.watermark != last:
                await self.cursors.put(self.provider, batch.watermark.to_text(), now=self.now())
                result.stored = last = batch.watermark

    def _failed(self, exc: Exception, *, vendor: bool, result: PollResult) -> None:
        if vendor:
            self.breaker.record_failure()
        elif isinstance(exc, DeliveryError):  # a permanent answer (bad token, 404): the service itself is up
            self.breaker.record_success()
        self.failures += 1
        retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
        delay = self.policy.next_delay(self.failures, retry_after=retry_after, rng=self.rng)
        self.not_before = self.now() + timedelta(seconds=delay)
        result.error = f"{type(exc).__name__}: {exc}"
        logger.warning("%s poll failed (%s); next try in %.0f s", self.provider, result.error, delay)
