"""``/psa`` text -> one small frozen request object. Pure: no I/O, so every grammar rule is unit-tested.

Bad arguments raise ``InvalidError`` whose template is a catalog msgid, so the reply is in the user's language.
An unknown subcommand is not an error: it becomes ``Unknown`` with the closest known name (difflib), and the
listener answers with the help text.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from psa_chatops.core.errors import N_, InvalidError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category
from psa_chatops.core.tickets_state import Status

SUBCOMMANDS = (
    *("help", "ticket", "alert", "mine", "queue", "search", "sla"),
    *("assign", "note", "close", "link", "subscribe", "unsubscribe"),
)
MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
EVENT_ALIASES: dict[str, Category] = {}  # other words for a category (none today: "alert" is a category itself)
ALERT_USAGE = "/psa alert <provider>/<alert id> | /psa alert 12345"


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Unknown:
    word: str
    suggestion: str | None


@dataclass(frozen=True)
class ShowTicket:
    number: int


@dataclass(frozen=True)
class ShowAlert:
    """One alert by its provider and id (``sentinelone/1789``), or the alerts filed on a ticket (``12345``)."""

    provider: str | None = None
    alert_id: str | None = None
    number: int | None = None


@dataclass(frozen=True)
class NewTicket:
    title: str = ""


@dataclass(frozen=True)
class Mine:
    pass


@dataclass(frozen=True)
class Queue:
    customer: str | None = None
    status: Status | None = None


@dataclass(frozen=True)
class Search:
    text: str


@dataclass(frozen=True)
class Sla:
    pass


@dataclass(frozen=True)
class Assign:
    number: int
    user_id: str


@dataclass(frozen=True)
class Note:
    number: int
    body: str
    public: bool = False


@dataclass(frozen=True)
class Close:
    number: int
    resolution: str = ""


@dataclass(frozen=True)
class Link:
    pass


@dataclass(frozen=True)
class Subscribe:
    customer: str | None = None
    min_priority: Priority | None = None
    categories: frozenset[Category] = frozenset(Category)


@dataclass(frozen=True)
class Unsubscribe:
    pass


Request = (
    Help
    | Unknown
    | ShowTicket
    | ShowAlert
    | NewTicket
    | Mine
    | Queue
    | Search
    | Sla
    | Assign
    | Note
    | Close
    | Link
    | Subscribe
    | Unsubscribe
)


def parse(text: str) -> Request:
    """The request a ``/psa`` text asks for."""
    word, _, rest = text.strip().partition(" ")
    name = word.lower()
    if name in ("", "help", "?"):
        return Help()
    parser = _PARSERS.get(name)
    if parser is None:
        return Unknown(word, suggest(name))
    return parser(rest.strip())


def suggest(word: str) -> str | None:
    found = difflib.get_close_matches(word, SUBCOMMANDS, n=1, cutoff=0.5)
    return found[0] if found else None


def ticket_number(token: str) -> int:
    cleaned = token.removeprefix("#")
    if not cleaned.isdigit() or len(cleaned) > 12:
        raise InvalidError(N_("“{value}” is not a ticket number, e.g. 12345."), value=token)
    return int(cleaned)


def _first(rest: str, usage: str) -> tuple[str, str]:
    token, _, tail = rest.partition(" ")
    if not token:
        raise InvalidError(N_("Missing arguments. Usage: {usage}"), usage=usage)
    return token, tail.strip()


def _ticket(rest: str) -> Request:
    token, tail = _first(rest, "/psa ticket 12345 | /psa ticket new [title]")
    if token.lower() == "new":
        return NewTicket(tail)
    return ShowTicket(ticket_number(token))


def _alert(rest: str) -> Request:
    """``<provider>/<alert id>`` (the id may hold slashes itself) or a ticket number."""
    token, tail = _first(rest, ALERT_USAGE)
    if tail:
        raise InvalidError(N_("Usage: {usage}"), usage=ALERT_USAGE)
    provider, slash, alert_id = token.partition("/")
    if slash:
        if not provider or not alert_id or len(provider) > 64 or len(alert_id) > 255:
            raise InvalidError(N_("“{value}” names no alert. Usage: {usage}"), value=token, usage=ALERT_USAGE)
        return ShowAlert(provider=provider.lower(), alert_id=alert_id)
    return ShowAlert(number=ticket_number(token))


def _no_args(request: Request) -> Callable[[str], Request]:
    def parse_none(rest: str) -> Request:
        if rest:
            raise InvalidError(N_("This command takes no arguments: {extra}"), extra=rest)
        return request

    return parse_none


def _queue(rest: str) -> Request:
    customer: str | None = None
    status: Status | None = None
    for token in rest.split():
        if token.lower() in Status._value2member_map_:
            status = Status(token.lower())
        elif customer is None:
            customer = token
        else:
            raise InvalidError(N_("Usage: {usage}"), usage="/psa queue [customer] [status]")
    return Queue(customer, status)


def _search(rest: str) -> Request:
    if not rest:
        raise InvalidError(N_("Missing arguments. Usage: {usage}"), usage="/psa search <text>")
    return Search(rest)


def _assign(rest: str) -> Request:
    token, tail = _first(rest, "/psa assign 12345 @user")
    match = MENTION.match(tail)
    if match is None:
        raise InvalidError(N_("Mention the technician to assign, e.g. {example}."), example="/psa assign 12345 @alice")
    return Assign(ticket_number(token), match.group(1))


def _note(rest: str) -> Request:
    token, tail = _first(rest, "/psa note 12345 [--public] <text>")
    words = tail.split(" ")
    public = "--public" in words
    body = " ".join(w for w in words if w not in ("--public", "--internal")).strip()
    if not body:
        raise InvalidError(N_("The note is empty. Usage: {usage}"), usage="/psa note 12345 [--public] <text>")
    return Note(ticket_number(token), body, public)


def _close(rest: str) -> Request:
    token, tail = _first(rest, "/psa close 12345 [resolution]")
    return Close(ticket_number(token), tail)


def _subscribe(rest: str) -> Request:
    values: dict[str, str] = {}
    for token in rest.split():
        key, value = _option(token)
        values[key] = value
    return Subscribe(
        customer=values.get("customer"),
        min_priority=_priority(values["priority"]) if "priority" in values else None,
        categories=_categories(values["events"]) if "events" in values else frozenset(Category),
    )


def _option(token: str) -> tuple[str, str]:
    match = re.fullmatch(r"(customer|priority|events)(=|>=)(.+)", token, flags=re.IGNORECASE)
    if match is None:
        raise InvalidError(
            N_("Unknown option “{value}”. Usage: {usage}"),
            value=token,
            usage="/psa subscribe [customer=CUST-1] [priority>=high] [events=new,sla,escalation,alert]",
        )
    return match.group(1).lower(), match.group(3)


def _priority(value: str) -> Priority:
    try:
        return Priority(value.lower())
    except ValueError:
        raise InvalidError(
            N_("Unknown priority “{value}”; use one of: {choices}."), value=value, choices=", ".join(Priority)
        ) from None


def _categories(value: str) -> frozenset[Category]:
    found: set[Category] = set()
    for name in filter(None, value.lower().split(",")):
        if name in EVENT_ALIASES:
            found.add(EVENT_ALIASES[name])
        elif name in Category._value2member_map_:
            found.add(Category(name))
        else:
            choices = ", ".join([*Category, *EVENT_ALIASES])
            raise InvalidError(N_("Unknown event “{value}”; use one of: {choices}."), value=name, choices=choices)
    if not found:
        raise InvalidError(N_("Name at least one event, e.g. {example}."), example="events=new,sla")
    return frozenset(found)


_PARSERS: dict[str, Callable[[str], Request]] = {
    "ticket": _ticket,
    "alert": _alert,
    "mine": _no_args(Mine()),
    "queue": _queue,
    "search": _search,
    "sla": _no_args(Sla()),
    "assign": _assign,
    "note": _note,
    "close": _close,
    "link": _no_args(Link()),
    "subscribe": _subscribe,
    "unsubscribe": _no_args(Unsubscribe()),
}
