"""The Redis client the gateway's limiter and cache share the settings of: fit for the request path."""

from __future__ import annotations

from redis import __version__ as redis_version
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo

REDIS_TIMEOUT = 0.25  # seconds; a limiter or cache that answers late is worse than local limits or no cache


def make_redis_client(url: str) -> Redis:
    """Nothing is connected until the first command. Short timeouts and a single retry (it survives a pooled
    connection the server closed): when Redis is slow the request must go on without it. The explicit driver info
    spares redis-py an ``importlib.metadata`` lookup, which reads the disk on the event loop, for every connection
    it opens. Query-string options in ``url`` win."""
    return Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        retry=Retry(NoBackoff(), 1),
        driver_info=DriverInfo(lib_version=redis_version),
    )
