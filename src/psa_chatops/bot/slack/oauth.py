"""Multi-workspace mode: with ``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET`` (and ``PSA_ENCRYPTION_KEY`` for the
stored tokens) Bolt runs the OAuth v2 install flow on ``GET /slack/install`` and ``GET /slack/oauth_redirect`` and
authorises each request with the workspace's installation from our database."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.settings import Settings
from psa_chatops.bot.slack.client import BOLT
from psa_chatops.handlers.ports import Clock
from psa_chatops.storage.slack_installations import MemoryStateStore, SqlInstallationStore
from psa_chatops.storage.sqlite_writer import SqliteWriter

logger = logging.getLogger(__name__)
BOT_SCOPES = (
    "commands",
    "chat:write",
    "users:read",
    "users:read.email",
    "links:read",
    "links:write",
    "channels:history",
    "groups:history",
    "app_mentions:read",
)
INSTALL_PATH, REDIRECT_PATH = "/slack/install", "/slack/oauth_redirect"


class FormAuthWebClient(AsyncWebClient):
    """slack-sdk sends the ``oauth.v2.access`` credentials with aiohttp's ``BasicAuth``, deprecated since aiohttp
    3.14 (a DeprecationWarning on every install); Slack accepts them as form fields just as well."""

    async def oauth_v2_access(
        self,
        *,
        client_id: str,
        client_secret: str,
        code: str | None = None,
        redirect_uri: str | None = None,
        grant_type: str | None = None,
        refresh_token: str | None = None,
        **kwargs: Any,
    ) -> AsyncSlackResponse:
        fields = {"client_id": client_id, "client_secret": client_secret, "code": code, "redirect_uri": redirect_uri}
        fields |= {"grant_type": grant_type, "refresh_token": refresh_token}
        data = {k: v for k, v in fields.items() if v is not None}
        return await self.api_call("oauth.v2.access", data={**data, **kwargs})


def is_enabled(settings: Settings) -> bool:
    return bool(settings.slack_client_id and settings.slack_client_secret and settings.encryption_key)


def bolt_options(settings: Settings, engine: AsyncEngine, writer: SqliteWriter | None, _clock: Clock) -> dict[str, Any]:
    """``AsyncApp`` keyword arguments for OAuth: the flow (its client honours ``SLACK_API_URL``) and the store."""
    key = settings.encryption_key.get_secret_value().encode() if settings.encryption_key else b""
    store = SqlInstallationStore(engine, key=key, writer=writer)
    secret = settings.slack_client_secret.get_secret_value() if settings.slack_client_secret else None
    oauth_settings = AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=secret,
        scopes=list(BOT_SCOPES),
        installation_store=store,
        installation_store_bot_only=True,
        state_store=MemoryStateStore(),
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        redirect_uri=settings.public_url.rstrip("/") + REDIRECT_PATH,
    )
    client = FormAuthWebClient(base_url=settings.slack_api_url) if settings.slack_api_url else FormAuthWebClient()
    flow = AsyncOAuthFlow(client=client, settings=oauth_settings)
    return {"oauth_flow": flow, "installation_store": store, "installation_store_bot_only": True}


async def install(request: web.Request) -> web.Response:
    return await _run(request, callback=False)


async def redirect(request: web.Request) -> web.Response:
    return await _run(request, callback=True)


async def _run(request: web.Request, *, callback: bool) -> web.Response:
    bolt = request.config_dict[BOLT]
    flow = bolt.oauth_flow if bolt is not None else None
    if flow is None:
        raise web.HTTPNotFound(text="Slack OAuth is not configured (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET)")
    bolt_request = await to_bolt_request(request)
    response = await (flow.handle_callback(bolt_request) if callback else flow.handle_installation(bolt_request))
    return await to_aiohttp_response(response)


def add_routes(app: web.Application, prefix: str = "/slack") -> None:
    app.router.add_get(f"{prefix}/install", install)
    app.router.add_get(f"{prefix}/oauth_redirect", redirect)
