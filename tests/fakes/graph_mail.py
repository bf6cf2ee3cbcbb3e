"""A loopback fake of Microsoft Graph mail for one tenant, over TLS: the Entra token endpoint (shared with
``tests.fakes.graph``), the inbox's delta query, a message's MIME (``$value``), and marking (PATCH categories,
move, delete).

Delta: the first call lists the inbox in pages of ``page_size`` (``@odata.nextLink`` with ``$skiptoken``) and
ends with ``@odata.deltaLink`` (``$deltatoken=<sequence>``); a call with a delta token answers what changed since:
messages still in the inbox as items, messages moved away or deleted as ``{"id", "@removed": {...}}``, as Graph
does. Every change (new, PATCH, move, delete) bumps the sequence. Calls need a token the fake issued.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pytest_aiohttp import AiohttpServer

from tests.fakes.graph import CLIENT_ID, CLIENT_SECRET, GRAPH_STATE, TENANT, FakeGraph, GraphState, _openid, _token

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "TENANT", "FakeGraphMail", "MailState", "start_fake_graph_mail"]


@dataclass
class Message:
    id: str
    mime: bytes
    folder: str = "inbox"
    categories: list[str] = field(default_factory=list)
    is_read: bool = False
    changed: int = 0

    def item(self) -> dict[str, Any]:
        return {"id": self.id, "categories": list(self.categories), "isRead": self.is_read}


@dataclass
class MailState:
    messages: dict[str, Message] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=lambda: {"inbox": "inbox"})  # id -> display name
    removed: dict[str, int] = field(default_factory=dict)  # id -> sequence when it left the inbox
    sequence: int = 0
    page_size: int = 2
    calls: list[tuple[str, str]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def deliver(self, mime: bytes) -> str:
        self.sequence += 1
        message = Message(f"AAMkMsg-{next(self._ids)}", mime, changed=self.sequence)
        self.messages[message.id] = message
        return message.id

    def in_folder(self, name: str) -> list[Message]:
        ids = [i for i, n in self.folders.items() if n.lower() == name.lower()] + [name]
        return [m for m in self.messages.values() if m.folder in ids]

    def touch(self, message: Message) -> None:
        self.sequence += 1
        message.changed = self.sequence


MAIL_STATE = web.AppKey("mail_state", MailState)


def _authorised(request: web.Request) -> bool:
    auth = request.headers.get("Authorization", "")
    return auth.startswith("Bearer ") and auth.removeprefix("Bearer ") in request.app[GRAPH_STATE].tokens


def _mail_route(handler: Any) -> Any:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        state = request.app[MAIL_STATE]
        state.calls.append((request.method, request.path_qs))
        if not _authorised(request):
            return web.json_response({"error": {"code": "InvalidAuthenticationToken"}}, status=401)
        result: web.StreamResponse = await handler(request, state)
        return result

    return wrapped


async def _inbox(request: web.Request, state: MailState) -> web.Response:
    return web.json_response({"id": "inbox", "displayName": "Inbox"})


async def _delta(request: web.Request, state: MailState) -> web.Response:
    base = str(request.url.with_query(None))
    token = request.query.get("$deltatoken")
    if token is not None:
        since = int(token)
        items = [m.item() for m in state.in_folder("inbox") if m.changed > since]
        items += [{"id": i, "@removed": {"reason": "deleted"}} for i, at in state.removed.items() if at > since]
        return web.json_response({"value": items, "@odata.deltaLink": f"{base}?$deltatoken={state.sequence}"})
    inbox = sorted(state.in_folder("inbox"), key=lambda m: m.changed)
    skip = int(request.query.get("$skiptoken", "0"))
    page = inbox[skip : skip + state.page_size]
    body: dict[str, Any] = {"value": [m.item() for m in page]}
    if skip + state.page_size < len(inbox):
        body["@odata.nextLink"] = f"{base}?$skiptoken={skip + state.page_size}"
    else:
        body["@odata.deltaLink"] = f"{base}?$deltatoken={state.sequence}"
    return web.json_response(body)


async def _message(request: web.Request, state: MailState) -> web.StreamResponse:
    message = state.messages.get(request.match_info["id"])
    if message is None:
        return web.json_response({"error": {"code": "ErrorItemNotFound"}}, status=404)
    if request.method == "DELETE":
        del state.messages[message.id]
        state.sequence += 1
        state.removed[message.id] = state.sequence
        return web.Response(status=204)
    if request.method == "PATCH":
        body = await request.json()
        message.categories = list(body.get("categories", message.categories))
        message.is_read = bool(body.get("isRead", message.is_read))
        state.touch(message)
    return web.json_response(message.item())


async def _value(request: web.Request, state: MailState) -> web.Response:
    message = state.messages.get(request.match_info["id"])
    if message is None:
        return web.json_response({"error": {"code": "ErrorItemNotFound"}}, status=404)
    return web.Response(body=message.mime, content_type="text/plain")


async def _move(request: web.Request, state: MailState) -> web.Response:
    message = state.messages.get(request.match_info["id"])
    if message is None:
        return web.json_response({"error": {"code": "ErrorItemNotFound"}}, status=404)
    destination = (await request.json()).get("destinationId")
    if destination not in state.folders and destination not in ("archive", "deleteditems"):
        return web.json_response({"error": {"code": "ErrorInvalidIdMalformed"}}, status=400)
    message.folder = destination
    state.sequence += 1
    state.removed[message.id] = state.sequence
    return web.json_response(message.item(), status=201)


async def _folders(request: web.Request, state: MailState) -> web.Response:
    if request.method == "POST":
        name = (await request.json())["displayName"]
        folder_id = f"folder-{next(state._ids)}"
        state.folders[folder_id] = name
        return web.json_response({"id": folder_id, "displayName": name}, status=201)
    wanted = request.query.get("$filter", "")
    found = [{"id": i, "displayName": n} for i, n in state.folders.items() if f"'{n}'" in wanted]
    return web.json_response({"value": found})


@dataclass
class FakeGraphMail:
    graph: FakeGraph
    state: MailState

    @property
    def authority_url(self) -> str:
        return self.graph.authority_url

    @property
    def api_url(self) -> str:
        return self.graph.api_url

    @property
    def ca_file(self) -> str:
        return str(self.graph.ca_file)


async def start_fake_graph_mail(aiohttp_server: AiohttpServer, tls: Any) -> FakeGraphMail:
    cert_file, server_ssl, client_ssl = tls
    app = web.Application()
    tokens, state = GraphState(), MailState()
    app[GRAPH_STATE], app[MAIL_STATE] = tokens, state
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", _openid)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", _token)
    user = "/v1.0/users/{user}"
    app.router.add_get(f"{user}/mailFolders/inbox", _mail_route(_inbox))
    app.router.add_get(f"{user}/mailFolders/inbox/messages/delta", _mail_route(_delta))
    app.router.add_route("*", f"{user}/mailFolders", _mail_route(_folders))
    app.router.add_get(f"{user}/messages/{{id}}/$value", _mail_route(_value))
    app.router.add_post(f"{user}/messages/{{id}}/move", _mail_route(_move))
    app.router.add_route("*", f"{user}/messages/{{id}}", _mail_route(_message))
    server = await aiohttp_server(app, ssl=server_ssl)
    return FakeGraphMail(FakeGraph(server, tokens, cert_file, client_ssl), state)
