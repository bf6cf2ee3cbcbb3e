"""The outbox dispatcher: claims due rows, delivers them through the notifiers, and settles each outcome.

Decisions live here, once: delivered -> ``delivered`` (``recorded`` in sandbox); permanent error -> ``dead``;
retryable -> rescheduled with exponential backoff and full jitter, never sooner than the receiver's
``Retry-After``, ``dead`` once the attempts are used up; breaker open -> deferred until the breaker lets a probe
through, without burning an attempt. Outcomes of a batch are settled in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from psa_chatops.handlers.ports import Clock, Delivery
from psa_chatops.integrations.errors import DeliveryError, PermanentDeliveryError, RateLimitedError
from psa_chatops.integrations.recorder import NotifierRegistry
from psa_chatops.integrations.resilience import BreakerBoard, RetryPolicy, is_breaker_failure
from psa_chatops.storage.outbox import OutboxStore, Outcome, RowStatus

logger = logging.getLogger(__name__)


@dataclass
class DispatcherStats:
    delivered: int = 0
    retried: int = 0
    deferred: int = 0
    dead: int = 0
    observers: list[Callable[[str, str], None]] = field(default_factory=list)

    def count(self, kind: str, outcome: str) -> None:
        for observe in self.observers:
            observe(kind, outcome)


@dataclass
class Dispatcher:
    store: OutboxStore
    notifiers: NotifierRegistry
    clock: Clock
    breakers: BreakerBoard = field(default_factory=BreakerBoard)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    batch: int = 100
    concurrency: int = 32
    lease: timedelta = timedelta(seconds=60)
    poll_seconds: float = 0.5
    linger_seconds: float = 0.05  # after a partial batch, let rows accumulate: one claim for many commits
    rng: random.Random = field(default_factory=random.Random)
    stats: DispatcherStats = field(default_factory=DispatcherStats)
    running: bool = False

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(self.concurrency)

    def wake(self) -> None:
        """Called after a commit, so new rows go out now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        self.running = True
        try:
            while True:
                handled = await self.run_once()
                if handled == 0:
                    await self._sleep()
                elif handled < self.batch:  # under load, claim in batches rather than one row per commit
                    await asyncio.sleep(self.linger_seconds)
        finally:
            self.running = False

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
        self._wake.clear()

    async def run_once(self) -> int:
        deliveries = await self.store.claim(now=self.clock.now(), limit=self.batch, lease=self.lease)
        if not deliveries:
            return 0
        outcomes = await asyncio.gather(*(self._attempt(d) for d in deliveries))
        await self.store.settle(outcomes, now=self.clock.now())
        return len(deliveries)

    async def drain(self, *, max_rounds: int = 10_000) -> int:
        """Deliver everything that is due now (CLI and tests); returns how many attempts were made."""
        total = 0
        for _ in range(max_rounds):
            handled = await self.run_once()
            if handled == 0:
                break
            total += handled
        return total

    async def _attempt(self, delivery: Delivery) -> Outcome:
        async with self._slots:
            kind = delivery.destination.partition(":")[0]
            if not self.breakers.allow(delivery.destination):
                return self._defer(delivery, kind)
            try:
                await self.notifiers.for_destination(delivery.destination).deliver(delivery)
            except DeliveryError as exc:
                return self._failed(delivery, kind, exc)
            except Exception as exc:  # a notifier bug must not kill the dispatcher; treat it as transient
                logger.exception("notifier crashed on delivery %s", delivery.id)
                return self._failed(delivery, kind, DeliveryError(f"{type(exc).__name__}: {exc}"))
            self.breakers.record_success(delivery.destination)
            self.stats.delivered += 1
            self.stats.count(kind, "delivered")
            status = RowStatus.RECORDED if self.notifiers.sandbox_enabled else RowStatus.DELIVERED
            return Outcome(delivery.id, status=status)

    def _defer(self, delivery: Delivery, kind: str) -> Outcome:
        wait = self.breakers.retry_in(delivery.destination) or self.poll_seconds
        self.stats.deferred += 1
        self.stats.count(kind, "deferred")
        return Outcome(
            delivery.id,
            next_attempt_at=self.clock.now() + timedelta(seconds=wait),
            error="circuit breaker open",
            burn_attempt=False,
        )

    def _failed(self, delivery: Delivery, kind: str, exc: DeliveryError) -> Outcome:
        if is_breaker_failure(exc) or not isinstance(exc, PermanentDeliveryError):
            self.breakers.record_failure(delivery.destination)
        else:
            self.breakers.record_success(delivery.destination)
        attempts = delivery.attempts + 1
        error = str(exc)[:1000]
        if isinstance(exc, PermanentDeliveryError) or self.policy.is_exhausted(attempts):
            logger.warning("delivery %s dead-lettered after %d attempt(s): %s", delivery.id, attempts, error)
            self.stats.dead += 1
            self.stats.count(kind, "dead")
            return Outcome(delivery.id, status=RowStatus.DEAD, error=error)
        retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
        delay = self.policy.next_delay(attempts, retry_after=retry_after, rng=self.rng)
        self.stats.retried += 1
        self.stats.count(kind, "retry")
        return Outcome(delivery.id, next_attempt_at=self.clock.now() + timedelta(seconds=delay), error=error)
