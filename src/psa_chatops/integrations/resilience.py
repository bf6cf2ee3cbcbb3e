"""Retry schedule and per-destination circuit breakers for the outbox dispatcher, written once.

Why our own ~200 lines instead of tenacity, stamina, backoff, pybreaker, aiobreaker or purgatory: those libraries
wrap a *call* and retry or short-circuit it inside one running process. The outbox works the other way round:

- The retry schedule is data. After a failure the dispatcher stores ``attempts`` and the next due time on the
  outbox row and lets go of it; any replica may pick it up later, and a restart loses nothing. A call-wrapping
  retry loop would keep the schedule in a coroutine's stack and lose it on restart or deploy.
- A breaker must be asked *before* a row is claimed, and must say *until when* to defer it, because a row
  deferred by an open breaker must not burn an attempt. Wrapping libraries only offer "call and maybe raise
  CircuitOpen"; none exposes ``retry_at`` for rescheduling, and their half-open probe bookkeeping is tied to
  the wrapped call.

So this module only computes: ``RetryPolicy.next_delay`` returns seconds, ``BreakerBoard`` answers
``allow``/``retry_at`` and records outcomes. Nothing here sleeps or does I/O, and time is always injected
(``now`` callables, ``rng``), so the tests need no sleeps.

Breaker state lives in process memory, one board per dispatcher process; that is deliberate (a restart simply
starts closed and the first failures reopen it). The methods never await, so they are atomic on the event loop.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Final, Literal, TypedDict

from psa_chatops.integrations.errors import RetryableDeliveryError

Jitter = Literal["full", "equal", "none"]
BreakerState = Literal["closed", "open", "half_open"]

CLOSED: Final = "closed"
OPEN: Final = "open"
HALF_OPEN: Final = "half_open"

_DELAY_SECONDS = re.compile(r"\s*(\d+)\s*")
_MAX_EXPONENT = 64  # 2**64 * base is far beyond any cap; keeps the float arithmetic finite


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 §10.2.3), or ``None`` if absent or unparseable.

    Both forms are accepted: delay-seconds (``"120"``) and an HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``),
    the latter measured against ``now`` (wall-clock epoch seconds). A date in the past means "now": ``0.0``.
    """
    if value is None:
        return None
    seconds = _DELAY_SECONDS.fullmatch(value)
    if seconds:
        return float(seconds.group(1))
    return _seconds_until_http_date(value, now=now)


def _seconds_until_http_date(value: str, *, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter ("full jitter" from the AWS Architecture Blog by default).

    ``attempts`` is the number of attempts made so far, including the one that just failed. The ceiling of the
    n-th delay is ``min(cap_seconds, base_seconds * 2 ** (n - 1))``; full jitter draws uniformly below it, so
    many rows failing together do not come back together. A ``Retry-After`` hint is a floor, capped at
    ``max_retry_after_seconds`` so a hostile or broken server cannot park a row for a week.
    """

    base_seconds: float = 2.0
    cap_seconds: float = 600.0
    max_attempts: int = 8
    jitter: Jitter = "full"
    max_retry_after_seconds: float = 3600.0

    def ceiling(self, attempts: int) -> float:
        exponent = min(max(attempts - 1, 0), _MAX_EXPONENT)
        return min(self.cap_seconds, self.base_seconds * 2.0**exponent)

    def next_delay(self, attempts: int, *, retry_after: float | None = None, rng: random.Random) -> float:
        delay = self._jittered(self.ceiling(attempts), rng)
        if retry_after is None or not math.isfinite(retry_after):
            return delay
        return max(delay, min(max(retry_after, 0.0), self.max_retry_after_seconds))

    def is_exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts

    def _jittered(self, ceiling: float, rng: random.Random) -> float:
        if self.jitter == "full":
            return rng.uniform(0.0, ceiling)
        if self.jitter == "equal":
            return ceiling / 2 + rng.uniform(0.0, ceiling / 2)
        return ceiling


def is_breaker_failure(error: BaseException) -> bool:
    """Only "the service is unwell" counts against a breaker.

    Timeouts, 5xx, refused connections and rate limiting do; a permanent error (bad payload, 404, revoked
    credentials) proves the service answered, so the dispatcher should ``record_success`` for it instead.
    """
    return isinstance(error, RetryableDeliveryError)


@dataclass(frozen=True)
class BreakerPolicy:
    """Tuning shared by every destination's breaker.

    ``failure_threshold`` consecutive failures open the breaker for ``reset_timeout`` seconds; every failed
    half-open probe multiplies that by ``reset_backoff`` up to ``max_reset_timeout``. A probe that reports
    neither success nor failure within ``probe_timeout`` (its worker crashed or was cancelled) is presumed lost,
    and the next caller may probe.
    """

    failure_threshold: int = 5
    reset_timeout: float = 30.0
    max_reset_timeout: float = 600.0
    reset_backoff: float = 2.0
    probe_timeout: float = 60.0


class BreakerSnapshot(TypedDict):
    """One breaker, as shown by ``/readyz`` and exported to Prometheus. Times are on the injected clock."""

    state: BreakerState
    consecutive_failures: int
    opened_at: float | None
    retry_at: float | None


class CircuitBreaker:
    """One destination's breaker: closed -> open -> half_open (one probe at a time) -> closed or open again."""

    def __init__(self, policy: BreakerPolicy, *, now: Callable[[], float]) -> None:
        self._policy = policy
        self._now = now
        self._state: BreakerState = CLOSED
        self._failures = 0
        self._opened_at: float | None = None
        self._open_for = policy.reset_timeout
        self._probe_started_at: float | None = None

    @property
    def state(self) -> BreakerState:
        self._advance()
        return self._state

    def allow(self) -> bool:
        """May a delivery go out now? In half-open, a ``True`` answer *is* the probe: call it once per send."""
        self._advance()
        if self._state == CLOSED:
            return True
        if self._state == OPEN or self._probe_in_flight():
            return False
        self._probe_started_at = self._now()
        return True

    def retry_at(self) -> float | None:
        """When a deferred delivery should be tried again; ``None`` when the breaker lets deliveries through."""
        self._advance()
        if self._state == OPEN and self._opened_at is not None:
            return self._opened_at + self._open_for
        if self._state == HALF_OPEN and self._probe_started_at is not None and self._probe_in_flight():
            return self._probe_started_at + self._policy.probe_timeout
        return None

    def record_success(self) -> None:
        self._state = CLOSED
        self._failures = 0
        self._opened_at = None
        self._open_for = self._policy.reset_timeout
        self._probe_started_at = None

    def record_failure(self) -> None:
        self._advance()
        self._failures += 1
        if self._state == HALF_OPEN:
            self._open_for = min(self._open_for * self._policy.reset_backoff, self._policy.max_reset_timeout)
            self._trip()
        elif self._state == CLOSED and self._failures >= self._policy.failure_threshold:
            self._trip()

    def snapshot(self) -> BreakerSnapshot:
        return {
            "state": self.state,
            "consecutive_failures": self._failures,
            "opened_at": self._opened_at,
            "retry_at": self.retry_at(),
        }

    def _trip(self) -> None:
        self._state = OPEN
        self._opened_at = self._now()
        self._probe_started_at = None

    def _advance(self) -> None:
        """Open turns half-open by itself once ``reset_timeout`` has passed; reads see the current state."""
        if self._state == OPEN and self._opened_at is not None and self._now() >= self._opened_at + self._open_for:
            self._state = HALF_OPEN
            self._probe_started_at = None

    def _probe_in_flight(self) -> bool:
        started = self._probe_started_at
        return started is not None and self._now() < started + self._policy.probe_timeout


class BreakerBoard:
    """One ``CircuitBreaker`` per destination string, created on first use. This is what the dispatcher holds.

    Dispatcher protocol, per claimed row:
    ``allow(dest)`` false -> reschedule the row at ``retry_at(dest)`` *without* incrementing attempts;
    otherwise deliver, then ``record_success(dest)`` on success or a permanent error, ``record_failure(dest)``
    when ``is_breaker_failure(error)``.
    """

    def __init__(self, policy: BreakerPolicy | None = None, *, now: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy if policy is not None else BreakerPolicy()
        self._now = now
        self._breakers: dict[str, CircuitBreaker] = {}

    def breaker(self, destination: str) -> CircuitBreaker:
        found = self._breakers.get(destination)
        if found is None:
            found = self._breakers[destination] = CircuitBreaker(self._policy, now=self._now)
        return found

    def allow(self, destination: str) -> bool:
        return self.breaker(destination).allow()

    def retry_at(self, destination: str) -> float | None:
        return self.breaker(destination).retry_at()

    def retry_in(self, destination: str) -> float | None:
        """``retry_at`` as seconds from now, ready to add to a wall-clock due time in the database."""
        at = self.retry_at(destination)
        return None if at is None else max(0.0, at - self._now())

    def record_success(self, destination: str) -> None:
        self.breaker(destination).record_success()

    def record_failure(self, destination: str) -> None:
        self.breaker(destination).record_failure()

    def state(self, destination: str) -> BreakerState:
        return self.breaker(destination).state

    def snapshot(self) -> dict[str, BreakerSnapshot]:
        return {destination: breaker.snapshot() for destination, breaker in sorted(self._breakers.items())}
