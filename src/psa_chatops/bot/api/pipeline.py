"""Turns an ``Operation`` into an aiohttp handler, in this order: scopes, parameters, idempotency (POST),
cache lookup (GET), the handler, ETag / If-None-Match, cache store, deprecation headers.

Authentication, rate limits, body limits and problem rendering run before this as the API's middlewares
(``bot.api.gateway``); they are the same for every operation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from psa_chatops.bot import keys
from psa_chatops.bot.api import keys as api_keys
from psa_chatops.bot.api.operations import Call, Operation, Reply
from psa_chatops.bot.api.principal import Principal
from psa_chatops.bot.api.problems import ProblemError
from psa_chatops.bot.api.response_cache import CachedResponse, cache_key
from psa_chatops.bot.bootstrap import new_context
from psa_chatops.bot.logs import REQUEST_ID
from psa_chatops.bot.middlewares import request_locale

JSON = "application/json"
DEPRECATED_ON = datetime(2026, 12, 1, tzinfo=UTC)  # v2 beta published; v1 routes it replaces are deprecated
SUNSET_ON = datetime(2027, 6, 1, tzinfo=UTC)  # six months later (README: support policy)
DEPRECATION = f"@{int(DEPRECATED_ON.timestamp())}"  # RFC 9745
SUNSET = format_datetime(SUNSET_ON, usegmt=True)  # RFC 8594
CACHE_TTL_SECONDS = 30.0
AiohttpHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def aiohttp_handler(op: Operation, version: str) -> AiohttpHandler:
    async def handle(request: web.Request) -> web.StreamResponse:
        principal = _authorised(op, request)
        locale = request_locale(request)
        key = _cache_key(op, version, request, principal, locale)
        if key is not None:  # a hit was produced from these very parameters: no need to validate them again
            cached = await request[api_keys.REQUEST_DEPS].cache.get(key)
            if cached is not None:
                return _deprecate(op, version, request, _conditional(request, _from_cache(cached), hit=True))
        params = _bind_params(op, request)
        raw = await request.read() if op.body else b""
        idempotency = await _reserve(op, request, principal, raw)
        if isinstance(idempotency, web.Response):
            return _deprecate(op, version, request, idempotency)
        try:
            response = await _respond(op, version, request, principal, params, raw, key, locale)
            response = _deprecate(op, version, request, response)
        except BaseException:
            if idempotency is not None:
                await request[api_keys.REQUEST_DEPS].idempotency.release(*idempotency)
            raise
        if idempotency is not None:
            await _complete(request, idempotency, response)
        return response

    handle.__name__ = op.operation_id
    return handle


async def _respond(
    op: Operation,
    version: str,
    request: web.Request,
    principal: Principal,
    params: Any,
    raw: bytes,
    key: str | None,
    locale: str,
) -> web.Response:
    body = _bind_body(op, raw)
    actor = principal.actor(locale)
    slot = request.get(api_keys.AUDIT_SLOT)
    if slot is not None:
        slot.status = op.status  # what the audit line says if a command commits it with the change
    context = new_context(actor, correlation_id=REQUEST_ID.get(), audit=slot)
    call = Call(request, principal, context, params, body, locale, version)
    reply = await op.handler(call)
    response = _render(op, reply)
    if key is not None and response.status == 200 and reply.cache_tags:
        await request[api_keys.REQUEST_DEPS].cache.put(
            key, _to_cache(response), tags=reply.cache_tags, ttl=CACHE_TTL_SECONDS
        )
    request[api_keys.AUDIT_RESOURCE] = reply.resource
    return _conditional(request, response, hit=False) if op.method == "GET" else response


ANONYMOUS = Principal(id="anonymous", name="anonymous", scopes=frozenset())


def _authorised(op: Operation, request: web.Request) -> Principal:
    principal: Principal | None = request.get(api_keys.PRINCIPAL)
    if principal is None and op.public:  # no credentials needed (sandbox tokens); one sent is still verified
        return ANONYMOUS
    if principal is None:
        raise ProblemError(401, "unauthorized", headers={"WWW-Authenticate": 'Bearer realm="psa-chatops"'})
    missing = principal.missing(op.scopes)
    if missing:
        raise ProblemError(
            403,
            "insufficient-scope",
            detail=f"missing: {', '.join(missing)}",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{" ".join(op.scopes)}"'},
        )
    return principal


def _errors(exc: ValidationError, where: str) -> list[dict[str, Any]]:
    return [
        {"loc": ".".join([where, *(str(p) for p in e["loc"])]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _bind_params(op: Operation, request: web.Request) -> Any:
    if op.params is None:
        return None
    values: dict[str, Any] = {}
    for name in request.query:
        items = request.query.getall(name)
        values[name] = items if len(items) > 1 else items[0]
    values.update(request.match_info)
    try:
        return op.params.model_validate(values)
    except ValidationError as exc:
        raise ProblemError(400, "invalid-parameter", errors=_errors(exc, "query")) from exc


def _bind_body(op: Operation, raw: bytes) -> Any:
    if op.body is None:
        return None
    try:
        document = json.loads(raw or b"null")
    except ValueError as exc:
        raise ProblemError(400, "malformed-json", detail=str(exc)) from exc
    try:
        return op.body.model_validate(document)
    except ValidationError as exc:
        raise ProblemError(422, "validation-error", errors=_errors(exc, "body")) from exc


def _render(op: Operation, reply: Reply) -> web.Response:
    status = reply.status or op.status
    if reply.data is None:
        response = web.Response(status=status, headers=reply.headers)
    else:
        body = _dump(reply.data)
        response = web.Response(status=status, body=body, content_type=JSON, headers=reply.headers)
        response.headers["ETag"] = reply.etag or _hash_etag(body)
    return response


def _dump(data: BaseModel) -> bytes:
    return data.model_dump_json(by_alias=True).encode()


def _hash_etag(body: bytes) -> str:
    return f'W/"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def _conditional(request: web.Request, response: web.Response, *, hit: bool) -> web.Response:
    response.headers["X-Cache"] = "hit" if hit else "miss"
    etag = response.headers.get("ETag")
    wanted = request.headers.get("If-None-Match")
    if etag and wanted and _etag_matches(wanted, etag):
        return web.Response(status=304, headers={"ETag": etag, "X-Cache": response.headers["X-Cache"]})
    return response


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): ``W/"x"`` matches ``"x"``."""
    if header.strip() == "*":
        return True
    strip = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == strip for candidate in header.split(","))


def _deprecate(op: Operation, version: str, request: web.Request, response: web.Response) -> web.Response:
    """RFC 9745 ``Deprecation``, RFC 8594 ``Sunset`` and a ``successor-version`` link to the same resource in the
    version that replaces this operation."""
    if op.successor:
        successor = op.successor + request.path.removeprefix(f"/api/{version}")
        response.headers["Deprecation"] = DEPRECATION
        response.headers["Sunset"] = SUNSET
        response.headers.add("Link", f'<{successor}>; rel="successor-version"')
    return response


def _cache_key(op: Operation, version: str, request: web.Request, principal: Principal, locale: str) -> str | None:
    if not (op.cacheable and op.method == "GET") or "no-cache" in request.headers.get("Cache-Control", ""):
        return None
    return cache_key(
        version=version, principal_key=principal.id, path=request.path, query=request.query_string, locale=locale
    )


def _to_cache(response: web.Response) -> CachedResponse:
    headers = tuple((k, v) for k, v in response.headers.items() if k in ("Content-Type", "ETag", "Link"))
    body = response.body if isinstance(response.body, bytes) else b""
    return CachedResponse(status=response.status, body=body, headers=headers, stored_at=0.0)


def _from_cache(cached: CachedResponse) -> web.Response:
    response = web.Response(status=cached.status, body=cached.body)
    for name, value in cached.headers:
        response.headers.add(name, value)
    return response


# --- idempotency --------------------------------------------------------------------------------------------------

MAX_KEY_LENGTH = 255


async def _reserve(
    op: Operation, request: web.Request, principal: Principal, raw: bytes
) -> tuple[str, str] | web.Response | None:
    key = request.headers.get("Idempotency-Key")
    if op.method != "POST" or key is None or op.public:  # anonymous callers share no identity to scope keys by
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable() or key[0] == " ":
        raise ProblemError(400, "invalid-parameter", detail="Idempotency-Key: 1 to 255 printable characters")
    scope = principal.id[:64]
    digest = hashlib.sha256(b"%s %s\n%s" % (op.method.encode(), request.path.encode(), raw)).hexdigest()
    store = request[api_keys.REQUEST_DEPS].idempotency
    reservation = await store.reserve(scope, key, digest, now=request.config_dict[keys.CLOCK].now())
    if reservation.outcome == "mismatch":
        raise ProblemError(422, "idempotency-key-reused")
    if reservation.outcome == "in_progress":
        raise ProblemError(409, "idempotency-key-in-use", headers={"Retry-After": "1"})
    if reservation.outcome == "replay" and reservation.response is not None:
        return _replayed(reservation.response)
    return scope, key


def _replayed(stored: dict[str, Any]) -> web.Response:
    response = web.Response(status=int(stored["status"]), body=stored["body"].encode())
    for name, value in stored["headers"]:
        response.headers.add(name, value)
    response.headers["Idempotent-Replayed"] = "true"
    return response


async def _complete(request: web.Request, reservation: tuple[str, str], response: web.Response) -> None:
    store = request[api_keys.REQUEST_DEPS].idempotency
    if response.status >= 500 or response.status in (409, 429):  # worth retrying: do not pin this answer
        await store.release(*reservation)
        return
    body = response.body if isinstance(response.body, bytes) else b""
    kept = ("Content-Type", "ETag", "Location")
    stored = {
        "status": response.status,
        "headers": [(k, v) for k, v in response.headers.items() if k in kept],
        "body": body.decode(),
    }
    await store.complete(*reservation, stored)
