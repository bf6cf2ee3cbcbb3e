"""``POST /api/messages`` authentication end to end: the SDK's validator with keys from a loopback OpenID
configuration and JWKS, anonymous requests only in the sandbox without app id, the outbound host allow-list,
and bad bodies answered 400 without a traceback."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pytest_aiohttp import AiohttpServer

from tests.fakes.bot_connector import FakeConnector
from tests.teams.conftest import Teams, activity

APP_ID = "00000000-0000-0000-0000-00000000a11c"
ISSUER = "https://api.botframework.com"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def openid(aiohttp_server: AiohttpServer) -> str:
    """A loopback OpenID configuration whose JWKS lists our signing key (as login.botframework.com does)."""
    jwk = {**json.loads(RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1", "use": "sig", "alg": "RS256"}

    async def metadata(request: web.Request) -> web.Response:
        jwks_uri = str(request.url.with_path("/keys"))
        return web.json_response(
            {"issuer": ISSUER, "jwks_uri": jwks_uri, "id_token_signing_alg_values_supported": ["RS256"]}
        )

    async def keys(_request: web.Request) -> web.Response:
        return web.json_response({"keys": [jwk]})

    app = web.Application()
    app.router.add_get("/v1/.well-known/openidconfiguration", metadata)
    app.router.add_get("/keys", keys)
    server = await aiohttp_server(app)
    return str(server.make_url("/v1/.well-known/openidconfiguration"))


def token(*, aud: str = APP_ID, iss: str = ISSUER, expires_in: int = 3600, key: Any = KEY, **claims: Any) -> str:
    now = int(time.time())
    body = {"aud": aud, "iss": iss, "iat": now - 10, "nbf": now - 10, "exp": now + expires_in, **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
async def secured(make_teams: Callable[..., Any], openid: str) -> Teams:
    made: Teams = await make_teams(teams_app_id=APP_ID, teams_openid_metadata_url=openid)
    return made


async def test_a_valid_token_is_accepted(secured: Teams, connector: FakeConnector) -> None:
    response = await secured.post(activity(connector, text="help"), headers={"Authorization": f"Bearer {token()}"})
    assert response.status in (200, 202)
    assert connector.state.of("reply")


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing"),
        pytest.param(lambda: f"Bearer {token(aud='someone-else')}", id="wrong-audience"),
        pytest.param(lambda: f"Bearer {token(iss='https://evil.example')}", id="wrong-issuer"),
        pytest.param(lambda: f"Bearer {token(expires_in=-3600)}", id="expired"),
        pytest.param(lambda: f"Bearer {token(key=OTHER_KEY)}", id="wrong-key"),
        pytest.param(lambda: "Basic abc", id="not-bearer"),
        pytest.param(lambda: "Bearer not.a.jwt", id="garbage"),
    ],
)
async def test_bad_or_missing_tokens_are_refused(
    secured: Teams, connector: FakeConnector, authorization: Callable[[], str] | None
) -> None:
    headers = {"Authorization": authorization()} if authorization else {}
    response = await secured.post(activity(connector, text="help"), headers=headers)
    assert response.status == 401
    assert "Traceback" not in await response.text()
    assert not connector.state.calls


async def test_anonymous_only_in_the_sandbox_without_app_id(
    make_teams: Callable[..., Any], connector: FakeConnector
) -> None:
    sandbox = await make_teams()
    assert (await sandbox.post(activity(connector, text="help"))).status in (200, 202)
    production = await make_teams(sandbox=False, teams_app_id=APP_ID)
    assert (await production.post(activity(connector, text="help"))).status == 401


async def test_not_configured_without_app_id_outside_the_sandbox(
    make_teams: Callable[..., Any], connector: FakeConnector
) -> None:
    teams = await make_teams(sandbox=False)
    assert (await teams.post(activity(connector, text="help"))).status == 503


async def test_service_url_outside_microsoft_is_refused_in_production(
    make_teams: Callable[..., Any], openid: str, connector: FakeConnector
) -> None:
    teams = await make_teams(sandbox=False, teams_app_id=APP_ID, teams_openid_metadata_url=openid)
    headers = {"Authorization": f"Bearer {token()}"}
    response = await teams.post(activity(connector, text="help"), headers=headers)
    assert response.status == 401
    assert not connector.state.calls
    microsoft = activity(
        connector, kind="installationUpdate", action="add", serviceUrl="https://smba.trafficmanager.net/emea/"
    )
    assert (await teams.post(microsoft, headers=headers)).status in (200, 202)


@pytest.mark.parametrize(
    "body",
    ["{not json", "[]", json.dumps({"type": "message"}), json.dumps({"type": 5, "conversation": {"id": "x"}})],
)
async def test_malformed_activities_are_400_without_traceback(teams: Teams, body: str) -> None:
    response = await teams.post(body)
    assert response.status == 400
    assert "Traceback" not in await response.text()


async def test_other_routes_never_see_the_teams_guard(teams: Teams) -> None:
    assert (await teams.client.get("/healthz")).status == 200
    assert (await teams.client.get("/api/v1/openapi.json")).status == 200
