"""OAuth2 client credentials (RFC 6749 §4.4): an API key's id and the whole key buy a short-lived JWT with the
key's scopes (or fewer, when ``scope`` asks for fewer). The JWKS that verifies those tokens is public.

Errors here use OAuth2's own format (``{"error": "invalid_client"}``), which OAuth2 client libraries expect.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from psa_chatops.bot import keys
from psa_chatops.bot.api import keys as api_keys
from psa_chatops.bot.api.ratelimit import rate_limit_headers
from psa_chatops.bot.api.tokens import jwks_document

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": error, "error_description": description}, status=status, headers={**NO_STORE, **(headers or {})}
    )


async def token(request: web.Request) -> web.Response:
    deps = request.config_dict[api_keys.DEPS]  # the gateway's per-address bucket: one budget per client
    decision = await deps.limiter.hit(f"ip:{request.remote}", deps.policies["ip"])
    if not decision.allowed:
        return _error(429, "slow_down", "too many token requests", rate_limit_headers([decision]))
    if request.content_type != "application/x-www-form-urlencoded":
        return _error(400, "invalid_request", "send application/x-www-form-urlencoded")
    form = await request.post()
    if form.get("grant_type") != "client_credentials":
        return _error(400, "unsupported_grant_type", "only client_credentials is supported")
    client_id, secret = _client(request, form)
    if not client_id or not secret:
        return _error(401, "invalid_client", "client authentication failed", {"WWW-Authenticate": "Basic"})
    record = await request.config_dict[api_keys.API_KEYS].authenticate(secret)
    now = request.config_dict[keys.CLOCK].now()
    if record is None or record.id != client_id or not record.active(now):
        return _error(401, "invalid_client", "client authentication failed", {"WWW-Authenticate": "Basic"})
    if not record.admits(request.remote):
        return _error(403, "access_denied", "requests from this address are not allowed for this client")
    asked = str(form.get("scope") or "").split()
    if asked and not set(asked) <= set(record.scopes):
        return _error(
            400, "invalid_scope", f"not granted to this client: {' '.join(sorted(set(asked) - set(record.scopes)))}"
        )
    issued = request.config_dict[api_keys.TOKEN_ISSUER].issue(
        subject=record.id, scopes=asked or list(record.scopes), customer_ids=record.customer_ids, now=now
    )
    return web.json_response(issued.as_json(), headers=NO_STORE)


def _client(request: web.Request, form: Any) -> tuple[str | None, str | None]:
    """HTTP Basic (preferred by RFC 6749) or client_id / client_secret in the form."""
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        user, _, password = decoded.partition(":")
        return user or None, password or None
    client_id, secret = form.get("client_id"), form.get("client_secret")
    return (str(client_id) if client_id else None), (str(secret) if secret else None)


async def jwks(request: web.Request) -> web.Response:
    issuer = request.config_dict[api_keys.TOKEN_ISSUER]
    return web.json_response(jwks_document([issuer.key]), headers={"Cache-Control": "public, max-age=300"})
