"""Token-bucket rate limits for the REST API gateway, in-process or shared by all replicas through Redis.

The gateway calls :meth:`RateLimiter.hit` once per request for each key (``key:<api-key-id>``, ``ip:<client-ip>``)
and turns the decisions into headers with :func:`rate_limit_headers`. A bucket holds up to ``burst`` tokens and
refills continuously at ``rate`` tokens per second; a request costs ``cost`` tokens.

When Redis is unreachable the Redis limiter fails open to per-process limits: a rate limiter must never be the
reason the API is down.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from psa_chatops.bot.api.redis_client import make_redis_client

logger = logging.getLogger("psa_chatops.api.ratelimit")

DEFAULT_PREFIX = "psa:rl:"
MAX_MEMORY_BUCKETS = 100_000
WARNING_INTERVAL = 30.0  # seconds between two "Redis is unreachable" warnings
REDIS_COOLDOWN = 1.0  # seconds to skip Redis after a failure, so an outage does not add a timeout to every request
_EPSILON = 1e-9  # absorbs float noise, e.g. 1 / (1/3) == 3.0000000000000004 must not round up to 4

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """A bucket's shape; ``name`` ends up in the ``RateLimit-Policy`` header."""

    rate: float
    burst: int
    name: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"RatePolicy.rate must be a finite number of tokens per second > 0, got {self.rate!r}")
        if self.burst < 1:
            raise ValueError(f"RatePolicy.burst must be an integer >= 1, got {self.burst!r}")
        if not self.name or any(c in self.name for c in '"\\\r\n'):
            raise ValueError(f"RatePolicy.name must be non-empty without quotes, backslashes, newlines: {self.name!r}")

    @property
    def window(self) -> int:
        """Seconds an empty bucket takes to refill: the ``w`` of the policy header."""
        return _ceil(self.burst / self.rate)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one hit; ``retry_after`` (seconds until ``cost`` tokens are back) only when refused."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after: int | None
    policy: RatePolicy


class RateLimiter(Protocol):
    """What the gateway needs; both backends implement it."""

    async def hit(self, key: str, policy: RatePolicy, *, now: float | None = None, cost: int = 1) -> Decision: ...

    async def close(self) -> None: ...


# --- the bucket arithmetic, shared by both backends (the Lua script mirrors _refill/_take) ----------------------------


def _ceil(seconds: float) -> int:
    return max(0, math.ceil(seconds - _EPSILON))


def _validate(key: str, policy: RatePolicy, cost: int) -> None:
    if not key:
        raise ValueError("rate limit key must be a non-empty string")
    if not 1 <= cost <= policy.burst:
        raise ValueError(f"cost must be between 1 and the policy's burst ({policy.burst}), got {cost!r}")


def _refill(tokens: float, updated_at: float, now: float, policy: RatePolicy) -> float:
    """Clocks may step back (NTP, another replica's explicit ``now``): a negative interval refills nothing."""
    return min(float(policy.burst), tokens + max(0.0, now - updated_at) * policy.rate)


def _take(tokens: float, cost: int) -> tuple[bool, float]:
    """A refused request takes nothing, so a client hammering a full bucket still sees it refill."""
    if tokens >= cost:
        return True, tokens - cost
    return False, tokens


def _decision(policy: RatePolicy, allowed: bool, tokens: float, cost: int) -> Decision:
    return Decision(
        allowed=allowed,
        limit=policy.burst,
        remaining=min(policy.burst, max(0, math.floor(tokens + _EPSILON))),
        reset_seconds=_ceil((policy.burst - tokens) / policy.rate),
        retry_after=None if allowed else max(1, _ceil((cost - tokens) / policy.rate)),
        policy=policy,
    )


# --- in-process -------------------------------------------------------------------------------------------------------


class _Bucket(NamedTuple):
    tokens: float
    updated_at: float
    full_at: float  # when it holds ``burst`` again: from then on forgetting it changes nothing


class MemoryRateLimiter:
    """Per-process buckets: the default for a single replica, and the Redis limiter's fallback."""

    def __init__(self, *, max_entries: int = MAX_MEMORY_BUCKETS) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries!r}")
        self._max_entries = max_entries
        self._buckets: dict[str, _Bucket] = {}  # least recently hit first

    def __len__(self) -> int:
        return len(self._buckets)

    async def hit(self, key: str, policy: RatePolicy, *, now: float | None = None, cost: int = 1) -> Decision:
        # No lock: everything from the read to the write below runs without an await, so on one event loop no other
        # task can interleave. Keep it that way (or add an asyncio.Lock) when changing this method.
        _validate(key, policy, cost)
        at = time.monotonic() if now is None else now
        previous = self._buckets.pop(key, None)
        tokens = float(policy.burst) if previous is None else _refill(previous.tokens, previous.updated_at, at, policy)
        allowed, tokens = _take(tokens, cost)
        self._buckets[key] = _Bucket(tokens, at, at + (policy.burst - tokens) / policy.rate)
        if previous is None and len(self._buckets) > self._max_entries:
            self._evict(at)
        return _decision(policy, allowed, tokens, cost)

    def _evict(self, now: float) -> None:
        """Drop full buckets (lossless), then the least recently hit ones down to 90 % so sweeps stay rare."""
        for key in [key for key, bucket in self._buckets.items() if bucket.full_at <= now]:
            del self._buckets[key]
        excess = len(self._buckets) - max(1, self._max_entries * 9 // 10)
        for key in list(self._buckets)[: max(0, excess)]:
            del self._buckets[key]

    async def close(self) -> None:
        self._buckets.clear()


# --- Redis ------------------------------------------------------------------------------------------------------------

# KEYS[1] = the bucket's hash; ARGV = rate, burst, cost, now (empty: use the server's clock, shared by all replicas).
# Returns {allowed (0/1), tokens left as a string} — Redis would truncate a Lua number to an integer.
_LUA_HIT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
end
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
local left = string.format('%.17g', tokens)
redis.call('HSET', KEYS[1], 'tokens', left, 'ts', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((burst - tokens) / rate * 1000)))
return {allowed, left}
"""


class RedisRateLimiter:
    """Buckets shared by every replica; one Lua script per hit keeps read-refill-take-write atomic."""

    def __init__(
        self,
        client: Redis,
        prefix: str = DEFAULT_PREFIX,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_LUA_HIT)
        self._fallback = MemoryRateLimiter()
        self._clock = clock  # paces the warnings and the cooldown, never the buckets
        self._owns_client = False  # from_url sets it: only a client we made is ours to close
        self._redis_down_until = -math.inf
        self._last_warning = -math.inf

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX, clock: Clock = time.monotonic) -> RedisRateLimiter:
        """A limiter on a client of its own (see :func:`make_redis_client`), which :meth:`close` closes."""
        limiter = cls(make_redis_client(url), prefix, clock=clock)
        limiter._owns_client = True
        return limiter

    async def hit(self, key: str, policy: RatePolicy, *, now: float | None = None, cost: int = 1) -> Decision:
        _validate(key, policy, cost)
        if self._clock() < self._redis_down_until:
            return await self._fallback.hit(key, policy, now=now, cost=cost)
        args = (repr(float(policy.rate)), policy.burst, cost, "" if now is None else repr(float(now)))
        try:
            allowed, tokens = await self._script(keys=[self._prefix + key], args=args)
        except (RedisError, OSError) as exc:
            self._redis_failed(exc)
            return await self._fallback.hit(key, policy, now=now, cost=cost)
        return _decision(policy, bool(allowed), float(tokens), cost)

    def _redis_failed(self, exc: BaseException) -> None:
        at = self._clock()
        self._redis_down_until = at + REDIS_COOLDOWN
        if at - self._last_warning < WARNING_INTERVAL:
            return
        self._last_warning = at
        logger.warning(
            "rate limiter: Redis at %s failed (%s: %s); using per-process limits until it answers again",
            self._where(),
            type(exc).__name__,
            self._scrub(str(exc)),
        )

    def _connection_kwargs(self) -> dict[str, Any]:
        return dict(self._client.connection_pool.connection_kwargs)

    def _where(self) -> str:
        """The address without credentials: the URL's password must never reach a log."""
        kwargs = self._connection_kwargs()
        if "path" in kwargs:
            return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
        return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"

    def _scrub(self, text: str) -> str:
        password = self._connection_kwargs().get("password")
        return text.replace(password, "***") if isinstance(password, str) and password else text

    async def close(self) -> None:
        """Closes the client only if :meth:`from_url` made it; a client passed in belongs to the caller."""
        await self._fallback.close()
        if self._owns_client:
            await self._client.aclose()


def build_rate_limiter(redis_url: str | None) -> RateLimiter:
    """Redis when configured (limits shared by replicas), else per-process buckets."""
    return RedisRateLimiter.from_url(redis_url) if redis_url else MemoryRateLimiter()


def rate_limit_headers(decisions: Sequence[Decision]) -> dict[str, str]:
    """IETF draft "RateLimit header fields for HTTP": report the most restrictive decision (lowest remaining)."""
    if not decisions:
        return {}
    tightest = min(decisions, key=lambda d: (d.remaining, d.allowed, -d.reset_seconds))
    policy = tightest.policy
    headers = {
        "RateLimit-Limit": str(tightest.limit),
        "RateLimit-Remaining": str(tightest.remaining),
        "RateLimit-Reset": str(tightest.reset_seconds),
        "RateLimit-Policy": f'{policy.burst};w={policy.window};name="{policy.name}"',
    }
    refusals = [d.retry_after for d in decisions if d.retry_after is not None]
    if refusals:
        headers["Retry-After"] = str(max(refusals))
    return headers
