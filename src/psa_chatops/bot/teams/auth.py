"""Who may call ``POST /api/messages``, and where replies may go.

Inbound: the Bot Connector signs each request with a JWT (``Authorization: Bearer``). The sub-app's one
middleware, :func:`jwt_guard`, is the SDK's ``jwt_authorization_middleware`` with two changes: the configuration
sits under a typed ``AppKey`` (the SDK reads a string key), and the signing keys can come from a configured
OpenID metadata document (``PSA_TEAMS_OPENID_METADATA_URL``, its ``jwks_uri`` and ``issuer``). The SDK's
``JwtTokenValidator`` has no such setting: it derives a JWKS URL from the token's issuer (Bot Framework or
``login.microsoftonline.com/<tenant>``) and fetches it with PyJWKClient (urllib in a thread). Without the setting
that default stays; with it (tests, sovereign clouds, a proxy) keys are fetched here with aiohttp and cached.
The validator itself (signature, RS256, expiry with the SDK's 5-minute leeway, audience = ``TEAMS_APP_ID``) is
the SDK's; issuer validation is switched on (``VALIDATE_ISSUER``: Bot Framework's issuer, the tenant's Entra
issuers, and the metadata's issuer).

Anonymous requests pass only in sandbox mode with no app id (like the Bot Framework Emulator); then replies go
out without a token. With an app id but no password, inbound tokens are checked and replies are sent unsigned
(the Emulator again); with a password, MSAL (``MsalConnectionManager``) gets the outbound tokens.

Outbound: outside the sandbox the SDK's ``OutboundHostValidator`` is on: an activity whose ``serviceUrl`` is not
a Microsoft host (``*.botframework.com``, ``smba.trafficmanager.net``, ``teams.microsoft.com``, ...) is refused
with 401 before any reply could carry our token there, as is one whose token names another ``serviceurl``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from jwt import PyJWK, PyJWKError, PyJWTError
from microsoft_agents.activity import Activity
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.core import OutboundHostValidator, TurnContext
from microsoft_agents.hosting.core.authorization import (
    AccessTokenProviderBase,
    AgentAuthConfiguration,
    AnonymousTokenProvider,
    ClaimsIdentity,
    Connections,
)
from microsoft_agents.hosting.core.authorization.jwt import JwtTokenValidator
from microsoft_agents.hosting.core.connector.client import UserTokenClient
from microsoft_agents.hosting.core.rest_channel_service_client_factory import RestChannelServiceClientFactory

from psa_chatops.bot.settings import Settings

logger = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLAIMS: web.RequestKey[ClaimsIdentity] = web.RequestKey("teams_claims")
UNAUTHORIZED = {"error": "Invalid token or authentication failed."}
KEYS_TTL_SECONDS = 24 * 3600.0
SERVICE_CONNECTION = "SERVICE_CONNECTION"


def anonymous_allowed(settings: Settings) -> bool:
    return settings.sandbox and not settings.teams_app_id


def auth_configuration(settings: Settings, *, extra_issuers: list[str] | None = None) -> AgentAuthConfiguration:
    password = settings.teams_app_password.get_secret_value() if settings.teams_app_password else None

    def build(issuers: list[str] | None) -> AgentAuthConfiguration:
        return AgentAuthConfiguration(
            client_id=settings.teams_app_id,
            tenant_id=settings.teams_tenant_id,
            client_secret=password,
            connection_name=SERVICE_CONNECTION,
            anonymous_allowed=anonymous_allowed(settings),
            issuers=issuers,
            validate_issuer=True,
        )

    config = build(None)
    return build([*config.ISSUERS, *extra_issuers]) if extra_issuers else config


def host_validator(settings: Settings) -> OutboundHostValidator:
    """The SDK's allow-list of Microsoft hosts for ``serviceUrl``, on outside the sandbox."""
    return OutboundHostValidator(enabled=not settings.sandbox)


class UnsignedConnections(Connections):
    """Outbound calls without a token: the sandbox and an app id without password (the Emulator's setup)."""

    def __init__(self, configuration: AgentAuthConfiguration) -> None:
        self._configuration = configuration
        self._provider = AnonymousTokenProvider()

    def get_connection(self, connection_name: str) -> AccessTokenProviderBase:
        return self._provider

    def get_default_connection(self) -> AccessTokenProviderBase:
        return self._provider

    def get_token_provider(self, claims_identity: ClaimsIdentity, service_url: str) -> AccessTokenProviderBase:
        return self._provider

    def get_token_provider_from_activity(
        self, claims_identity: ClaimsIdentity, activity: Activity
    ) -> AccessTokenProviderBase:
        return self._provider

    def get_default_connection_configuration(self) -> AgentAuthConfiguration:
        return self._configuration


def connections(settings: Settings, configuration: AgentAuthConfiguration) -> Connections:
    if settings.teams_app_id and settings.teams_app_password:
        return MsalConnectionManager(connections_configurations={SERVICE_CONNECTION: configuration})
    return UnsignedConnections(configuration)


class ClientFactory(RestChannelServiceClientFactory):
    """The SDK's factory, except that the user-token client (user sign-in, OAuth cards) never asks for a token:
    the bot uses no user sign-in, and the SDK would otherwise fetch an AAD token on every turn for it (and fail
    the turn when replies are unsigned)."""

    async def create_user_token_client(
        self, context: TurnContext, claims_identity: ClaimsIdentity, use_anonymous: bool = False
    ) -> UserTokenClient:
        return await super().create_user_token_client(context, claims_identity, use_anonymous=True)


def client_factory(settings: Settings, configuration: AgentAuthConfiguration) -> ClientFactory:
    return ClientFactory(connections(settings, configuration))


@dataclass
class OpenIdKeys:
    """Signing keys named by an OpenID metadata document, fetched with aiohttp and cached (refetched once when a
    token names an unknown key id, at most once a minute)."""

    metadata_url: str
    http: aiohttp.ClientSession
    issuer: str | None = None
    _keys: dict[str, PyJWK] = field(default_factory=dict)
    _fetched: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def load(self) -> None:
        async with self.http.get(self.metadata_url, raise_for_status=True) as response:
            metadata = await response.json(content_type=None)
        self.issuer = str(metadata.get("issuer") or "") or None
        async with self.http.get(str(metadata["jwks_uri"]), raise_for_status=True) as response:
            jwks = await response.json(content_type=None)
        keys = {}
        for jwk in jwks.get("keys") or []:
            try:
                keys[str(jwk.get("kid"))] = PyJWK(jwk)
            except PyJWKError:
                continue  # a key type we cannot use (e.g. an encryption key); the others still work
        self._keys, self._fetched = keys, time.monotonic()

    async def ensure(self, kid: str | None = None) -> None:
        async with self._lock:
            stale = time.monotonic() - self._fetched
            if (
                not self._fetched
                or stale > KEYS_TTL_SECONDS
                or (kid is not None and kid not in self._keys and stale > 60)
            ):
                await self.load()

    async def get_signing_key(self, _jwks_uri: str, header: dict[str, Any]) -> PyJWK:
        kid = str(header.get("kid"))
        await self.ensure(kid)
        key = self._keys.get(kid)
        if key is None:
            raise PyJWKError(f"no signing key {kid!r}")
        return key


class Validator(JwtTokenValidator):
    """The SDK's validator, with its keys from :class:`OpenIdKeys` when one is configured."""

    def __init__(self, configuration: AgentAuthConfiguration, keys: OpenIdKeys | None) -> None:
        super().__init__(configuration)
        if keys is not None:
            self._jwk_client_manager = keys  # type: ignore[assignment]  # same get_signing_key(uri, header)


@dataclass
class TeamsAuth:
    settings: Settings
    keys: OpenIdKeys | None = None
    _configuration: AgentAuthConfiguration | None = None

    async def configuration(self) -> AgentAuthConfiguration:
        """Built once; with OpenID metadata, once it was read (its issuer joins the accepted ones)."""
        if self._configuration is None:
            if self.keys is not None:
                await self.keys.ensure()
            issuer = self.keys.issuer if self.keys else None
            self._configuration = auth_configuration(self.settings, extra_issuers=[issuer] if issuer else None)
        return self._configuration

    async def identify(self, header: str | None) -> ClaimsIdentity | None:
        """The caller's claims, an anonymous identity when allowed, or None (401)."""
        if header is None:
            return ClaimsIdentity() if anonymous_allowed(self.settings) else None
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
            return None
        try:
            return await Validator(await self.configuration(), self.keys).validate_token(token)
        except (PyJWTError, ValueError, KeyError, aiohttp.ClientError) as exc:
            logger.warning("teams request refused: %s", type(exc).__name__)
            return None


def build_auth(settings: Settings, http: aiohttp.ClientSession) -> TeamsAuth:
    """Keys named by ``PSA_TEAMS_OPENID_METADATA_URL`` load on the first token (a metadata outage must not stop
    the service from starting: Slack and the API do not need it)."""
    url = settings.teams_openid_metadata_url
    return TeamsAuth(settings, OpenIdKeys(url, http) if url else None)


TEAMS_AUTH = web.AppKey("teams_auth", TeamsAuth)


@web.middleware
async def jwt_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Only for the Teams sub-app: a valid Bot Connector token (or the anonymous sandbox), else 401."""
    identity = await request.config_dict[TEAMS_AUTH].identify(request.headers.get("Authorization"))
    if identity is None:
        return web.json_response(UNAUTHORIZED, status=401)
    request[CLAIMS] = identity
    return await handler(request)
