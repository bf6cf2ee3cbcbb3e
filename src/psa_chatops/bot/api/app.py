"""Mounts the REST API on the service: ``/api/v1`` and ``/api/v2`` as sub-apps behind the gateway middlewares
(so Slack and Teams routes never see them), ``/oauth/token``, ``/.well-known/jwks.json`` and the OpenAPI
documents; and opens the gateway's resources in ``api_ctx``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from psa_chatops.bot import keys
from psa_chatops.bot.api import gateway, oauth, openapi, pipeline
from psa_chatops.bot.api import keys as api_keys
from psa_chatops.bot.api.operations import Api
from psa_chatops.bot.api.ratelimit import build_rate_limiter
from psa_chatops.bot.api.response_cache import EventInvalidator, MemoryResponseCache, build_response_cache
from psa_chatops.bot.api.signing import build_replay_guard
from psa_chatops.bot.api.tokens import ExternalIssuer, TokenIssuer, TokenVerifier, load_or_create_signing_key
from psa_chatops.bot.settings import Settings
from psa_chatops.storage.api_keys import ApiKeyStore
from psa_chatops.storage.audit_log import AuditLog
from psa_chatops.storage.idempotency import IdempotencyStore

APIS: web.AppKey[dict[str, Api]] = web.AppKey("apis")
AUDIENCE = "psa-chatops-api"


def add_api(app: web.Application, apis: list[tuple[str, Api]]) -> None:
    app[APIS] = dict(apis)
    for root, api in apis:
        app.add_subapp(root, _version_app(api))
    app.router.add_post("/oauth/token", oauth.token)
    app.router.add_get("/.well-known/jwks.json", oauth.jwks)


def _version_app(api: Api) -> web.Application:
    sub = web.Application(middlewares=gateway.MIDDLEWARES)
    sub.router.add_get("/openapi.json", _openapi_handler(api))
    for op in api.operations:
        sub.router.add_route(op.method, op.path, pipeline.aiohttp_handler(op, api.version))
    return sub


def _openapi_handler(api: Api) -> pipeline.AiohttpHandler:
    async def handler(request: web.Request) -> web.Response:
        settings = request.config_dict[keys.SETTINGS]
        root = f"/api/{api.version}"
        return web.json_response(openapi.document(api, server_url=settings.public_url, root=root))

    return handler


def _verifier(settings: Settings, issuer: TokenIssuer, session: aiohttp.ClientSession) -> TokenVerifier:
    external = []
    if settings.jwt_external_issuer and settings.jwt_external_jwks_url and settings.jwt_external_audience:
        external.append(
            ExternalIssuer(
                issuer=settings.jwt_external_issuer,
                jwks_url=settings.jwt_external_jwks_url,
                audience=settings.jwt_external_audience,
            )
        )
    return TokenVerifier(
        [issuer.key], issuer=settings.public_url, audience=AUDIENCE, external=external, session=session
    )


async def api_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    engine, writer = app[keys.ENGINE], app[keys.WRITER]
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    pem = settings.jwt_private_key.get_secret_value() if settings.jwt_private_key else None
    issuer = TokenIssuer(
        load_or_create_signing_key(pem),
        issuer=settings.public_url,
        audience=AUDIENCE,
        ttl_seconds=settings.jwt_ttl_seconds,
    )
    app[api_keys.API_KEYS] = ApiKeyStore(engine, writer=writer)
    app[api_keys.AUDIT] = AuditLog(engine, writer=writer)
    limiter = build_rate_limiter(redis_url)
    cache = build_response_cache(redis_url) if settings.api_cache else MemoryResponseCache(max_entries=1)
    app[api_keys.TOKEN_ISSUER] = issuer
    app[api_keys.TOKEN_VERIFIER] = verifier = _verifier(settings, issuer, app[keys.HTTP])
    app[api_keys.DEPS] = api_keys.ApiDeps(
        settings=settings,
        clock=app[keys.CLOCK],
        keys=app[api_keys.API_KEYS],
        limiter=limiter,
        cache=cache,
        idempotency=IdempotencyStore(engine, writer=writer),
        policies=gateway.rate_policies(settings),
        replay=build_replay_guard(redis_url),
    )
    invalidator = EventInvalidator(cache)
    app[keys.BUS].after_commit.append(invalidator)
    yield
    app[keys.BUS].after_commit.remove(invalidator)
    await invalidator.close()
    await cache.close()
    await limiter.close()
    await app[api_keys.DEPS].replay.close()
    await verifier.close()
