"""A loopback fake of Microsoft Graph's calendar events and of the Microsoft Entra token endpoint, over TLS.

msal only accepts ``https`` authorities, so the fake serves HTTPS with a throw-away self-signed certificate for
127.0.0.1 (``FakeGraph.ca_file`` for msal/requests, ``FakeGraph.client_ssl`` for aiohttp).

Routes: ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (tenant discovery), ``POST
/{tenant}/oauth2/v2.0/token`` (client credentials; a wrong secret is ``invalid_client``), and under ``/v1.0``
``POST /users/{user}/events``, ``GET|PATCH|DELETE /users/{user}/events/{id}`` (the same for ``/groups/{group}``).
Events need a token the fake issued (``expire_tokens()`` makes them all invalid: 401). A create with a
``transactionId`` seen before answers the existing event, as Graph does. Failures: ``fail_next(n, status=429,
retry_after=2)``; ``down()`` / ``up()`` for an outage (503 without Retry-After).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import ssl
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pytest_aiohttp import AiohttpServer

TENANT = "contoso-tenant"
CLIENT_ID = "calendar-app"
CLIENT_SECRET = "calendar-secret"


@dataclass(frozen=True)
class GraphCall:
    method: str
    path: str
    body: dict[str, Any]
    authorization: str | None

    @property
    def kind(self) -> str:
        """openid | token | create | update | delete | get"""
        if self.path.endswith("openid-configuration"):
            return "openid"
        if self.path.endswith("/token"):
            return "token"
        return {"POST": "create", "PATCH": "update", "DELETE": "delete"}.get(self.method, "get")


@dataclass
class GraphState:
    calls: list[GraphCall] = field(default_factory=list)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # event id -> the event as last written
    owners: dict[str, str] = field(default_factory=dict)  # event id -> "users/<upn>" | "groups/<id>"
    tokens: set[str] = field(default_factory=set)
    transactions: dict[str, str] = field(default_factory=dict)  # transactionId -> event id
    is_down: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _failures: deque[tuple[int, str | None]] = field(default_factory=deque)

    def fail_next(self, n: int = 1, *, status: int = 429, retry_after: int | None = 2) -> None:
        self._failures.extend([(status, str(retry_after) if retry_after is not None else None)] * n)

    def down(self) -> None:
        self.is_down = True

    def up(self) -> None:
        self.is_down = False

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def of(self, kind: str) -> list[GraphCall]:
        return [c for c in self.calls if c.kind == kind]


GRAPH_STATE = web.AppKey("graph_state", GraphState)


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": "fake"}}, status=status, headers=headers)


async def _record(request: web.Request) -> tuple[GraphState, dict[str, Any]]:
    state = request.app[GRAPH_STATE]
    body: dict[str, Any] = {}
    if request.content_type == "application/json" and request.can_read_body:
        parsed = await request.json()
        body = parsed if isinstance(parsed, dict) else {}
    elif request.can_read_body:
        body = dict(await request.post())  # type: ignore[arg-type]
    state.calls.append(GraphCall(request.method, request.path, body, request.headers.get("Authorization")))
    return state, body


async def _openid(request: web.Request) -> web.Response:
    await _record(request)
    base = f"{request.url.origin()}/{request.match_info['tenant']}"
    return web.json_response(
        {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        }
    )


async def _token(request: web.Request) -> web.Response:
    state, form = await _record(request)
    if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
        return web.json_response({"error": "invalid_client", "error_description": "fake: bad secret"}, status=401)
    token = f"graph-token-{next(state._ids)}"
    state.tokens.add(token)
    return web.json_response({"token_type": "Bearer", "expires_in": 3599, "access_token": token})


def _failure(state: GraphState) -> web.Response | None:
    if state.is_down:
        return _error(503, "ServiceUnavailable")
    if not state._failures:
        return None
    status, retry_after = state._failures.popleft()
    return _error(
        status, "TooManyRequests" if status == 429 else "Failure", {"Retry-After": retry_after} if retry_after else {}
    )


async def _events(request: web.Request) -> web.Response:
    state, body = await _record(request)
    failed = _failure(state)
    if failed is not None:
        return failed
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in state.tokens:
        return _error(401, "InvalidAuthenticationToken")
    owner = f"{request.match_info['owner']}/{request.match_info['calendar']}"
    event_id = request.match_info.get("event")
    if event_id is None:
        if request.method != "POST":
            return web.json_response({"value": [e for i, e in state.events.items() if state.owners[i] == owner]})
        return _create(state, owner, body)
    if event_id not in state.events or state.owners[event_id] != owner:
        return _error(404, "ErrorItemNotFound")
    if request.method == "DELETE":
        del state.events[event_id]
        return web.Response(status=204)
    if request.method == "PATCH":
        state.events[event_id] = {**state.events[event_id], **body, "id": event_id}
    return web.json_response(state.events[event_id])


def _create(state: GraphState, owner: str, body: dict[str, Any]) -> web.Response:
    """A create; the same ``transactionId`` again answers the event booked the first time, as Graph does."""
    transaction = body.get("transactionId")
    existing = state.transactions.get(transaction) if transaction else None
    if existing in state.events:
        return web.json_response(state.events[existing], status=201)
    event_id = f"AAMkAG-{next(state._ids)}"
    state.events[event_id] = {**body, "id": event_id}
    state.owners[event_id] = owner
    if transaction:
        state.transactions[transaction] = event_id
    return web.json_response(state.events[event_id], status=201)


@dataclass
class FakeGraph:
    server: TestServer
    state: GraphState
    ca_file: Path
    client_ssl: ssl.SSLContext

    @property
    def authority_url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def api_url(self) -> str:
        return str(self.server.make_url("/v1.0"))


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "graph-cert.pem", folder / "graph-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def tls_files(folder: Path) -> tuple[Path, ssl.SSLContext, ssl.SSLContext]:
    """The certificate (the CA file clients trust), the server's context and a client context that trusts it.
    Call it from a synchronous fixture: it writes files."""
    cert_file, key_file = _certificate(folder)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return cert_file, server, client


async def start_fake_graph(
    aiohttp_server: AiohttpServer, tls: tuple[Path, ssl.SSLContext, ssl.SSLContext]
) -> FakeGraph:
    cert_file, server_ssl, client_ssl = tls
    app = web.Application()
    state = GraphState()
    app[GRAPH_STATE] = state
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", _openid)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", _token)
    app.router.add_route("*", "/v1.0/{owner:users|groups}/{calendar}/events", _events)
    app.router.add_route("*", "/v1.0/{owner:users|groups}/{calendar}/events/{event}", _events)
    server = await aiohttp_server(app, ssl=server_ssl)
    return FakeGraph(server, state, cert_file, client_ssl)
