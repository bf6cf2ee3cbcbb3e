"""The API gateway: one middleware that runs the steps in ``STEPS`` in order before the operation, and around
all of it renders every failure as problem+json (never a traceback), adds the rate-limit headers, and writes each
write request (and each refused one) to the audit log. The steps:

1. ``limit_by_ip`` spends a token of the client address's bucket, before any work.
2. ``check_body`` refuses oversized bodies (413) and bodies that are not JSON (415).
3. ``authenticate`` turns an API key or a bearer JWT into a ``Principal`` (401 when presented but invalid;
   403 when the key's IP allow-list excludes the client).
4. ``verify_signature`` checks the request signature when the key has a signing secret (``bot.api.signing``).
5. ``limit_by_key`` spends a token of the key's bucket.

Steps are plain functions rather than nested middlewares: the same order, without a coroutine frame and aiohttp's
per-middleware wrapper for each (a fifth of the gateway's cost per request).

Scopes, validation, idempotency, caching and ETags depend on the operation: ``bot.api.pipeline``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from psa_chatops.bot import keys
from psa_chatops.bot.api import keys as api_keys
from psa_chatops.bot.api.principal import Principal
from psa_chatops.bot.api.problems import TITLES, ProblemError, problem_body, problem_response
from psa_chatops.bot.api.ratelimit import Decision, RatePolicy, rate_limit_headers
from psa_chatops.bot.api.signing import verify_signature
from psa_chatops.bot.api.tokens import IdentityProviderUnavailable, InvalidToken
from psa_chatops.bot.logs import REQUEST_ID
from psa_chatops.bot.middlewares import STATUS_OF_KIND, request_locale
from psa_chatops.bot.settings import Settings
from psa_chatops.core.errors import DomainError
from psa_chatops.handlers.ports import AuditSlot
from psa_chatops.i18n import translate
from psa_chatops.storage.api_keys import ApiKeyRecord, digest, split_key
from psa_chatops.storage.audit_log import AuditEntry

logger = logging.getLogger("psa_chatops.api")
DECISIONS: web.RequestKey[list[Decision]] = web.RequestKey("rate_decisions")
KEY_CACHE_SECONDS = 30.0
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SLUG_OF_KIND = {"not_found": "not-found", "forbidden": "forbidden", "invalid": "validation-error"}
SLUG_OF_KIND |= {"conflict": "conflict", "concurrency": "conflict", "precondition": "precondition-failed"}


@web.middleware
async def gateway(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[api_keys.REQUEST_DEPS] = request.config_dict[api_keys.DEPS]
    request[DECISIONS] = []
    request[api_keys.AUDIT_SLOT] = _audit_slot(request) if request.method in WRITE_METHODS else None
    try:
        for step in STEPS:
            await step(request)
        response = await handler(request)
    except ProblemError as exc:
        response = _problem(request, exc.status, exc.slug, detail=exc.detail, errors=exc.errors, headers=exc.headers)
    except DomainError as exc:
        status = STATUS_OF_KIND.get(exc.kind, 400)
        detail = translate(exc.template, request_locale(request), **exc.params)
        response = _problem(request, status, SLUG_OF_KIND.get(exc.kind, "validation-error"), detail=detail)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        slug = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(exc.status, "conflict")
        kept = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}  # RFC 9110: 405 needs Allow
        response = _problem(request, exc.status, slug, headers=kept)
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        response = _problem(request, 500, "internal")
    decisions: list[Decision] = request[DECISIONS]
    if decisions:
        response.headers.update(rate_limit_headers(decisions))
    slot = request[api_keys.AUDIT_SLOT]
    if slot is not None and not slot.written:  # no command committed it with a change: write it now
        slot.status = response.status
        await _audit(request, slot)
    return response


def _problem(
    request: web.Request,
    status: int,
    slug: str,
    *,
    detail: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    locale = request_locale(request)
    body = problem_body(status, slug, translate(TITLES[slug], locale), detail=detail, errors=errors)
    body["instance"] = request.path
    body["request_id"] = REQUEST_ID.get()
    return problem_response(body, headers)


def _audit_slot(request: web.Request) -> AuditSlot:
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    key = request.headers.get("Idempotency-Key")
    return AuditSlot(
        method=request.method,
        route=route,
        path=request.path[:1024],
        status=0,
        request_id=REQUEST_ID.get() or "",
        client_ip=request.remote,
        details={"idempotency_key": key} if key else None,
    )


async def _audit(request: web.Request, slot: AuditSlot) -> None:
    principal = request.get(api_keys.PRINCIPAL)
    entry = AuditEntry(
        occurred_at=request.config_dict[keys.CLOCK].now(),
        actor=principal.id if principal else "anonymous",
        method=slot.method,
        route=slot.route,
        path=slot.path,
        status=slot.status,
        request_id=slot.request_id,
        resource=request.get(api_keys.AUDIT_RESOURCE),
        client_ip=slot.client_ip,
        details=slot.details,
    )
    try:
        await request.config_dict[api_keys.AUDIT].record(entry)
    except Exception:  # the write itself is done; a lost audit line must be loud, not a 500
        logger.exception("could not write the audit log entry for %s %s", request.method, request.path)


def _deps(request: web.Request) -> api_keys.ApiDeps:
    return request[api_keys.REQUEST_DEPS]


def _policy(request: web.Request, kind: str) -> RatePolicy:
    return _deps(request).policies[kind]


def rate_policies(s: Settings) -> dict[str, RatePolicy]:
    """Built once at start (a policy validates itself when made)."""
    return {
        "ip": RatePolicy(rate=s.api_rate_per_ip, burst=s.api_burst_per_ip, name="per-ip"),
        "key": RatePolicy(rate=s.api_rate_per_key, burst=s.api_burst_per_key, name="per-key"),
    }


async def _spend(request: web.Request, key: str, policy: RatePolicy) -> None:
    decision = await _deps(request).limiter.hit(key, policy)
    request[DECISIONS].append(decision)
    if not decision.allowed:
        raise ProblemError(429, "rate-limited", detail=f"limit {policy.name}")


async def limit_by_ip(request: web.Request) -> None:
    await _spend(request, f"ip:{request.remote}", _policy(request, "ip"))


async def limit_by_key(request: web.Request) -> None:
    principal = request.get(api_keys.PRINCIPAL)
    if principal is not None:
        await _spend(request, principal.rate_key, _policy(request, "key"))


async def check_body(request: web.Request) -> None:
    limit = _deps(request).settings.api_max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ProblemError(413, "payload-too-large", detail=f"at most {limit} bytes")
    if request.method in WRITE_METHODS and request.can_read_body:
        kind = request.content_type
        if kind != "application/json" and not kind.endswith("+json"):
            raise ProblemError(415, "unsupported-media-type", detail=f"got {kind or 'no Content-Type'}")
        request._client_max_size = limit  # aiohttp reads this to refuse a longer chunked body


async def authenticate(request: web.Request) -> None:
    request[api_keys.PRINCIPAL] = None
    credential = _credential(request)
    if credential is not None:
        principal = await _principal(request, credential)
        request[api_keys.PRINCIPAL] = principal
        request[keys.ACTOR_ID] = principal.id


def _credential(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if header:
        raise ProblemError(401, "invalid-credentials", detail="use: Authorization: Bearer <API key or token>")
    return request.headers.get("X-API-Key") or None


async def _principal(request: web.Request, credential: str) -> Principal:
    if split_key(credential) is None:
        return await _token_principal(request, credential)
    record = await _key_record(request, credential)
    now = _deps(request).clock.now()
    if record is None or not record.active(now):
        raise ProblemError(401, "invalid-credentials", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if not record.admits(request.remote):
        raise ProblemError(403, "ip-not-allowed")
    return key_principal(record)


def key_principal(record: ApiKeyRecord) -> Principal:
    return Principal(
        id=f"apikey:{record.id}",
        name=record.name,
        scopes=frozenset(record.scopes),
        customer_ids=record.customer_ids,
        sandbox=record.sandbox,
        key_id=record.id,
        signing_secret=record.signing_secret,
    )


async def _key_record(request: web.Request, credential: str) -> ApiKeyRecord | None:
    """Verified keys are remembered for 30 s (by their hash), so a hot key costs no database read per request;
    a revocation takes effect within that time (at once in the process that revoked it)."""
    cache = _deps(request).key_cache
    fingerprint = digest(credential)
    loop_time = asyncio.get_running_loop().time()
    hit = cache.get(fingerprint)
    if hit is not None and hit[0] > loop_time:
        return hit[1]
    record: ApiKeyRecord | None = await _deps(request).keys.authenticate(credential)
    if record is not None:
        if len(cache) > 10_000:
            cache.clear()
        cache[fingerprint] = (loop_time + KEY_CACHE_SECONDS, record)
    return record


async def _token_principal(request: web.Request, token: str) -> Principal:
    try:
        claims = await request.config_dict[api_keys.TOKEN_VERIFIER].verify(
            token, now=request.config_dict[keys.CLOCK].now()
        )
    except IdentityProviderUnavailable as exc:  # our outage, not the client's fault
        raise ProblemError(503, "identity-provider-unavailable", headers={"Retry-After": "30"}) from exc
    except InvalidToken as exc:
        raise ProblemError(
            401,
            "invalid-credentials",
            detail=exc.reason,
            headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.reason}"'},
        ) from exc
    prefix = "oauth" if not claims.external else "idp"
    return Principal(
        id=f"{prefix}:{claims.subject}"[:255],
        name=claims.subject,
        scopes=claims.scopes,
        customer_ids=claims.customer_ids,
        key_id=claims.subject if not claims.external else None,
    )


STEPS: tuple[Callable[[web.Request], Awaitable[None]], ...] = (
    limit_by_ip,
    check_body,
    authenticate,
    verify_signature,
    limit_by_key,
)
MIDDLEWARES = [gateway]
