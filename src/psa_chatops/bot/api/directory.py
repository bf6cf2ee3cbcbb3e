"""The directory through the API, independent of the version: customers, contacts, technicians, assets,
maintenance windows and SLA policies. Versions parse requests into domain records and present what comes back.

Why it looks like this: every collection behaves the same (keyset pages on the id, 404 outside the caller's
customers, 409 on a taken id, 422 naming each bad field), so a ``Kind`` describes a collection and four functions
serve them all. Each write is one short transaction (queued on SQLite's writer thread) that re-reads the record,
checks its references, and bumps the directory version so every process's directory cache sees the change; then
the API's response cache forgets the record and its collection. The helpers at the top (cursors, pages, 422s,
writes) serve the routing rules and admin resources too.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import zoneinfo
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.exc import IntegrityError

from psa_chatops.bot import keys
from psa_chatops.bot.api import keys as api_keys
from psa_chatops.bot.api.operations import Call
from psa_chatops.bot.api.problems import ProblemError
from psa_chatops.bot.calendar import configured_calendar
from psa_chatops.core.directory import Asset, Contact, Customer, MaintenanceWindow, Technician
from psa_chatops.core.errors import N_, ConflictError, NotFoundError
from psa_chatops.core.sla import SlaPolicy
from psa_chatops.handlers import directory_queries as rules
from psa_chatops.handlers.actors import visible_customers
from psa_chatops.handlers.directory_queries import Issue
from psa_chatops.handlers.ports import Actor
from psa_chatops.i18n import translate
from psa_chatops.storage import directory as store
from psa_chatops.storage import directory_writer as writer
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

R = TypeVar("R")
K = TypeVar("K", str, int)


class Record(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=Record)


# --- shared by every resource ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[R]):
    items: list[R]
    next_cursor: str | None


def encode_cursor(label: str, last: str | int) -> str:
    raw = json.dumps([label, last], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, label: str, locale: str, kind: type[K]) -> K | None:
    """Opaque to clients; a damaged cursor or one from another list is a clear 400, never a wrong page."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_label, last = json.loads(raw)
    except (ValueError, binascii.Error, TypeError) as exc:
        raise _bad_cursor(locale) from exc
    if cursor_label != label or type(last) is not kind:
        raise _bad_cursor(locale)
    return last


def _bad_cursor(locale: str) -> ProblemError:
    msg = translate(N_("This cursor does not belong to this list; start again without it."), locale)
    errors = [{"loc": "query.cursor", "msg": msg, "type": "value_error"}]
    return ProblemError(400, "invalid-parameter", detail=msg, errors=errors)


def paged(items: Sequence[R], limit: int, label: str, key: Callable[[R], str | int]) -> Page[R]:
    """``items`` holds up to ``limit + 1`` rows: the extra one only says that another page exists."""
    shown = list(items[:limit])
    more = len(items) > limit and bool(shown)
    return Page(shown, encode_cursor(label, key(shown[-1])) if more else None)


def invalid(locale: str, issues: Sequence[Issue]) -> ProblemError:
    """A 422 naming every bad field (``body.<field>``), each message in the caller's language."""
    errors = [
        {"loc": f"body.{i.where}", "msg": translate(i.template, locale, **i.params), "type": "value_error"}
        for i in issues
    ]
    return ProblemError(422, "validation-error", detail=errors[0]["msg"], errors=errors)


def actor_of(call: Call) -> Actor:
    return call.context.actor


async def write(call: Call, work: Callable[[SqlConnection], Coroutine[Any, Any, R]]) -> R:
    """One transaction; a unique or foreign key violation that slipped past the checks (a race) is a 409."""
    app = call.request.config_dict
    try:
        return await in_transaction(app[keys.ENGINE], app[keys.WRITER], work)
    except IntegrityError as exc:
        raise ConflictError(N_("The change conflicts with another record; read it again and retry.")) from exc


async def read(call: Call, work: Callable[[SqlConnection], Awaitable[R]]) -> R:
    async with read_connection(call.request.config_dict[keys.ENGINE]) as conn:
        return await work(conn)


async def invalidate(call: Call, *tags: str) -> None:
    await call.request.config_dict[api_keys.DEPS].cache.invalidate(set(tags))


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


async def known_zones() -> frozenset[str]:
    """The IANA zones this machine knows; read from disk once, off the event loop."""
    return await asyncio.to_thread(_zones)


async def customer_issues(conn: SqlConnection, actor: Actor, where: str, ids: Sequence[str]) -> list[Issue]:
    """Customers a record refers to must exist and be visible to the caller (else they "do not exist")."""
    found = await store.existing_ids(conn, store.CUSTOMERS, ids)
    return [
        Issue(where, N_("Customer {id} does not exist."), {"id": i})
        for i in dict.fromkeys(ids)
        if i not in found or not rules.sees(actor, i)
    ]


# --- the directory collections --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checking:
    """What a record's checks need besides the connection."""

    actor: Actor
    zones: frozenset[str]


Check = Callable[[SqlConnection, T, Checking], Awaitable[list[Issue]]]


@dataclass(frozen=True)
class Kind(Generic[T]):
    name: str  # "customer": the audit resource and cache tag "customer:<id>", the cursor's label
    plural: str  # "customers": the collection's cache tag
    collection: store.Collection[T]
    missing: str  # the "... {id} does not exist." msgid
    check: Check[T]  # references and rules, run inside the write transaction
    owner_field: str | None  # where the record names its customer ("id" for customers); None: no customer's

    def owner(self, record: T) -> str | None:
        return None if self.owner_field is None else str(getattr(record, self.owner_field))

    def visible(self, actor: Actor, record: T) -> bool:
        """Records of no customer (technicians, SLA policies) are everyone's reference data."""
        return self.owner_field is None or rules.sees(actor, self.owner(record))

    def tags(self, key: str) -> tuple[str, ...]:
        return (f"{self.name}:{key}",)


async def page(
    call: Call,
    kind: Kind[T],
    *,
    limit: int,
    cursor: str | None,
    equals: Mapping[str, Any] | None = None,
    text: str | None = None,
) -> Page[T]:
    listing = store.Listing(
        customer_ids=None if kind.owner_field is None else visible_customers(actor_of(call)),
        equals={k: v for k, v in (equals or {}).items() if v is not None},
        text=text,
    )
    return await page_of(call, kind.collection, listing, limit, cursor, kind.name, str, lambda r: r.id)


async def page_of(
    call: Call,
    collection: store.Collection[R],
    listing: store.Listing,
    limit: int,
    cursor: str | None,
    label: str,
    key_type: type[K],
    key: Callable[[R], str | int],
) -> Page[R]:
    """One page of ``collection`` after the cursor's row, ``listing`` narrowing it."""
    asked = replace(listing, limit=limit + 1, after=decode_cursor(cursor, label, call.locale, key_type))
    items = await read(call, lambda conn: store.page(conn, collection, asked))
    return paged(items, limit, label, key)


async def get(call: Call, kind: Kind[T], key: str) -> T:
    found = await read(call, lambda conn: store.find(conn, kind.collection, key))
    if found is None or not kind.visible(actor_of(call), found):
        raise NotFoundError(kind.missing, id=key)
    return found


async def create(call: Call, kind: Kind[T], record: T) -> T:
    checking = Checking(actor_of(call), await known_zones())
    if kind.owner_field is None:
        rules.ensure_sees_every_customer(checking.actor)
    elif kind.owner_field == "id":
        rules.ensure_may_create_customer(checking.actor, record.id)

    async def work(conn: SqlConnection) -> None:
        if await store.find(conn, kind.collection, record.id) is not None:
            raise ConflictError(N_("The id {id} is already taken."), id=record.id)
        await _checked(conn, kind, record, checking, call.locale)
        if isinstance(record, MaintenanceWindow):  # the calendar sync's outbox row commits with the window
            await writer.insert_window(conn, record, **_calendar_sync(call))
        else:
            await writer.insert_record(conn, record)  # type: ignore[arg-type]

    await write(call, work)
    await invalidate(call, kind.plural, *kind.tags(record.id))
    return record


async def update(call: Call, kind: Kind[T], key: str, change: Callable[[T], T]) -> T:
    """Applies ``change`` to the record as it is inside the transaction, so concurrent patches never undo each
    other's fields."""
    checking = Checking(actor_of(call), await known_zones())

    async def work(conn: SqlConnection) -> T:
        current = await store.find(conn, kind.collection, key, lock=True)
        if current is None or not kind.visible(checking.actor, current):
            raise NotFoundError(kind.missing, id=key)
        if kind.owner_field is None:
            rules.ensure_sees_every_customer(checking.actor)
        record = change(current)
        await _checked(conn, kind, record, checking, call.locale)
        if isinstance(record, MaintenanceWindow):  # the calendar sync's outbox row commits with the window
            await writer.update_window(conn, record, **_calendar_sync(call))
        else:
            await writer.update_record(conn, record)  # type: ignore[arg-type]
        return record

    record = await write(call, work)
    await invalidate(call, kind.plural, *kind.tags(key))
    return record


def _calendar_sync(call: Call) -> dict[str, Any]:
    """What the window writes need to queue their calendar sync (nothing is queued without a calendar)."""
    app = call.request.config_dict
    return {"calendar": configured_calendar(app[keys.SETTINGS]), "now": app[keys.CLOCK].now()}


async def _checked(conn: SqlConnection, kind: Kind[T], record: T, checking: Checking, locale: str) -> None:
    issues = await kind.check(conn, record, checking)
    if kind.owner_field == "customer_id":
        issues = await customer_issues(conn, checking.actor, "customer_id", [str(kind.owner(record))]) + issues
    if issues:
        raise invalid(locale, issues)


async def _unique_email(conn: SqlConnection, collection: store.Collection[Any], record: Contact | Technician) -> None:
    if await store.taken(conn, collection, "email", record.email, other_than=record.id):
        raise ConflictError(N_("The e-mail address {email} is already in use."), email=record.email)


async def _check_customer(conn: SqlConnection, customer: Customer, checking: Checking) -> list[Issue]:
    issues = rules.calendar_issues(customer.calendar, checking.zones)
    issues += rules.domain_issues("email_domains", customer.email_domains)
    policy = await store.find(conn, store.POLICIES, customer.sla_policy_id)
    if policy is None:
        issues.append(Issue("sla_policy_id", N_("SLA policy {id} does not exist."), {"id": customer.sla_policy_id}))
    elif not issues:
        issues += rules.sla_reach_issues("weekly_hours", customer.calendar, policy, customer.id)
    return issues


async def _check_contact(conn: SqlConnection, contact: Contact, checking: Checking) -> list[Issue]:
    issues = rules.email_issues("email", contact.email)
    if not issues:
        await _unique_email(conn, store.CONTACTS, contact)
    return issues


async def _check_technician(conn: SqlConnection, tech: Technician, checking: Checking) -> list[Issue]:
    issues = rules.email_issues("email", tech.email) + rules.timezone_issues("timezone", tech.timezone, checking.zones)
    if tech.customer_scope:
        issues += await customer_issues(conn, checking.actor, "customer_scope", sorted(tech.customer_scope))
    if not issues:
        await _unique_email(conn, store.TECHNICIANS, tech)
    return issues


async def _check_asset(conn: SqlConnection, asset: Asset, checking: Checking) -> list[Issue]:
    return []  # its customer is checked for every customer-owned record


async def _check_window(conn: SqlConnection, window: MaintenanceWindow, checking: Checking) -> list[Issue]:
    issues = rules.window_issues(window)
    for asset_id in dict.fromkeys(window.asset_ids):
        asset = await store.find(conn, store.ASSETS, asset_id)
        if asset is None or not rules.sees(checking.actor, asset.customer_id):
            issues.append(Issue("asset_ids", N_("Asset {id} does not exist."), {"id": asset_id}))
        elif asset.customer_id != window.customer_id:
            issues.append(
                Issue(
                    "asset_ids",
                    N_("Asset {id} belongs to customer {customer}, not to this window's customer."),
                    {"id": asset_id, "customer": asset.customer_id},
                )
            )
    return issues


async def _check_policy(conn: SqlConnection, policy: SlaPolicy, checking: Checking) -> list[Issue]:
    """Also against the business hours of every customer on the policy: a target none of them can reach in
    time would make opening their tickets fail."""
    issues = rules.policy_issues(policy)
    if issues:
        return issues
    for customer in await store.every(conn, store.CUSTOMERS, sla_policy_id=policy.id):
        issues += rules.sla_reach_issues("targets", customer.calendar, policy, customer.id)
    return issues[:10]


CUSTOMERS = Kind("customer", "customers", store.CUSTOMERS, N_("Customer {id} does not exist."), _check_customer, "id")
CONTACTS = Kind(
    "contact", "contacts", store.CONTACTS, N_("Contact {id} does not exist."), _check_contact, "customer_id"
)
TECHNICIANS = Kind(
    "technician", "technicians", store.TECHNICIANS, N_("Technician {id} does not exist."), _check_technician, None
)
ASSETS = Kind("asset", "assets", store.ASSETS, N_("Asset {id} does not exist."), _check_asset, "customer_id")
WINDOWS = Kind(
    "maintenance-window",
    "maintenance-windows",
    store.WINDOWS,
    N_("Maintenance window {id} does not exist."),
    _check_window,
    "customer_id",
)
POLICIES = Kind(
    "sla-policy", "sla-policies", store.POLICIES, N_("SLA policy {id} does not exist."), _check_policy, None
)
