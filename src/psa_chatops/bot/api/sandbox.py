"""Sandbox developer tokens: in sandbox mode anyone may take a key for the demo data, without signing up.

Why it is safe: only in sandbox mode (elsewhere the operation does not exist: 404), the key cannot write the
directory, routing rules or anything admin, it expires after a day, and each client address gets a few per hour
(the app's rate limiter, so replicas share the budget when it runs on Redis).
"""

from __future__ import annotations

from datetime import timedelta

from psa_chatops.bot import keys
from psa_chatops.bot.api import gateway
from psa_chatops.bot.api import keys as api_keys
from psa_chatops.bot.api.operations import Call
from psa_chatops.bot.api.problems import ProblemError
from psa_chatops.bot.api.ratelimit import RatePolicy
from psa_chatops.core.errors import N_
from psa_chatops.i18n import translate
from psa_chatops.storage.api_keys import NewApiKey

SCOPES = ("tickets:read", "tickets:write", "directory:read", "routing:read", "alerts:write")
NAME = "sandbox developer token"
LIFETIME = timedelta(hours=24)
DOCS = "/docs"


async def issue(call: Call) -> NewApiKey:
    settings = call.request.config_dict[keys.SETTINGS]
    if not settings.sandbox:
        raise ProblemError(404, "not-found")
    await _spend(call, settings.sandbox_tokens_per_hour)
    now = call.now()
    created: NewApiKey = await call.request.config_dict[api_keys.API_KEYS].create(
        name=NAME,
        scopes=SCOPES,
        created_by=f"sandbox:{call.request.remote or 'unknown'}"[:255],
        now=now,
        expires_at=now + LIFETIME,
        sandbox=True,
    )
    return created


async def _spend(call: Call, per_hour: int) -> None:
    """One token of the client address's hourly bucket; its headers join the gateway's (the tightest wins)."""
    policy = RatePolicy(rate=per_hour / 3600, burst=per_hour, name="sandbox-tokens")
    ip = call.request.remote or "unknown"
    decision = await call.request.config_dict[api_keys.DEPS].limiter.hit(f"sandbox-token:{ip}", policy)
    call.request[gateway.DECISIONS].append(decision)
    if not decision.allowed:
        detail = translate(N_("At most {n} sandbox tokens per hour from one address."), call.locale, n=per_hour)
        raise ProblemError(429, "rate-limited", detail=detail, headers={"Retry-After": str(decision.retry_after or 1)})
