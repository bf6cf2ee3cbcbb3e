"""The gateway's token buckets: arithmetic, headers, the Redis script on the real local server, and failing open."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from psa_chatops.bot.api.ratelimit import (
    Decision,
    MemoryRateLimiter,
    RateLimiter,
    RatePolicy,
    RedisRateLimiter,
    build_rate_limiter,
    make_redis_client,
    rate_limit_headers,
)
from tests.bot.conftest import Monotonic

REDIS_URL = os.environ.get("PSA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LOGGER = "psa_chatops.api.ratelimit"
T0 = 1_000_000.0  # an explicit "now": the tests move time by hand, never by sleeping


@asynccontextmanager
async def local_redis() -> AsyncIterator[tuple[Redis, str]]:
    """A client on the local Redis and a fresh key prefix, whose keys are deleted afterwards."""
    client = make_redis_client(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (start it with `redis-server --daemonize yes`): {exc}")
    prefix = f"psa:test:rl:{uuid.uuid4().hex}:"
    try:
        yield client, prefix
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def redis_env() -> AsyncIterator[tuple[Redis, str]]:
    async with local_redis() as env:
        yield env


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    """Each backend in turn: they must give the same decisions for the same explicit clock."""
    if request.param == "memory":
        memory = MemoryRateLimiter()
        yield memory
        await memory.close()
        return
    async with local_redis() as (client, prefix):
        shared = RedisRateLimiter(client, prefix)
        yield shared
        await shared.close()


async def hits(limiter: RateLimiter, key: str, policy: RatePolicy, count: int, now: float) -> list[Decision]:
    return [await limiter.hit(key, policy, now=now) for _ in range(count)]


# --- the bucket, on both backends ------------------------------------------------------------------------------------


async def test_burst_then_refusal(limiter: RateLimiter) -> None:
    policy = RatePolicy(rate=0.5, burst=4, name="per-key")
    decisions = await hits(limiter, "key:k1", policy, 5, T0)
    assert [d.allowed for d in decisions] == [True, True, True, True, False]
    assert [d.remaining for d in decisions] == [3, 2, 1, 0, 0]
    assert decisions[0] == Decision(True, limit=4, remaining=3, reset_seconds=2, retry_after=None, policy=policy)
    assert decisions[-1] == Decision(False, limit=4, remaining=0, reset_seconds=8, retry_after=2, policy=policy)


async def test_refill_over_time_is_capped_at_burst(limiter: RateLimiter) -> None:
    policy = RatePolicy(rate=2, burst=4, name="per-key")
    await hits(limiter, "key:k1", policy, 4, T0)
    half_second_later = await hits(limiter, "key:k1", policy, 2, T0 + 0.5)  # one token back
    assert [(d.allowed, d.remaining, d.retry_after) for d in half_second_later] == [(True, 0, None), (False, 0, 1)]
    much_later = await limiter.hit("key:k1", policy, now=T0 + 3600)
    assert (much_later.allowed, much_later.remaining, much_later.reset_seconds) == (True, 3, 1)


async def test_retry_after_and_reset_with_fractional_tokens(limiter: RateLimiter) -> None:
    policy = RatePolicy(rate=0.5, burst=10, name="per-ip")
    drained = (await hits(limiter, "ip:192.0.2.1", policy, 11, T0))[-1]
    assert (drained.remaining, drained.reset_seconds, drained.retry_after) == (0, 20, 2)
    partial = await limiter.hit("ip:192.0.2.1", policy, now=T0 + 1.5)  # 0.75 tokens: 0.5 s to the next
    assert (partial.allowed, partial.remaining, partial.reset_seconds, partial.retry_after) == (False, 0, 19, 1)
    enough = await limiter.hit("ip:192.0.2.1", policy, now=T0 + 3)  # 1.5 tokens: take one, 0.5 left
    assert (enough.allowed, enough.remaining, enough.reset_seconds, enough.retry_after) == (True, 0, 19, None)


async def test_float_noise_does_not_round_up(limiter: RateLimiter) -> None:
    policy = RatePolicy(rate=1 / 3, burst=1, name="slow")
    first, second = await hits(limiter, "key:k1", policy, 2, T0)
    assert (first.reset_seconds, second.retry_after, policy.window) == (3, 3, 3)


async def test_cost_above_the_tokens_left_takes_nothing(limiter: RateLimiter) -> None:
    policy = RatePolicy(rate=1, burst=5, name="per-key")
    assert (await limiter.hit("key:k1", policy, now=T0, cost=5)).remaining == 0
    refused = await limiter.hit("key:k1", policy, now=T0 + 1, cost=3)
    assert (refused.allowed, refused.remaining, refused.retry_after) == (False, 1, 2)
    assert (await limiter.hit("key:k1", policy, now=T0 + 1, cost=1)).allowed


async def test_remaining_never_negative(limiter: RateLimiter) -> None:
    policy = RatePolicy(rate=1, burst=3, name="per-key")
    decisions = await hits(limiter, "key:k1", policy, 20, T0)
    assert sum(d.allowed for d in decisions) == 3
    assert min(d.remaining for d in decisions) == 0


async def test_keys_have_separate_buckets(limiter: RateLimiter) -> None:
    policy = RatePolicy(rate=1, burst=1, name="per-key")
    assert (await limiter.hit("key:a", policy, now=T0)).allowed
    assert (await limiter.hit("key:b", policy, now=T0)).allowed
    assert not (await limiter.hit("key:a", policy, now=T0)).allowed


async def test_a_clock_stepping_back_refills_nothing(limiter: RateLimiter) -> None:
    policy = RatePolicy(rate=1, burst=2, name="per-key")
    await limiter.hit("key:k1", policy, now=T0)
    earlier = await limiter.hit("key:k1", policy, now=T0 - 100)
    assert (earlier.allowed, earlier.remaining) == (True, 0)


@pytest.mark.parametrize(
    ("key", "cost", "message"),
    [
        ("", 1, "rate limit key must be a non-empty string"),
        ("key:k1", 0, "cost must be between 1 and the policy's burst (4), got 0"),
        ("key:k1", 5, "cost must be between 1 and the policy's burst (4), got 5"),
    ],
)
async def test_invalid_hits_raise(limiter: RateLimiter, key: str, cost: int, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        await limiter.hit(key, RatePolicy(rate=1, burst=4, name="per-key"), now=T0, cost=cost)


@pytest.mark.parametrize(
    ("rate", "burst", "name", "message"),
    [
        (0, 1, "p", "RatePolicy.rate must be a finite number of tokens per second > 0, got 0"),
        (-1.5, 1, "p", "RatePolicy.rate must be a finite number of tokens per second > 0, got -1.5"),
        (math.inf, 1, "p", "RatePolicy.rate must be a finite number of tokens per second > 0, got inf"),
        (math.nan, 1, "p", "RatePolicy.rate must be a finite number of tokens per second > 0, got nan"),
        (1, 0, "p", "RatePolicy.burst must be an integer >= 1, got 0"),
        (1, 1, "", "RatePolicy.name must be non-empty"),
        (1, 1, 'per"key', "RatePolicy.name must be non-empty without quotes"),
    ],
)
def test_invalid_policies_raise(rate: float, burst: int, name: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        RatePolicy(rate=rate, burst=burst, name=name)


# --- headers ---------------------------------------------------------------------------------------------------------

PER_KEY = RatePolicy(rate=100 / 60, burst=100, name="per-key")
PER_IP = RatePolicy(rate=1, burst=10, name="per-ip")


def decision(policy: RatePolicy, remaining: int, reset: int, retry_after: int | None = None) -> Decision:
    return Decision(retry_after is None, policy.burst, remaining, reset, retry_after, policy)


def test_headers_report_the_most_restrictive_decision() -> None:
    headers = rate_limit_headers([decision(PER_KEY, 97, 2), decision(PER_IP, 4, 6)])
    assert headers == {
        "RateLimit-Limit": "10",
        "RateLimit-Remaining": "4",
        "RateLimit-Reset": "6",
        "RateLimit-Policy": '10;w=10;name="per-ip"',
    }
    assert rate_limit_headers([decision(PER_KEY, 3, 59), decision(PER_IP, 9, 1)])["RateLimit-Policy"] == (
        '100;w=60;name="per-key"'
    )


def test_retry_after_only_on_refusal_and_the_longest_wait() -> None:
    refusals = [decision(PER_KEY, 0, 60, retry_after=1), decision(PER_IP, 0, 10, retry_after=7)]
    headers = rate_limit_headers(refusals)
    assert headers["Retry-After"] == "7"
    assert headers["RateLimit-Remaining"] == "0"
    assert "Retry-After" not in rate_limit_headers([decision(PER_KEY, 0, 60), decision(PER_IP, 1, 9)])


def test_on_equal_remaining_the_refusal_is_reported() -> None:
    headers = rate_limit_headers([decision(PER_KEY, 0, 60), decision(PER_IP, 0, 10, retry_after=1)])
    assert (headers["RateLimit-Policy"], headers["Retry-After"]) == ('10;w=10;name="per-ip"', "1")


def test_no_decisions_no_headers() -> None:
    assert rate_limit_headers([]) == {}


# --- memory backend --------------------------------------------------------------------------------------------------


async def test_memory_evicts_full_buckets_first() -> None:
    limiter = MemoryRateLimiter(max_entries=4)
    policy = RatePolicy(rate=1, burst=2, name="per-ip")
    for n in range(4):
        await limiter.hit(f"ip:{n}", policy, now=T0)
    await limiter.hit("ip:busy", policy, now=T0 + 2)  # the four others are full again by now
    assert len(limiter) == 1


async def test_memory_bounds_the_table_when_every_bucket_is_busy() -> None:
    limiter = MemoryRateLimiter(max_entries=10)
    policy = RatePolicy(rate=0.001, burst=5, name="per-ip")
    await limiter.hit("ip:recent", policy, now=T0)
    for n in range(9):
        await limiter.hit(f"ip:{n}", policy, now=T0)
    await limiter.hit("ip:recent", policy, now=T0)  # the most recently used: the sweeps must spare it
    for n in range(9, 13):
        await limiter.hit(f"ip:{n}", policy, now=T0)
        assert len(limiter) <= 10
    assert (await limiter.hit("ip:recent", policy, now=T0)).remaining == 2
    assert (await limiter.hit("ip:0", policy, now=T0)).remaining == 4  # least recently used: forgotten


async def test_memory_uses_the_monotonic_clock_by_default() -> None:
    limiter = MemoryRateLimiter()
    policy = RatePolicy(rate=0.001, burst=2, name="per-key")
    assert [d.allowed for d in await asyncio.gather(*(limiter.hit("key:k1", policy) for _ in range(3)))] == [
        True,
        True,
        False,
    ]


# --- Redis backend ---------------------------------------------------------------------------------------------------


async def test_redis_matches_memory_on_a_random_walk(redis_env: tuple[Redis, str]) -> None:
    client, prefix = redis_env
    memory, shared = MemoryRateLimiter(), RedisRateLimiter(client, prefix)
    rng = random.Random(20261123)
    policy = RatePolicy(rate=rng.uniform(0.1, 5), burst=rng.randint(1, 20), name="per-key")
    now = T0
    for _ in range(300):
        now += rng.choice([0.0, 0.0, rng.uniform(0, 1), rng.uniform(0, 10)])
        cost = rng.randint(1, policy.burst)
        assert await shared.hit("key:walk", policy, now=now, cost=cost) == await memory.hit(
            "key:walk", policy, now=now, cost=cost
        )


async def test_two_replicas_share_one_bucket_on_the_server_clock(redis_env: tuple[Redis, str]) -> None:
    client, prefix = redis_env
    other_client = make_redis_client(REDIS_URL)
    try:
        replica_a, replica_b = RedisRateLimiter(client, prefix), RedisRateLimiter(other_client, prefix)
        policy = RatePolicy(rate=0.001, burst=3, name="per-key")
        decisions = [await replica.hit("key:k1", policy) for replica in (replica_a, replica_b, replica_a, replica_b)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    finally:
        await other_client.aclose()


async def test_redis_stamps_buckets_with_the_server_time(redis_env: tuple[Redis, str]) -> None:
    client, prefix = redis_env
    before_s, before_us = await client.time()
    await RedisRateLimiter(client, prefix).hit("key:k1", RatePolicy(rate=1, burst=5, name="per-key"))
    after_s, after_us = await client.time()
    stamped = float(await client.hget(f"{prefix}key:k1", "ts"))
    assert before_s + before_us / 1e6 <= stamped <= after_s + after_us / 1e6


async def test_concurrent_hits_are_atomic(redis_env: tuple[Redis, str]) -> None:
    client, prefix = redis_env
    limiter = RedisRateLimiter(client, prefix)
    policy = RatePolicy(rate=0.001, burst=10, name="per-key")
    decisions = await asyncio.gather(*(limiter.hit("key:k1", policy) for _ in range(50)))
    assert sum(d.allowed for d in decisions) == 10
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))


async def test_idle_buckets_expire_once_full_again(redis_env: tuple[Redis, str]) -> None:
    client, prefix = redis_env
    limiter = RedisRateLimiter(client, prefix)
    policy = RatePolicy(rate=2, burst=10, name="per-key")
    await limiter.hit("key:k1", policy, now=T0)  # 9 tokens left: full again in 0.5 s
    assert 0 < await client.pttl(f"{prefix}key:k1") <= 500
    await hits(limiter, "key:k1", policy, 9, T0)  # now empty: full again in 5 s
    assert 0 < await client.pttl(f"{prefix}key:k1") <= 5000


async def test_close_leaves_a_client_passed_in_open(redis_env: tuple[Redis, str]) -> None:
    client, prefix = redis_env
    await RedisRateLimiter(client, prefix).close()
    assert await client.ping()


async def test_build_rate_limiter_picks_the_backend() -> None:
    assert isinstance(build_rate_limiter(None), MemoryRateLimiter)
    assert isinstance(build_rate_limiter(""), MemoryRateLimiter)
    shared = build_rate_limiter(REDIS_URL)
    assert isinstance(shared, RedisRateLimiter)
    await shared.close()


# --- failing open ----------------------------------------------------------------------------------------------------


async def test_unreachable_redis_fails_open_to_local_limits(
    closed_port: int, monotonic: Monotonic, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RedisRateLimiter.from_url(f"redis://:hunter2-secret@127.0.0.1:{closed_port}/0", clock=monotonic)
    policy = RatePolicy(rate=1, burst=2, name="per-key")
    try:
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert [d.allowed for d in await hits(limiter, "key:k1", policy, 3, T0)] == [True, True, False]
            monotonic.advance(timedelta(seconds=5))  # past the cooldown: Redis is tried (and fails) again, quietly
            assert (await limiter.hit("key:k1", policy, now=T0 + 1)).allowed
            assert len(caplog.records) == 1
            monotonic.advance(timedelta(seconds=30))
            await limiter.hit("key:k1", policy, now=T0 + 1)
    finally:
        await limiter.close()
    assert [(r.name, r.levelno) for r in caplog.records] == [(LOGGER, logging.WARNING)] * 2
    assert f"127.0.0.1:{closed_port}/0" in caplog.records[0].getMessage()
    assert "hunter2" not in caplog.text


async def test_redis_is_retried_after_the_cooldown(
    redis_env: tuple[Redis, str], monotonic: Monotonic, caplog: pytest.LogCaptureFixture
) -> None:
    client, prefix = redis_env
    limiter = RedisRateLimiter(client, prefix, clock=monotonic)
    policy = RatePolicy(rate=0.001, burst=5, name="per-key")
    await client.set(f"{prefix}key:k1", "not a hash")  # the script fails with WRONGTYPE, a RedisError
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert (await limiter.hit("key:k1", policy, now=T0)).remaining == 4  # local bucket
    assert "WRONGTYPE" in caplog.text
    await client.delete(f"{prefix}key:k1")
    assert (await limiter.hit("key:k1", policy, now=T0)).remaining == 3  # still local during the cooldown
    assert not await client.exists(f"{prefix}key:k1")
    monotonic.advance(timedelta(seconds=2))
    assert (await limiter.hit("key:k1", policy, now=T0)).remaining == 4  # a fresh bucket in Redis
    assert await client.exists(f"{prefix}key:k1")
