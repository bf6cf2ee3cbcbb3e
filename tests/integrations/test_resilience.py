"""Retry schedule and circuit breakers, on an injected clock and a seeded rng: no sleeps."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from psa_chatops.integrations.errors import PermanentDeliveryError, RateLimitedError, RetryableDeliveryError
from psa_chatops.integrations.resilience import (
    BreakerBoard,
    BreakerPolicy,
    RetryPolicy,
    is_breaker_failure,
    parse_retry_after,
)

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
DEST = "webhook:http://127.0.0.1:1/hook"


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


# --- RetryPolicy -----------------------------------------------------------------------------------------------


def test_ceiling_doubles_from_base_and_stops_at_cap() -> None:
    policy = RetryPolicy()

    assert [policy.ceiling(n) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    assert policy.ceiling(10) == 600.0
    assert policy.ceiling(10_000) == 600.0


def test_full_jitter_stays_within_zero_and_ceiling() -> None:
    policy, rng = RetryPolicy(), random.Random(42)

    for attempts in range(1, 15):
        samples = [policy.next_delay(attempts, rng=rng) for _ in range(200)]
        assert all(0.0 <= s <= policy.ceiling(attempts) for s in samples)
        assert len(set(samples)) > 1


def test_jitter_is_reproducible_with_a_seeded_rng() -> None:
    policy = RetryPolicy()

    first = [policy.next_delay(n, rng=random.Random(7)) for n in range(1, 9)]
    second = [policy.next_delay(n, rng=random.Random(7)) for n in range(1, 9)]

    assert first == second


def test_equal_jitter_keeps_at_least_half_the_ceiling_and_none_returns_it() -> None:
    rng = random.Random(1)

    assert all(RetryPolicy(jitter="equal").next_delay(4, rng=rng) >= 8.0 for _ in range(100))
    assert RetryPolicy(jitter="none").next_delay(4, rng=rng) == 16.0


@pytest.mark.parametrize(("retry_after", "expected"), [(120.0, 120.0), (10**6, 3600.0), (-5.0, None)])
def test_retry_after_is_a_floor_capped_at_the_maximum(retry_after: float, expected: float | None) -> None:
    delay = RetryPolicy().next_delay(1, retry_after=retry_after, rng=random.Random(3))

    if expected is None:
        assert 0.0 <= delay <= 2.0
    else:
        assert delay == expected


def test_retry_after_below_the_backoff_does_not_shorten_it() -> None:
    policy = RetryPolicy(jitter="none")

    assert policy.next_delay(5, retry_after=1.0, rng=random.Random(0)) == 32.0


def test_exhausted_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=8)

    assert not policy.is_exhausted(7)
    assert policy.is_exhausted(8)


# --- Retry-After ------------------------------------------------------------------------------------------------


def test_parse_retry_after_delta_seconds() -> None:
    assert parse_retry_after("120", now=NOW.timestamp()) == 120.0
    assert parse_retry_after(" 0 ", now=NOW.timestamp()) == 0.0


def test_parse_retry_after_http_date() -> None:
    header = format_datetime(NOW + timedelta(seconds=90), usegmt=True)

    assert parse_retry_after(header, now=NOW.timestamp()) == 90.0


def test_parse_retry_after_date_in_the_past_means_now() -> None:
    header = format_datetime(NOW - timedelta(hours=1), usegmt=True)

    assert parse_retry_after(header, now=NOW.timestamp()) == 0.0


@pytest.mark.parametrize("header", [None, "", "soon", "-3", "1.5", "Wed, 99 Foo 2015 07:28:00 GMT"])
def test_parse_retry_after_rejects_missing_or_malformed(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW.timestamp()) is None


# --- CircuitBreaker / BreakerBoard ------------------------------------------------------------------------------


def open_board(clock: FakeClock, policy: BreakerPolicy | None = None) -> BreakerBoard:
    policy = policy or BreakerPolicy()
    board = BreakerBoard(policy, now=clock)
    for _ in range(policy.failure_threshold):
        board.record_failure(DEST)
    return board


def test_breaker_opens_after_threshold_consecutive_failures() -> None:
    clock = FakeClock()
    board = BreakerBoard(BreakerPolicy(failure_threshold=3, reset_timeout=30.0), now=clock)

    board.record_failure(DEST)
    board.record_failure(DEST)
    assert board.state(DEST) == "closed"
    assert board.allow(DEST)

    board.record_failure(DEST)

    assert board.state(DEST) == "open"
    assert not board.allow(DEST)
    assert board.retry_at(DEST) == 1030.0
    assert board.retry_in(DEST) == 30.0


def test_success_resets_the_consecutive_count() -> None:
    clock = FakeClock()
    board = BreakerBoard(BreakerPolicy(failure_threshold=2), now=clock)

    board.record_failure(DEST)
    board.record_success(DEST)
    board.record_failure(DEST)

    assert board.state(DEST) == "closed"
    assert board.snapshot()[DEST]["consecutive_failures"] == 1


def test_open_breaker_turns_half_open_after_reset_timeout_and_lets_one_probe_through() -> None:
    clock = FakeClock()
    board = open_board(clock)

    clock.advance(29.9)
    assert not board.allow(DEST)
    clock.advance(0.1)

    assert board.state(DEST) == "half_open"
    assert board.retry_at(DEST) is None
    assert board.allow(DEST)
    assert not board.allow(DEST)
    assert not board.allow(DEST)
    assert board.retry_at(DEST) == clock.t + 60.0


def test_probe_success_closes_the_breaker() -> None:
    clock = FakeClock()
    board = open_board(clock)
    clock.advance(30)
    assert board.allow(DEST)

    board.record_success(DEST)

    assert board.state(DEST) == "closed"
    assert board.allow(DEST)
    assert board.allow(DEST)
    assert board.retry_at(DEST) is None


def test_probe_failure_reopens_with_a_longer_timeout() -> None:
    clock = FakeClock()
    board = open_board(clock)
    clock.advance(30)
    assert board.allow(DEST)

    board.record_failure(DEST)

    assert board.state(DEST) == "open"
    assert board.retry_at(DEST) == clock.t + 60.0
    clock.advance(59)
    assert not board.allow(DEST)
    clock.advance(1)
    assert board.allow(DEST)


def test_reopen_timeout_is_capped() -> None:
    clock = FakeClock()
    board = open_board(clock, BreakerPolicy(reset_timeout=30.0, max_reset_timeout=100.0))

    for _ in range(6):
        clock.advance(board.retry_in(DEST) or 0.0)
        assert board.allow(DEST)
        board.record_failure(DEST)

    assert board.retry_in(DEST) == 100.0


def test_success_after_reopening_resets_the_timeout() -> None:
    clock = FakeClock()
    board = open_board(clock)
    clock.advance(30)
    board.allow(DEST)
    board.record_failure(DEST)
    clock.advance(60)
    board.allow(DEST)
    board.record_success(DEST)

    for _ in range(BreakerPolicy().failure_threshold):
        board.record_failure(DEST)

    assert board.retry_in(DEST) == 30.0


def test_a_lost_probe_is_replaced_after_probe_timeout() -> None:
    clock = FakeClock()
    board = open_board(clock, BreakerPolicy(probe_timeout=10.0))
    clock.advance(30)
    assert board.allow(DEST)

    clock.advance(9.9)
    assert not board.allow(DEST)
    clock.advance(0.1)
    assert board.allow(DEST)
    assert not board.allow(DEST)


def test_destinations_have_independent_breakers() -> None:
    clock = FakeClock()
    board = open_board(clock)
    other = "webhook:http://127.0.0.1:2/hook"

    assert board.allow(other)
    assert board.state(other) == "closed"
    assert board.state(DEST) == "open"


def test_snapshot_is_json_ready() -> None:
    clock = FakeClock()
    board = open_board(clock)
    board.record_success("slack:C1")

    assert board.snapshot() == {
        "slack:C1": {"state": "closed", "consecutive_failures": 0, "opened_at": None, "retry_at": None},
        DEST: {"state": "open", "consecutive_failures": 5, "opened_at": 1000.0, "retry_at": 1030.0},
    }


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (RetryableDeliveryError("503"), True),
        (RateLimitedError("429", retry_after=1.0), True),
        (PermanentDeliveryError("404"), False),
        (ValueError("bug"), False),
    ],
)
def test_only_retryable_errors_count_against_the_breaker(error: Exception, counts: bool) -> None:
    assert is_breaker_failure(error) is counts
