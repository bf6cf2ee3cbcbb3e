"""Operations: each REST endpoint declared once, with its models, scopes and behaviour; the same declaration
drives request validation, the response, the OpenAPI document and the gateway's per-operation steps.

A handler is ``async def handler(call: Call) -> Reply``: it gets validated parameters and body, the principal
and a command context, and returns a pydantic model. Everything HTTP-specific (problems, ETags, caching,
idempotency, audit, deprecation headers) happens around it in ``bot.api.pipeline``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel

from psa_chatops.bot import keys
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import CommandContext

if TYPE_CHECKING:
    from psa_chatops.bot.api.principal import Principal

Handler = Callable[["Call"], Awaitable["Reply"]]
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Call:
    request: web.Request
    principal: Principal
    context: CommandContext
    params: Any
    body: Any
    locale: str
    version: str

    @property
    def bus(self) -> MessageBus:
        return self.request.config_dict[keys.BUS]

    def now(self) -> datetime:
        return self.request.config_dict[keys.CLOCK].now()


@dataclass
class Reply:
    data: BaseModel | None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # a strong validator when the resource has a version; else one is hashed from the body
    resource: str | None = None  # "ticket:12345", for the audit log and cache tags
    cache_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # relative to the version root, e.g. "/tickets/{number}"
    operation_id: str
    summary: str
    tag: str
    handler: Handler
    scopes: tuple[str, ...] = ()
    params: type[BaseModel] | None = None  # path and query parameters (a field named in the path is a path param)
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    also: tuple[int, ...] = ()  # other success statuses with the same body (an alert: 201 new ticket, 200 duplicate)
    description: str = ""
    errors: tuple[int, ...] = ()
    cacheable: bool = False  # GET responses may be cached, keyed by principal, invalidated by ``Reply.cache_tags``
    if_match: bool = False  # honours If-Match (optimistic concurrency) on a write
    successor: str | None = None  # the path (with version) that replaces this operation: Deprecation + Sunset
    public: bool = False  # no authentication (sandbox tokens)

    @property
    def write(self) -> bool:
        return self.method in WRITE_METHODS

    @property
    def path_names(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{") and part.endswith("}")]


class Api:
    """One API version: its operations, in declaration order (the OpenAPI document keeps it)."""

    def __init__(self, version: str, *, title: str, description: str, beta: bool = False) -> None:
        self.version, self.title, self.description, self.beta = version, title, description, beta
        self.operations: list[Operation] = []

    def add(self, operation: Operation) -> Operation:
        if any(o.operation_id == operation.operation_id for o in self.operations):
            raise ValueError(f"duplicate operationId {operation.operation_id}")
        self.operations.append(operation)
        return operation

    def extend(self, operations: Iterable[Operation]) -> None:
        for operation in operations:
            self.add(operation)
