"""Root middlewares, transport-neutral because they run for every sub-app: request id, access log + metrics, and
errors as RFC 9457 problem+json (never a stack trace)."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from psa_chatops.bot import keys
from psa_chatops.bot.logs import REQUEST_ID
from psa_chatops.core.errors import DomainError
from psa_chatops.i18n import normalise_locale, translate

logger = logging.getLogger("psa_chatops.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
STATUS_OF_KIND = {
    "not_found": 404,
    "forbidden": 403,
    "invalid": 422,
    "conflict": 409,
    "concurrency": 409,
    "precondition": 412,
}


_RID_PREFIX, _rid_count = os.urandom(8).hex(), itertools.count(1)


def _request_id() -> str:
    """Unique and unguessable enough to correlate logs: a random per-process prefix and a counter (no syscall)."""
    return f"{_RID_PREFIX}{next(_rid_count):016x}"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id (echoed, or made), errors as problem+json, metrics and one structured log line per request: one
    middleware, since every request pays for each layer (a coroutine frame plus aiohttp's wrapper)."""
    incoming = request.headers.get("X-Request-Id", "")
    rid = incoming if incoming and _VALID_ID.match(incoming) else _request_id()
    token = REQUEST_ID.set(rid)
    started = time.perf_counter()
    status, sent = 500, 0
    try:
        response = await problem_json(request, handler)
        status = response.status
        sent = response.content_length or 0
        response.headers["X-Request-Id"] = rid
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        _account(request, status, sent, time.perf_counter() - started)
        REQUEST_ID.reset(token)


def _account(request: web.Request, status: int, sent: int, elapsed: float) -> None:
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    request.config_dict[keys.METRICS].observe_request(request.method, route, status, elapsed)
    logger.info(
        "%s %s %d",
        request.method,
        route,
        status,
        extra={
            "method": request.method,
            "route": route,
            "status": status,
            "latency_ms": round(elapsed * 1000, 2),
            "request_bytes": request.content_length or 0,
            "response_bytes": sent,
            "actor": request.get(keys.ACTOR_ID),
        },
    )


def problem(status: int, title: str, *, type_: str, detail: str | None = None) -> web.Response:
    body = {"type": f"https://psa-chatops.dev/problems/{type_}", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return web.json_response(body, status=status, content_type="application/problem+json")


def request_locale(request: web.Request) -> str:
    header = request.headers.get("Accept-Language", "").split(",")[0].split(";")[0].strip()
    return normalise_locale(header or None, request.config_dict[keys.SETTINGS].default_locale)


async def problem_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's response, or its error as RFC 9457 problem+json (never a stack trace)."""
    try:
        return await handler(request)
    except DomainError as exc:
        text = translate(exc.template, request_locale(request), **exc.params)
        return problem(STATUS_OF_KIND.get(exc.kind, 400), text, type_=exc.kind.replace("_", "-"))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(exc.status, exc.reason, type_=f"http-{exc.status}")
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        locale = request_locale(request)
        return problem(500, translate("Internal error; the request id is in the logs.", locale), type_="internal")
