"""aiohttp <-> Bolt, as Bolt's own aiohttp adapter does it (two small functions), plus the two answers Bolt does
not give: a malformed body is a 400 without a traceback, and a rejected signature leaves a log line.

Bolt verifies the signature (``X-Slack-Signature``, ``X-Slack-Request-Timestamp``, five-minute window) before any
listener runs; we never re-implement it.
"""

from __future__ import annotations

import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

logger = logging.getLogger(__name__)
MALFORMED = {"error": "malformed Slack payload"}


async def parse(request: web.Request) -> AsyncBoltRequest | None:
    """The Bolt request, or None when the body is not a Slack payload (bad JSON in ``payload=``, not an object)."""
    try:
        return await to_bolt_request(request)
    except (ValueError, AttributeError, TypeError):  # bad JSON; a list or string where an object belongs
        return None


async def dispatch(bolt: AsyncApp, request: web.Request) -> web.Response:
    bolt_request = await parse(request)
    if bolt_request is None:
        logger.warning("slack request rejected: malformed payload", extra={"path": request.path})
        return web.json_response(MALFORMED, status=400)
    bolt_response = await bolt.async_dispatch(bolt_request)
    if bolt_response.status == 401:
        logger.warning(
            "slack request rejected: bad or stale signature",
            extra={"timestamp": request.headers.get("X-Slack-Request-Timestamp")},
        )
    return await to_aiohttp_response(bolt_response)
