"""The API's shared objects, as typed keys (no globals): per app, and per request."""

from __future__ import annotations

from aiohttp import web

from psa_chatops.bot.api.principal import Principal
from psa_chatops.bot.api.ratelimit import RateLimiter
from psa_chatops.bot.api.response_cache import ResponseCache
from psa_chatops.bot.api.tokens import TokenIssuer, TokenVerifier
from psa_chatops.handlers.ports import AuditSlot
from psa_chatops.storage.api_keys import ApiKeyStore
from psa_chatops.storage.audit_log import AuditLog
from psa_chatops.storage.idempotency import IdempotencyStore

API_KEYS = web.AppKey("api_keys", ApiKeyStore)
AUDIT = web.AppKey("audit_log", AuditLog)
IDEMPOTENCY = web.AppKey("idempotency", IdempotencyStore)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
RESPONSE_CACHE = web.AppKey("response_cache", ResponseCache)
TOKEN_ISSUER = web.AppKey("token_issuer", TokenIssuer)
TOKEN_VERIFIER = web.AppKey("token_verifier", TokenVerifier)

PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")
RATE_HEADERS: web.RequestKey[dict[str, str]] = web.RequestKey("rate_headers")
AUDIT_RESOURCE: web.RequestKey[str | None] = web.RequestKey("audit_resource")
AUDIT_SLOT: web.RequestKey[AuditSlot | None] = web.RequestKey("audit_slot")
