"""The REST gateway's GET response cache: in-process (one replica) or shared by all replicas through Redis.

An entry is stored with the tags it depends on (``ticket:12345``, ``tickets``, ``customer:CUST-789``, ...).
Invalidation bumps a generation counter per tag; an entry remembers its tags' generations at store time and is a
miss once any of them moved. A read costs O(tags), an invalidation O(its tags), and nothing is ever scanned.

Serving stale data is the one failure this module must not have. Hence: the memory cache invalidates synchronously;
the Redis cache marks tags in-process *before* its round trip, so the writer's own replica never serves stale; and
when an invalidation cannot reach Redis, the replica that lost it serves no cached response until every entry that
might have missed it has expired (``max_ttl`` caps the TTL for exactly that reason).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlencode

from redis.asyncio import Redis
from redis.exceptions import RedisError

from psa_chatops.bot.api.redis_client import make_redis_client
from psa_chatops.handlers.ports import RecordedEvent

logger = logging.getLogger("psa_chatops.api.cache")

DEFAULT_PREFIX = "psa:rc:"
DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_MAX_TTL = 60.0  # seconds; also the shortest "degraded" window after a lost invalidation
DEGRADED_SECONDS = 60.0  # no cached responses for this long after an invalidation failed to reach Redis
GENERATION_MARGIN = 60.0  # seconds a tag's generation outlives the longest-lived entry that may have recorded it
WARNING_INTERVAL = 30.0  # seconds between two log lines about Redis trouble (per level)
REDIS_COOLDOWN = 1.0  # seconds to skip Redis reads/writes after a failure, so an outage adds no timeout per request
LOCAL_GRACE = 5.0  # seconds this replica double-checks entries against its own recent invalidations
CLOSE_TIMEOUT = 5.0  # seconds EventInvalidator.close waits for pending invalidations
_KEY_SCHEMA = "rc1"  # part of every cache key: bump it when the key's parts change

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """What the gateway replays on a hit. ``stored_at`` is wall-clock epoch seconds, for the ``Age`` header."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]
    stored_at: float


@dataclass(slots=True)
class CacheStats:
    """Counters for tests and metrics, per process (Redis replicas count their own)."""

    hits: int = 0
    misses: int = 0
    stores: int = 0
    invalidations: int = 0
    skipped: int = 0  # puts refused: body too large, no TTL, degraded, or an invalidation of a tag in flight
    errors: int = 0  # Redis failures and unreadable entries


class ResponseCache(Protocol):
    """What the gateway needs; both backends implement it."""

    @property
    def stats(self) -> CacheStats: ...

    async def get(self, key: str) -> CachedResponse | None: ...

    async def put(self, key: str, response: CachedResponse, *, tags: Iterable[str], ttl: float) -> None: ...

    async def invalidate(self, tags: Iterable[str]) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class InvalidatesNow(Protocol):
    """A cache that can make an invalidation visible to this process before returning.

    It returns the part that is left to do (propagating to other replicas), which the caller must run to the end.
    """

    def invalidate_now(self, tags: Iterable[str]) -> Coroutine[Any, Any, None] | None: ...


# --- keys and tags -------------------------------------------------------------------------------------------------


def cache_key(*, version: str, principal_key: str, path: str, query: str, locale: str) -> str:
    """Length-prefixed parts, so no choice of values can make two different requests share a key."""
    digest = hashlib.sha256()
    for part in (_KEY_SCHEMA, version, principal_key, path, _canonical_query(query), locale):
        raw = part.encode("utf-8", "surrogatepass")
        digest.update(len(raw).to_bytes(8, "big"))
        digest.update(raw)
    return digest.hexdigest()


def _canonical_query(query: str) -> str:
    """``?b=2&a=1`` and ``?a=1&b=2`` are the same request; a repeated parameter keeps its values' order."""
    pairs = parse_qsl(query.removeprefix("?"), keep_blank_values=True)
    return urlencode(sorted(pairs, key=itemgetter(0)))


def tags_for_events(events: Sequence[RecordedEvent]) -> set[str]:
    """Every ticket event changes that ticket and every list that may show it."""
    tags: set[str] = set()
    for recorded in events:
        tags.update(("tickets", f"ticket:{recorded.event.number}"))
    return tags


def _storable(response: CachedResponse, ttl: float, max_body_bytes: int) -> bool:
    if math.isnan(ttl) or math.isinf(ttl):
        raise ValueError(f"ttl must be a finite number of seconds, got {ttl!r}")
    return ttl > 0 and len(response.body) <= max_body_bytes


def _check_limit(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")


# --- in-process ----------------------------------------------------------------------------------------------------


class _Entry(NamedTuple):
    response: CachedResponse
    expires_at: float
    generations: tuple[tuple[str, int], ...]


class MemoryResponseCache:
    """Per-process LRU with TTLs: the default for a single replica.

    No locks: no method awaits between its read and its write, so on one event loop nothing interleaves.
    A tag's generation is kept only while a live entry carries it, so the counters cannot grow without bound.
    """

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        *,
        now: Clock = time.monotonic,
    ) -> None:
        _check_limit("max_entries", max_entries, 1)
        _check_limit("max_body_bytes", max_body_bytes, 0)
        self.stats = CacheStats()
        self._max_entries = max_entries
        self._max_body_bytes = max_body_bytes
        self._now = now
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._generations: dict[str, int] = {}  # absent means 0
        self._tag_refs: dict[str, int] = {}  # live entries per tag

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None or not self._fresh(entry):
            self._drop(key)
            self.stats.misses += 1
            return None
        self._entries.move_to_end(key)
        self.stats.hits += 1
        return entry.response

    def _fresh(self, entry: _Entry) -> bool:
        if entry.expires_at <= self._now():
            return False
        return all(self._generations.get(tag, 0) == seen for tag, seen in entry.generations)

    async def put(self, key: str, response: CachedResponse, *, tags: Iterable[str], ttl: float) -> None:
        if not _storable(response, ttl, self._max_body_bytes):
            self.stats.skipped += 1
            return
        self._drop(key)
        unique = sorted(set(tags))
        generations = tuple((tag, self._generations.get(tag, 0)) for tag in unique)
        self._entries[key] = _Entry(response, self._now() + ttl, generations)
        for tag in unique:
            self._tag_refs[tag] = self._tag_refs.get(tag, 0) + 1
        while len(self._entries) > self._max_entries:
            self._drop(next(iter(self._entries)))
        self.stats.stores += 1

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for tag, _ in entry.generations:
            left = self._tag_refs[tag] - 1
            if left:
                self._tag_refs[tag] = left
            else:  # nothing records this tag any more: a fresh entry may start again at generation 0
                del self._tag_refs[tag]
                self._generations.pop(tag, None)

    def invalidate_now(self, tags: Iterable[str]) -> None:
        """Synchronous, so an after-commit hook makes the writer's next GET a miss without awaiting anything."""
        for tag in set(tags):
            if tag in self._tag_refs:  # a tag no entry carries has nothing to invalidate
                self._generations[tag] = self._generations.get(tag, 0) + 1
        self.stats.invalidations += 1

    async def invalidate(self, tags: Iterable[str]) -> None:
        self.invalidate_now(tags)

    async def close(self) -> None:
        self._entries.clear()
        self._generations.clear()
        self._tag_refs.clear()


# --- Redis ---------------------------------------------------------------------------------------------------------
# Layout under the prefix: ``e:<key>`` a hash {v: packed response, g:<tag>: generation at store time} with PX TTL;
# ``g:<tag>`` the tag's generation, a value of ``seq`` (one counter for all tags, so a generation never repeats even
# after its key expired); ``seq`` that counter. The scripts touch generation keys they do not declare: this needs a
# single Redis (or a primary with replicas), not Redis Cluster.

# KEYS[1] = the entry; ARGV[1] = the generation key prefix.
# Returns false (a miss) or {packed response, tag1, generation1, ...} for the caller's own checks.
_LUA_GET = """
local fields = redis.call('HGETALL', KEYS[1])
local value = false
local tags, seen, keys = {}, {}, {}
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == 'v' then
    value = fields[i + 1]
  elseif string.sub(name, 1, 2) == 'g:' then
    local tag = string.sub(name, 3)
    tags[#tags + 1] = tag
    seen[#seen + 1] = fields[i + 1]
    keys[#keys + 1] = ARGV[1] .. tag
  end
end
if not value then return false end
local reply = {value}
if #keys > 0 then
  local current = redis.call('MGET', unpack(keys))
  for i = 1, #keys do
    if (current[i] or '0') ~= seen[i] then return false end
    reply[#reply + 1] = tags[i]
    reply[#reply + 1] = seen[i]
  end
end
return reply
"""

# KEYS[1] = the entry; ARGV = generation key prefix, TTL (ms), packed response, tag1, tag2, ...
# Reading the generations and writing the entry in one script: no invalidation can fall in between.
_LUA_PUT = """
local fields = {'v', ARGV[3]}
local n = #ARGV - 3
if n > 0 then
  local keys = {}
  for i = 1, n do keys[i] = ARGV[1] .. ARGV[i + 3] end
  local current = redis.call('MGET', unpack(keys))
  for i = 1, n do
    fields[#fields + 1] = 'g:' .. ARGV[i + 3]
    fields[#fields + 1] = current[i] or '0'
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS[1] = the counter, KEYS[2..] = generation keys; ARGV[1] = their lifetime (ms). Returns the new generation.
_LUA_INVALIDATE = """
local generation = redis.call('INCR', KEYS[1])
for i = 2, #KEYS do redis.call('SET', KEYS[i], generation, 'PX', ARGV[1]) end
return generation
"""


def _pack(response: CachedResponse) -> bytes:
    meta = json.dumps([response.status, response.headers, response.stored_at], separators=(",", ":")).encode()
    return len(meta).to_bytes(4, "big") + meta + response.body


def _unpack(blob: bytes) -> CachedResponse:
    size = int.from_bytes(blob[:4], "big")
    if len(blob) < 4 + size:
        raise ValueError("truncated cache entry")
    status, headers, stored_at = json.loads(blob[4 : 4 + size])
    pairs = tuple((str(name), str(value)) for name, value in headers)
    return CachedResponse(int(status), bytes(blob[4 + size :]), pairs, float(stored_at))


class _Confirmed(NamedTuple):
    generation: int
    at: float


class RedisResponseCache:
    """Entries shared by every replica; one Lua script per read, store and invalidation (one round trip each)."""

    def __init__(
        self,
        client: Redis,
        prefix: str = DEFAULT_PREFIX,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_ttl: float = DEFAULT_MAX_TTL,
        clock: Clock = time.monotonic,
    ) -> None:
        _check_limit("max_body_bytes", max_body_bytes, 0)
        if not (math.isfinite(max_ttl) and max_ttl > 0):
            raise ValueError(f"max_ttl must be a finite number of seconds > 0, got {max_ttl!r}")
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("the response cache needs a Redis client with decode_responses=False (bodies are bytes)")
        self.stats = CacheStats()
        self._client = client
        self._prefix = prefix
        self._max_body_bytes = max_body_bytes
        self._max_ttl = max_ttl
        self._degraded_seconds = max(DEGRADED_SECONDS, max_ttl)  # outlasts every entry a lost invalidation missed
        self._generation_ms = math.ceil((max_ttl + GENERATION_MARGIN) * 1000)
        self._clock = clock
        self._get_script = client.register_script(_LUA_GET)
        self._put_script = client.register_script(_LUA_PUT)
        self._invalidate_script = client.register_script(_LUA_INVALIDATE)
        self._owns_client = False  # from_url sets it: only a client we made is ours to close
        self._pending: dict[str, int] = {}  # tags whose invalidation is on its way to Redis
        self._confirmed: OrderedDict[str, _Confirmed] = OrderedDict()  # this replica's recent invalidations
        self._lost: set[str] = set()  # tags whose invalidation failed: sent again with the next one
        self._down_until = -math.inf
        self._degraded_until = -math.inf
        self._last_log: dict[int, float] = {}

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_ttl: float = DEFAULT_MAX_TTL,
        clock: Clock = time.monotonic,
    ) -> RedisResponseCache:
        """A client we make is ours to close; see :func:`_make_client` for its settings."""
        client = make_redis_client(url)
        cache = cls(client, prefix, max_ttl=max_ttl, clock=clock)
        cache._owns_client = True
        return cache

    @property
    def degraded(self) -> bool:
        """True while a lost invalidation keeps this replica from serving cached responses."""
        return self._clock() < self._degraded_until

    # -- reads --

    async def get(self, key: str) -> CachedResponse | None:
        response = await self._lookup(key)
        if response is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return response

    async def _lookup(self, key: str) -> CachedResponse | None:
        if not self._usable():
            return None
        try:
            reply = await self._get_script(keys=[self._entry_key(key)], args=[self._generation_prefix])
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return None
        # Checked after the round trip: an invalidation may have started (or failed) while it was under way.
        if not reply or not self._usable():
            return None
        return self._accept(reply)

    def _accept(self, reply: list[bytes]) -> CachedResponse | None:
        """An entry this replica cannot read (another version's format, say) is a miss, never an error."""
        try:
            recorded = [(reply[i].decode(), int(reply[i + 1])) for i in range(1, len(reply) - 1, 2)]
            response = _unpack(reply[0])
        except (ValueError, TypeError) as exc:
            self.stats.errors += 1
            self._log(logging.WARNING, "response cache: an unreadable entry counts as a miss (%s)", type(exc).__name__)
            return None
        if any(self._locally_stale(tag, seen) for tag, seen in recorded):
            return None
        return response

    def _locally_stale(self, tag: str, seen: int) -> bool:
        """This replica's own invalidations count even before (or just after) Redis has them."""
        if self._pending.get(tag):
            return True
        confirmed = self._confirmed.get(tag)
        return confirmed is not None and seen < confirmed.generation and self._clock() - confirmed.at < LOCAL_GRACE

    def _usable(self) -> bool:
        now = self._clock()
        return now >= self._down_until and now >= self._degraded_until

    # -- writes --

    async def put(self, key: str, response: CachedResponse, *, tags: Iterable[str], ttl: float) -> None:
        unique = sorted(set(tags))
        if not self._may_store(response, ttl, unique):
            self.stats.skipped += 1
            return
        milliseconds = max(1, math.ceil(min(ttl, self._max_ttl) * 1000))
        args: list[str | int | bytes] = [self._generation_prefix, milliseconds, _pack(response), *unique]
        try:
            await self._put_script(keys=[self._entry_key(key)], args=args)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return
        self.stats.stores += 1

    def _may_store(self, response: CachedResponse, ttl: float, tags: list[str]) -> bool:
        """A response computed while one of its tags was being invalidated may predate the change."""
        storable = _storable(response, ttl, self._max_body_bytes)
        return storable and self._usable() and not any(self._pending.get(tag) for tag in tags)

    def invalidate_now(self, tags: Iterable[str]) -> Coroutine[Any, Any, None] | None:
        """Marks the tags in this process at once; the returned coroutine takes them to Redis and must be run."""
        unique = frozenset(tags)
        if not unique:
            return None
        for tag in unique:
            self._pending[tag] = self._pending.get(tag, 0) + 1
        return self._propagate(unique)

    async def invalidate(self, tags: Iterable[str]) -> None:
        work = self.invalidate_now(tags)
        if work is not None:
            await work

    async def _propagate(self, tags: frozenset[str]) -> None:
        sending = tags | self._lost
        keys = [self._prefix + "seq", *(self._generation_prefix + tag for tag in sorted(sending))]
        try:
            generation = await self._invalidate_script(keys=keys, args=[self._generation_ms])
        except Exception as exc:  # whatever went wrong, the invalidation may not have happened
            self._lose(sending, f"{type(exc).__name__}: {self._scrub(str(exc))}")
        except asyncio.CancelledError:
            self._lose(sending, "cancelled")
            raise
        else:
            self._lost -= sending
            self._confirm(sending, int(generation))
            self.stats.invalidations += 1
        finally:
            self._settle(tags)

    def _confirm(self, tags: Iterable[str], generation: int) -> None:
        now = self._clock()
        for tag in tags:
            self._confirmed[tag] = _Confirmed(generation, now)
            self._confirmed.move_to_end(tag)
        while self._confirmed and now - next(iter(self._confirmed.values())).at >= LOCAL_GRACE:
            self._confirmed.popitem(last=False)

    def _settle(self, tags: Iterable[str]) -> None:
        for tag in tags:
            left = self._pending[tag] - 1
            if left:
                self._pending[tag] = left
            else:
                del self._pending[tag]

    def _lose(self, tags: frozenset[str], reason: str) -> None:
        """Redis may still hold entries this invalidation should have ended: serve none of them from here."""
        self.stats.errors += 1
        self._lost |= tags
        self._degraded_until = max(self._degraded_until, self._clock() + self._degraded_seconds)
        self._log(
            logging.ERROR,
            "response cache: an invalidation of %d tag(s) did not reach Redis at %s (%s); "
            "serving no cached responses for %.0f s",
            len(tags),
            self._where(),
            reason,
            self._degraded_seconds,
        )

    def _failed(self, exc: BaseException) -> None:
        self.stats.errors += 1
        self._down_until = self._clock() + REDIS_COOLDOWN
        self._log(
            logging.WARNING,
            "response cache: Redis at %s failed (%s: %s); answering without the cache until it is back",
            self._where(),
            type(exc).__name__,
            self._scrub(str(exc)),
        )

    def _log(self, level: int, message: str, *args: object) -> None:
        """At most one line per level per WARNING_INTERVAL: an outage must not flood the logs."""
        now = self._clock()
        if now - self._last_log.get(level, -math.inf) < WARNING_INTERVAL:
            return
        self._last_log[level] = now
        logger.log(level, message, *args)

    # -- naming and plumbing --

    @property
    def _generation_prefix(self) -> str:
        return self._prefix + "g:"

    def _entry_key(self, key: str) -> str:
        return self._prefix + "e:" + key

    def _where(self) -> str:
        """The address without credentials: the URL's password must never reach a log."""
        kwargs = self._client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
        return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"

    def _scrub(self, text: str) -> str:
        password = self._client.connection_pool.connection_kwargs.get("password")
        return text.replace(password, "***") if isinstance(password, str) and password else text

    async def close(self) -> None:
        """Closes the client only if :meth:`from_url` made it; a client passed in belongs to the caller."""
        if self._owns_client:
            await self._client.aclose()


def build_response_cache(redis_url: str | None) -> ResponseCache:
    """Redis when configured (entries and invalidations shared by replicas), else a per-process cache."""
    return RedisResponseCache.from_url(redis_url) if redis_url else MemoryResponseCache()


# --- invalidation on commit ----------------------------------------------------------------------------------------


class EventInvalidator:
    """The bus's after-commit hook: committed ticket events end the cached responses that showed the old state.

    The in-process part happens inside the hook, so the writer's next request cannot see the old response; what
    needs I/O runs as a task that is kept until it ends (``drain``/``close`` wait for it).
    """

    def __init__(self, cache: ResponseCache, *, close_timeout: float = CLOSE_TIMEOUT) -> None:
        self._cache = cache
        self._close_timeout = close_timeout
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def __call__(self, events: list[RecordedEvent]) -> None:
        self.schedule(tags_for_events(events))

    def schedule(self, tags: Iterable[str]) -> None:
        """Also for code paths that change directory data in a synchronous context; must run on the event loop."""
        unique = set(tags)
        if not unique:
            return
        if isinstance(self._cache, InvalidatesNow):
            work = self._cache.invalidate_now(unique)
        else:
            work = self._cache.invalidate(unique)
        if work is not None:
            self._spawn(work)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._run(work), name="response-cache-invalidation")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception:
            logger.exception("response cache: invalidation failed")

    async def drain(self) -> None:
        """Waits for every invalidation scheduled so far, including those scheduled while waiting."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def close(self) -> None:
        """Drains, but not forever: what is still pending after ``close_timeout`` is cancelled (and logged)."""
        try:
            async with asyncio.timeout(self._close_timeout):
                await self.drain()
        except TimeoutError:
            logger.error("response cache: cancelling %d invalidation(s) still pending at shutdown", len(self._tasks))
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
