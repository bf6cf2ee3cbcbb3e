"""A loopback fake of Microsoft Graph ``sendMail`` (MIME form) with the Entra token endpoint, over TLS.

``POST /v1.0/users/{user}/sendMail`` takes the base64-encoded MIME message as ``text/plain`` and answers 202,
as Graph does; a JSON body or bad base64 is 400 ``ErrorMimeContentInvalidBase64String``, a token the fake did not
issue 401. Sent messages are kept parsed per mailbox (``FakeSendMail.sent``). Failures: ``fail_next(n, status,
retry_after)``; ``down()`` answers 503. The token and discovery routes are those of ``tests.fakes.graph``.
"""

from __future__ import annotations

import base64
import binascii
import ssl
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from tests.fakes.graph import GRAPH_STATE, GraphState, _error, _failure, _openid, _token


@dataclass
class SendMailState:
    sent: list[tuple[str, EmailMessage]] = field(default_factory=list)  # (mailbox, message)


SENDMAIL_STATE = web.AppKey("sendmail_state", SendMailState)


async def _send_mail(request: web.Request) -> web.Response:
    graph, state = request.app[GRAPH_STATE], request.app[SENDMAIL_STATE]
    failed = _failure(graph)
    if failed is not None:
        return failed
    auth = request.headers.get("Authorization", "")
    if auth.removeprefix("Bearer ") not in graph.tokens:
        return _error(401, "InvalidAuthenticationToken")
    if request.content_type != "text/plain":
        return _error(400, "ErrorInvalidRequest")
    try:
        raw = base64.b64decode(await request.read(), validate=True)
    except (binascii.Error, ValueError):
        return _error(400, "ErrorMimeContentInvalidBase64String")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if not message["To"]:
        return _error(400, "ErrorMimeContentInvalid")
    state.sent.append((request.match_info["user"], message))
    return web.Response(status=202)


@dataclass
class FakeSendMail:
    server: TestServer
    graph: GraphState
    state: SendMailState
    ca_file: Path
    client_ssl: ssl.SSLContext

    @property
    def authority_url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def api_url(self) -> str:
        return str(self.server.make_url("/v1.0"))


async def start_fake_sendmail(
    aiohttp_server: AiohttpServer, tls: tuple[Path, ssl.SSLContext, ssl.SSLContext]
) -> FakeSendMail:
    cert_file, server_ssl, client_ssl = tls
    app = web.Application()
    graph, state = GraphState(), SendMailState()
    app[GRAPH_STATE], app[SENDMAIL_STATE] = graph, state
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", _openid)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", _token)
    app.router.add_post("/v1.0/users/{user}/sendMail", _send_mail)
    server = await aiohttp_server(app, ssl=server_ssl)
    return FakeSendMail(server, graph, state, cert_file, client_ssl)
