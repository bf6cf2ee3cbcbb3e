"""Request signing for critical endpoints (seed 9.1), a gateway step.

When an API key has a signing secret, its requests to ``/security/...`` and all its POSTs carry
``X-PSA-Timestamp`` (unix seconds) and ``X-PSA-Signature: v1=<hex HMAC-SHA256 of "v1:{timestamp}:{raw body}">``.
A stale timestamp (more than the tolerance, 300 s, either way), a signature seen before within the window
(a replay) and a wrong or missing signature are 401s. Signatures are compared in constant time.

Replays are remembered per key for twice the tolerance (a timestamp is accepted that long at most), in this
process or, when ``PSA_REDIS_URL`` is set, in Redis (``SET NX EX``), shared by every replica. Redis failing falls
back to per-process memory: a replay guard must not take the API down.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Protocol

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from psa_chatops.bot.api import keys as api_keys
from psa_chatops.bot.api.principal import Principal
from psa_chatops.bot.api.problems import ProblemError
from psa_chatops.bot.api.redis_client import make_redis_client

logger = logging.getLogger("psa_chatops.api.signing")
TIMESTAMP_HEADER = "X-PSA-Timestamp"
SIGNATURE_HEADER = "X-PSA-Signature"
SCHEME = "v1"
MAX_REMEMBERED = 200_000
SIGNED_PATH_PART = "/security/"

WORKED_SECRET = "whsec-example-0123456789abcdef"  # noqa: S105 - the documented example, no credential
WORKED_TIMESTAMP = 1764320400  # 2025-11-28T09:00:00Z
WORKED_BODY = (
    b'{"provider":"RocketCyber","alert_id":"RC-2025-1234","severity":"high","threat_type":"ransomware",'
    b'"affected_asset":"WS-CLIENT-042","customer_id":"CUST-789","action":"create_ticket"}'
)
WORKED_SIGNATURE = "v1=e91a6f05e611191627b0c8fc017f03992bd264c735ab448cf6ca111041f19a71"  # asserted by a test


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-PSA-Signature`` value for this secret, timestamp and raw body."""
    message = b"%s:%s:%s" % (SCHEME.encode(), str(timestamp).encode(), body)
    return f"{SCHEME}={hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()}"


def describe() -> str:
    """The scheme with a worked example, for the OpenAPI description."""
    return (
        "\n\n## Request signing\n\nWhen your API key has a signing secret (`POST /api-keys` with "
        "`signing_secret: true`, `POST /api-keys/{id}/signing-secret`, or `psa apikey create --signing-secret`), "
        "every POST and every request under `/security/` must carry `X-PSA-Timestamp` (unix seconds) and "
        '`X-PSA-Signature: v1=<hex HMAC-SHA256 of "v1:{timestamp}:{raw body}" keyed with the secret>`. '
        "A timestamp more than 300 seconds off, a signature used before, and a wrong or missing signature are "
        "refused with 401 (`signature-required`, `signature-expired`, `signature-replayed`, `invalid-signature`)."
        f"\n\nWorked example: secret `{WORKED_SECRET}`, timestamp `{WORKED_TIMESTAMP}`, body\n\n"
        f"```\n{WORKED_BODY.decode()}\n```\n\nsign `v1:{WORKED_TIMESTAMP}:` followed by the body's bytes, giving\n\n"
        f"```\nX-PSA-Timestamp: {WORKED_TIMESTAMP}\nX-PSA-Signature: {WORKED_SIGNATURE}\n```\n\n"
        "In Python: `hmac.new(secret.encode(), b'v1:%d:' % ts + body, hashlib.sha256).hexdigest()`."
    )


class ReplayGuard(Protocol):
    async def first_use(self, key: str, *, ttl: int, now: float) -> bool:
        """True the first time ``key`` is presented within ``ttl`` seconds; False for a replay."""

    async def close(self) -> None: ...


class MemoryReplayGuard:
    def __init__(self, *, max_entries: int = MAX_REMEMBERED) -> None:
        self._seen: dict[str, float] = {}  # key -> forget after (oldest first)
        self._max = max_entries

    async def first_use(self, key: str, *, ttl: int, now: float) -> bool:
        # No await between the read and the write: on one event loop nothing interleaves.
        expires = self._seen.get(key)
        if expires is not None and expires > now:
            return False
        self._seen[key] = now + ttl
        if len(self._seen) > self._max:
            self._forget(now)
        return True

    def _forget(self, now: float) -> None:
        for key in [k for k, expires in self._seen.items() if expires <= now]:
            del self._seen[key]
        for key in list(self._seen)[: max(0, len(self._seen) - self._max * 9 // 10)]:
            del self._seen[key]

    async def close(self) -> None:
        self._seen.clear()


class RedisReplayGuard:
    """Shared by the replicas; falls back to this process's memory while Redis fails."""

    def __init__(self, client: Redis, prefix: str = "psa:sig:") -> None:
        self._client, self._prefix = client, prefix
        self._fallback = MemoryReplayGuard()
        self._warned_at = 0.0

    async def first_use(self, key: str, *, ttl: int, now: float) -> bool:
        try:
            return bool(await self._client.set(self._prefix + key, b"1", nx=True, ex=ttl))
        except (RedisError, OSError) as exc:
            if time.monotonic() - self._warned_at > 30:
                self._warned_at = time.monotonic()
                logger.warning("Redis unreachable for replay checks, using this process's memory: %s", exc)
            return await self._fallback.first_use(key, ttl=ttl, now=now)

    async def close(self) -> None:
        await self._fallback.close()
        await self._client.aclose()


def build_replay_guard(redis_url: str | None) -> ReplayGuard:
    return RedisReplayGuard(make_redis_client(redis_url)) if redis_url else MemoryReplayGuard()


def needs_signature(request: web.Request) -> bool:
    return request.method == "POST" or SIGNED_PATH_PART in request.path


async def secret_of(request: web.Request, principal: Principal) -> str | None:
    """An API key carries its secret; an OAuth2 token issued to a key is held to that key's secret too."""
    if principal.signing_secret is not None or principal.key_id is None or not principal.id.startswith("oauth:"):
        return principal.signing_secret
    record = await request[api_keys.REQUEST_DEPS].keys.get(principal.key_id)
    return record.signing_secret if record is not None else None


async def verify_signature(request: web.Request) -> None:
    """The gateway step (after ``authenticate``)."""
    principal = request.get(api_keys.PRINCIPAL)
    if principal is None or not needs_signature(request):
        return
    secret = await secret_of(request, principal)
    if secret is None:
        return
    stamp, presented = request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER)
    if not stamp or not presented:
        raise ProblemError(401, "signature-required", detail=f"send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
    deps = request[api_keys.REQUEST_DEPS]
    now = deps.clock.now().timestamp()
    tolerance = deps.settings.api_signature_tolerance_seconds
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise ProblemError(401, "invalid-signature", detail=f"{TIMESTAMP_HEADER}: unix seconds")
    if abs(now - int(stamp)) > tolerance:
        raise ProblemError(401, "signature-expired", detail=f"{TIMESTAMP_HEADER} is more than {tolerance} s off")
    expected = sign(secret, stamp, await request.read())
    candidates = [part.strip() for part in presented.split(",")]
    if not any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates if c.isascii()):
        raise ProblemError(401, "invalid-signature")
    if not await deps.replay.first_use(f"{principal.key_id or principal.id}:{expected}", ttl=2 * tolerance, now=now):
        raise ProblemError(401, "signature-replayed")
