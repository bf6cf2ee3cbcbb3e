"""The API's shared objects, as typed keys (no globals): per app, and per request."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from psa_chatops.bot.api.principal import Principal
from psa_chatops.bot.api.ratelimit import RateLimiter, RatePolicy
from psa_chatops.bot.api.response_cache import ResponseCache
from psa_chatops.bot.api.signing import MemoryReplayGuard, ReplayGuard
from psa_chatops.bot.api.tokens import TokenIssuer, TokenVerifier
from psa_chatops.bot.settings import Settings
from psa_chatops.handlers.ports import AuditSlot, Clock
from psa_chatops.storage.api_keys import ApiKeyRecord, ApiKeyStore
from psa_chatops.storage.audit_log import AuditLog
from psa_chatops.storage.idempotency import IdempotencyStore


@dataclass
class ApiDeps:
    """The gateway's objects in one place, looked up once per request instead of once per use (each
    ``config_dict`` lookup walks the sub-app chain). Built by ``api_ctx``."""

    settings: Settings
    clock: Clock
    keys: ApiKeyStore
    limiter: RateLimiter
    cache: ResponseCache
    idempotency: IdempotencyStore
    policies: dict[str, RatePolicy]
    key_cache: dict[str, tuple[float, ApiKeyRecord]] = field(default_factory=dict)
    replay: ReplayGuard = field(default_factory=MemoryReplayGuard)  # signed requests seen (Redis when configured)


DEPS = web.AppKey("api_deps", ApiDeps)
API_KEYS = web.AppKey("api_keys", ApiKeyStore)
AUDIT = web.AppKey("audit_log", AuditLog)
TOKEN_ISSUER = web.AppKey("token_issuer", TokenIssuer)
TOKEN_VERIFIER = web.AppKey("token_verifier", TokenVerifier)

PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")
RATE_HEADERS: web.RequestKey[dict[str, str]] = web.RequestKey("rate_headers")
AUDIT_RESOURCE: web.RequestKey[str | None] = web.RequestKey("audit_resource")
AUDIT_SLOT: web.RequestKey[AuditSlot | None] = web.RequestKey("audit_slot")
REQUEST_DEPS: web.RequestKey[ApiDeps] = web.RequestKey("api_request_deps")
