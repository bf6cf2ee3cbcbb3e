"""The gateway's GET response cache: both backends (memory, the real local Redis), tags, TTLs, outages, the hook."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis import __version__ as redis_version
from redis.asyncio import Redis
from redis.driver_info import DriverInfo
from redis.exceptions import RedisError

from psa_chatops.bot.api.response_cache import (
    CachedResponse,
    CacheStats,
    EventInvalidator,
    MemoryResponseCache,
    RedisResponseCache,
    ResponseCache,
    build_response_cache,
    cache_key,
    tags_for_events,
)
from psa_chatops.core import events as ev
from psa_chatops.core.priorities import Priority
from psa_chatops.core.tickets_state import Source, Visibility
from psa_chatops.handlers.ports import RecordedEvent
from tests.bot.conftest import Monotonic

REDIS_URL = os.environ.get("PSA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LOGGER = "psa_chatops.api.cache"
AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PASSWORD = "s3cret-do-not-log"

MakeCache = Callable[..., ResponseCache]


def response(body: bytes = b'{"number":1}', status: int = 200) -> CachedResponse:
    headers = (("Content-Type", "application/json"), ("ETag", '"v1-abc"'))
    return CachedResponse(status=status, body=body, headers=headers, stored_at=1_795_000_000.25)


def recorded(event: ev.Event, version: int = 1) -> RecordedEvent:
    return RecordedEvent(event=event, version=version, actor="technician:tom", correlation_id="c-1", causation_id=None)


def opened(number: int) -> ev.TicketOpened:
    return ev.TicketOpened(
        number=number,
        occurred_at=AT,
        title="Printer on fire",
        description="Second floor",
        customer_id="CUST-789",
        priority=Priority.HIGH,
        source=Source.API,
    )


def note(number: int) -> ev.NoteAdded:
    return ev.NoteAdded(
        number=number, occurred_at=AT, note_id=1, body="on it", visibility=Visibility.PUBLIC, author_id="tom"
    )


@dataclass
class LocalRedis:
    client: Redis
    prefix: str

    def cache(self, **kwargs: Any) -> RedisResponseCache:
        return RedisResponseCache(self.client, self.prefix, **kwargs)

    async def entry_ttls_ms(self) -> list[int]:
        keys = [key async for key in self.client.scan_iter(match=self.prefix + "e:*")]
        return [await self.client.pttl(key) for key in keys]


def redis_client(**kwargs: Any) -> Redis:
    """Explicit driver info: otherwise redis-py reads package metadata from disk, on the loop, per connection."""
    driver = DriverInfo(lib_version=redis_version)
    return Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2, driver_info=driver, **kwargs)


@asynccontextmanager
async def local_redis() -> AsyncIterator[LocalRedis]:
    """A client on the local Redis and a fresh key prefix, whose keys are deleted afterwards."""
    client = redis_client()
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL} under CI: {exc}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (start it with `redis-server --daemonize yes`): {exc}")
    prefix = f"psa:test:rc:{uuid.uuid4().hex}:"
    try:
        yield LocalRedis(client, prefix)
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def redis_env() -> AsyncIterator[LocalRedis]:
    async with local_redis() as env:
        yield env


@pytest.fixture(params=["memory", "redis"])
async def make_cache(request: pytest.FixtureRequest, monotonic: Monotonic) -> AsyncIterator[MakeCache]:
    """Each backend in turn; every call is a new cache (for Redis: another replica on the same keys)."""
    made: list[ResponseCache] = []
    if request.param == "memory":

        def make_memory(**kwargs: Any) -> ResponseCache:
            made.append(MemoryResponseCache(now=monotonic, **kwargs))
            return made[-1]

        yield make_memory
    else:
        async with local_redis() as env:

            def make_redis(**kwargs: Any) -> ResponseCache:
                made.append(env.cache(**kwargs))
                return made[-1]

            yield make_redis
    for cache in made:
        await cache.close()


async def until_missing(cache: ResponseCache, key: str) -> CachedResponse | None:
    """Polls (bounded, about 2 s at most) for a Redis entry whose PX has run out."""
    found = await cache.get(key)
    for _ in range(200):
        if found is None:
            break
        await asyncio.sleep(0.01)
        found = await cache.get(key)
    return found


# --- both backends -------------------------------------------------------------------------------------------------


async def test_a_stored_response_comes_back_byte_for_byte(make_cache: MakeCache) -> None:
    cache = make_cache()
    stored = response(body=bytes(range(256)) * 3, status=203)

    assert await cache.get("k") is None
    await cache.put("k", stored, tags=["tickets", "ticket:1"], ttl=30)

    assert await cache.get("k") == stored
    assert (cache.stats.hits, cache.stats.misses, cache.stats.stores) == (1, 1, 1)


async def test_a_put_replaces_the_entry_and_its_tags(make_cache: MakeCache) -> None:
    cache = make_cache()
    await cache.put("k", response(b"old"), tags=["ticket:1"], ttl=30)
    await cache.put("k", response(b"new"), tags=["ticket:2"], ttl=30)

    await cache.invalidate(["ticket:1"])

    assert await cache.get("k") == response(b"new")


async def test_invalidation_ends_only_the_entries_carrying_the_tag(make_cache: MakeCache) -> None:
    cache = make_cache()
    await cache.put("one", response(b"1"), tags=["tickets", "ticket:1"], ttl=30)
    await cache.put("two", response(b"2"), tags=["tickets", "ticket:2"], ttl=30)
    await cache.put("customers", response(b"c"), tags=["customers", "customer:CUST-789"], ttl=30)

    await cache.invalidate(["ticket:1"])

    assert await cache.get("one") is None
    assert await cache.get("two") == response(b"2")
    assert await cache.get("customers") == response(b"c")

    await cache.invalidate(["tickets"])

    assert await cache.get("two") is None
    assert await cache.get("customers") == response(b"c")


async def test_an_entry_stored_after_an_invalidation_lives_until_the_next_one(make_cache: MakeCache) -> None:
    cache = make_cache()
    await cache.put("one", response(b"old"), tags=["ticket:1"], ttl=30)
    await cache.invalidate(["ticket:1"])
    assert await cache.get("one") is None

    await cache.put("one", response(b"new"), tags=["ticket:1"], ttl=30)
    assert await cache.get("one") == response(b"new")

    await cache.invalidate(["ticket:1", "never-used"])
    assert await cache.get("one") is None


async def test_bodies_above_the_limit_are_not_stored(make_cache: MakeCache) -> None:
    cache = make_cache(max_body_bytes=8)
    await cache.put("big", response(b"123456789"), tags=["tickets"], ttl=30)
    await cache.put("fits", response(b"12345678"), tags=["tickets"], ttl=30)

    assert await cache.get("big") is None
    assert await cache.get("fits") == response(b"12345678")
    assert (cache.stats.skipped, cache.stats.stores) == (1, 1)


async def test_a_ttl_of_zero_stores_nothing_and_an_infinite_one_is_refused(make_cache: MakeCache) -> None:
    cache = make_cache()
    await cache.put("k", response(), tags=[], ttl=0)
    assert await cache.get("k") is None
    with pytest.raises(ValueError, match="ttl"):
        await cache.put("k", response(), tags=[], ttl=float("inf"))


async def test_the_event_hook_invalidates_the_ticket_and_the_lists_before_it_returns(make_cache: MakeCache) -> None:
    cache = make_cache()
    invalidator = EventInvalidator(cache)
    await cache.put("ticket-1", response(b"1"), tags=["ticket:1"], ttl=30)
    await cache.put("ticket-2", response(b"2"), tags=["ticket:2"], ttl=30)
    await cache.put("list", response(b"[1,2]"), tags=["tickets", "ticket:1", "ticket:2"], ttl=30)
    await cache.put("customers", response(b"c"), tags=["customers"], ttl=30)

    invalidator([recorded(opened(1)), recorded(note(1), version=2)])  # as the bus calls it: no await in between

    assert await cache.get("ticket-1") is None
    assert await cache.get("list") is None
    assert await cache.get("ticket-2") == response(b"2")
    assert await cache.get("customers") == response(b"c")

    await invalidator.drain()
    assert invalidator.pending == 0
    assert await cache.get("ticket-1") is None
    if isinstance(cache, RedisResponseCache):  # and the other replicas see it once it has reached Redis
        other_replica = make_cache()
        assert await other_replica.get("ticket-1") is None
        assert await other_replica.get("ticket-2") == response(b"2")
    await invalidator.close()


async def test_memory_entries_expire_after_their_ttl(monotonic: Monotonic) -> None:
    cache = MemoryResponseCache(now=monotonic)
    await cache.put("k", response(), tags=["tickets"], ttl=10)

    monotonic.advance(timedelta(seconds=9.5))
    assert await cache.get("k") == response()
    monotonic.advance(timedelta(seconds=0.5))
    assert await cache.get("k") is None
    assert len(cache) == 0


async def test_memory_evicts_the_least_recently_used_entry() -> None:
    cache = MemoryResponseCache(max_entries=2)
    await cache.put("a", response(b"a"), tags=["tickets"], ttl=30)
    await cache.put("b", response(b"b"), tags=["tickets"], ttl=30)
    assert await cache.get("a") == response(b"a")  # now "b" is the least recently used

    await cache.put("c", response(b"c"), tags=["tickets"], ttl=30)

    assert len(cache) == 2
    assert await cache.get("b") is None
    assert await cache.get("a") == response(b"a")
    assert await cache.get("c") == response(b"c")


# --- Redis ---------------------------------------------------------------------------------------------------------


async def test_redis_entries_expire_with_their_px(redis_env: LocalRedis) -> None:
    cache = redis_env.cache()
    await cache.put("k", response(), tags=["tickets"], ttl=0.05)

    assert cache.stats.stores == 1
    assert all(0 < ttl <= 50 for ttl in await redis_env.entry_ttls_ms())
    assert await until_missing(cache, "k") is None


async def test_redis_caps_the_ttl_at_max_ttl(redis_env: LocalRedis) -> None:
    cache = redis_env.cache(max_ttl=20)
    await cache.put("k", response(), tags=["tickets"], ttl=3600)

    ttls = await redis_env.entry_ttls_ms()
    assert len(ttls) == 1
    assert 0 < ttls[0] <= 20_000


async def test_two_redis_replicas_share_entries_and_invalidations(redis_env: LocalRedis) -> None:
    first, second = redis_env.cache(), redis_env.cache()
    await first.put("k", response(), tags=["customer:CUST-789"], ttl=30)
    assert await second.get("k") == response()

    await second.invalidate(["customer:CUST-789"])

    assert await first.get("k") is None
    assert first.stats.misses == 1
    assert second.stats.invalidations == 1


async def test_a_put_while_the_tag_is_being_invalidated_is_skipped(redis_env: LocalRedis) -> None:
    """The response may have been computed before the commit; storing it would outlive the invalidation."""
    cache = redis_env.cache()
    invalidator = EventInvalidator(cache)

    invalidator([recorded(note(4))])
    await cache.put("ticket-4", response(), tags=["ticket:4"], ttl=30)
    await invalidator.drain()

    assert cache.stats.skipped == 1
    assert await cache.get("ticket-4") is None


async def test_unreachable_redis_misses_and_never_raises(
    closed_port: int, monotonic: Monotonic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    cache = RedisResponseCache.from_url(f"redis://:{PASSWORD}@127.0.0.1:{closed_port}/0", clock=monotonic)
    try:
        assert await cache.get("k") is None
        monotonic.advance(timedelta(seconds=2))  # past the cooldown, so the put really tries
        await cache.put("k", response(), tags=["tickets"], ttl=30)
        await cache.invalidate(["tickets"])
        assert await cache.get("k") is None
    finally:
        await cache.close()

    assert cache.degraded
    assert cache.stats.errors == 3
    levels = [record.levelno for record in caplog.records if record.name == LOGGER]
    assert levels == [logging.WARNING, logging.ERROR]  # one line per level per 30 s
    assert f"127.0.0.1:{closed_port}" in caplog.text
    assert PASSWORD not in caplog.text


async def test_a_lost_invalidation_makes_the_replica_miss_until_the_window_ends(
    redis_env: LocalRedis, monotonic: Monotonic, caplog: pytest.LogCaptureFixture
) -> None:
    cache = redis_env.cache(clock=monotonic)
    await cache.put("ticket-7", response(b"stale"), tags=["ticket:7"], ttl=30)
    await redis_env.client.hset(redis_env.prefix + "seq", "wrong", "type")  # INCR now fails: the invalidation is lost

    await cache.invalidate(["ticket:7"])

    assert "did not reach Redis" in caplog.text
    assert await cache.get("ticket-7") is None
    monotonic.advance(timedelta(seconds=59.9))
    assert await cache.get("ticket-7") is None
    await cache.put("fresh", response(b"fresh"), tags=["customers"], ttl=30)
    assert await cache.get("fresh") is None

    await redis_env.client.delete(redis_env.prefix + "seq")
    monotonic.advance(timedelta(seconds=0.2))
    assert not cache.degraded
    await cache.put("fresh", response(b"fresh"), tags=["customers"], ttl=30)
    assert await cache.get("fresh") == response(b"fresh")

    await cache.invalidate(["tickets"])  # takes the lost tag along
    assert await cache.get("ticket-7") is None
    assert await cache.get("fresh") == response(b"fresh")


async def test_an_unreadable_entry_is_a_miss(redis_env: LocalRedis) -> None:
    cache = redis_env.cache()
    await redis_env.client.hset(redis_env.prefix + "e:k", mapping={"v": b"\xff\xff\xff\xffgarbage"})

    assert await cache.get("k") is None
    assert cache.stats.errors == 1


async def test_a_client_decoding_responses_is_refused(redis_env: LocalRedis) -> None:
    client = redis_client(decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            RedisResponseCache(client, redis_env.prefix)
    finally:
        await client.aclose()


# --- the after-commit hook -----------------------------------------------------------------------------------------


class SlowCache:
    """A cache without ``invalidate_now``: its invalidations wait for ``release`` (or fail with ``error``)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.stats = CacheStats()
        self.release = asyncio.Event()
        self.error = error
        self.invalidated: list[set[str]] = []

    async def get(self, key: str) -> CachedResponse | None:
        return None

    async def put(self, key: str, response: CachedResponse, *, tags: Iterable[str], ttl: float) -> None:
        return None

    async def invalidate(self, tags: Iterable[str]) -> None:
        await self.release.wait()
        if self.error:
            raise self.error
        self.invalidated.append(set(tags))

    async def close(self) -> None:
        return None


async def test_the_hook_keeps_its_tasks_until_they_are_drained() -> None:
    cache = SlowCache()
    invalidator = EventInvalidator(cache)

    invalidator([recorded(opened(5))])
    invalidator([])  # nothing committed, nothing scheduled
    assert invalidator.pending == 1

    cache.release.set()
    await invalidator.drain()

    assert invalidator.pending == 0
    assert cache.invalidated == [{"tickets", "ticket:5"}]


async def test_a_failing_invalidation_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    cache = SlowCache(error=RuntimeError("boom"))
    cache.release.set()
    invalidator = EventInvalidator(cache)

    invalidator([recorded(opened(5))])
    await invalidator.drain()

    assert "invalidation failed" in caplog.text


async def test_close_cancels_what_is_still_pending_after_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    cache = SlowCache()  # never released
    invalidator = EventInvalidator(cache, close_timeout=0.01)
    invalidator([recorded(opened(5))])
    await asyncio.sleep(0)  # let the task start

    await invalidator.close()

    assert invalidator.pending == 0
    assert "cancelling 1 invalidation(s)" in caplog.text


# --- keys, tags, wiring --------------------------------------------------------------------------------------------


def key(**overrides: str) -> str:
    parts = {"version": "v1", "principal_key": "key:42", "path": "/api/v1/tickets", "query": "", "locale": "en"}
    return cache_key(**(parts | overrides))


def test_the_cache_key_is_a_stable_sha256() -> None:
    assert key() == key()
    assert len(key()) == 64
    assert int(key(), 16) >= 0


@pytest.mark.parametrize(
    "overrides",
    [{"version": "v2"}, {"principal_key": "key:43"}, {"path": "/api/v1/tickets/1"}, {"query": "a=1"}, {"locale": "de"}],
)
def test_every_part_of_the_request_is_in_the_key(overrides: dict[str, str]) -> None:
    assert key(**overrides) != key()


def test_moving_a_boundary_between_parts_changes_the_key() -> None:
    assert key(principal_key="ab", path="c") != key(principal_key="a", path="bc")
    assert key(principal_key="a\x00b", path="") != key(principal_key="a", path="\x00b")


def test_the_query_is_canonical_but_repeated_values_keep_their_order() -> None:
    assert key(query="b=2&a=1") == key(query="?a=1&b=2")
    assert key(query="a=1&a=2") != key(query="a=2&a=1")


def test_ticket_events_tag_their_ticket_and_the_ticket_lists() -> None:
    events = [recorded(opened(1)), recorded(note(1), version=2), recorded(note(12345))]
    assert tags_for_events(events) == {"tickets", "ticket:1", "ticket:12345"}
    assert tags_for_events([]) == set()


async def test_build_picks_redis_only_when_configured() -> None:
    assert isinstance(build_response_cache(None), MemoryResponseCache)
    cache = build_response_cache(f"redis://:{PASSWORD}@127.0.0.1:6379/0")
    assert isinstance(cache, RedisResponseCache)
    await cache.close()
