"""The directory read side (customers, contacts, technicians, assets, policies, links, routing rules), cached.

Every command needs the customer, its SLA policy and a few names; reading them each time was most of a
command's SQL. The cache is per process and keyed by a ``directory_version`` counter that every directory write
bumps in the same transaction, so one cheap read per unit of work tells whether the cache is still true — also
across processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, bindparam, or_, select

from psa_chatops.core.directory import Asset, Contact, Customer, MaintenanceWindow, Role, Technician
from psa_chatops.core.errors import N_, NotFoundError
from psa_chatops.core.routing import RoutingRule
from psa_chatops.core.sla import SlaPolicy
from psa_chatops.storage import mappers as m
from psa_chatops.storage import tables as t
from psa_chatops.storage.tables import SqlConnection

DIRECTORY_VERSION = "directory_version"
_COUNTERS = t.table_of(t.CounterRow)
_T = TypeVar("_T")


@dataclass
class DirectoryCache:
    version: int | None = None
    entries: dict[tuple[str, Any], Any] = field(default_factory=dict)

    def sync(self, version: int) -> None:
        if version != self.version:
            self.entries.clear()
            self.version = version


_READ_VERSION = select(_COUNTERS.c.value).where(_COUNTERS.c.name == DIRECTORY_VERSION)
VERSION_SUBQUERY = _READ_VERSION.scalar_subquery()
_TECHS, _WINDOWS_T, _RULES_T = (
    t.table_of(t.TechnicianRow),
    t.table_of(t.MaintenanceWindowRow),
    t.table_of(t.RoutingRuleRow),
)
_DISPATCHERS = select(_TECHS).where(_TECHS.c.role == Role.DISPATCHER.value)
_WINDOWS = select(_WINDOWS_T).where(_WINDOWS_T.c.customer_id == bindparam("customer"))
_RULES = select(_RULES_T).where(_RULES_T.c.enabled.is_(True))


async def read_version(conn: SqlConnection) -> int:
    return int((await conn.execute(_READ_VERSION)).scalar() or 0)


class SqlDirectory:
    def __init__(self, conn: SqlConnection, cache: DirectoryCache | None = None) -> None:
        self._conn = conn
        self._cache = cache if cache is not None else DirectoryCache()
        self._checked = False

    def observe_version(self, version: int) -> None:
        """The version read along with another row (the ticket), saving a round trip."""
        if not self._checked:
            self._cache.sync(version)
            self._checked = True

    async def _cached(self, key: tuple[str, Any], load: Callable[[], Any]) -> Any:
        if not self._checked:
            self.observe_version(await read_version(self._conn))
        if key not in self._cache.entries:
            self._cache.entries[key] = await load()
        return self._cache.entries[key]

    async def cached(self, key: tuple[str, Any], load: Callable[[], Any]) -> Any:
        """Reference data of another store (alert mappings, severity overrides, asset names), cached like the
        directory's own: its writes must bump the directory version."""
        return await self._cached(key, load)

    def forget(self, key: tuple[str, Any]) -> None:
        """Drop one entry this transaction made stale before its version bump is committed."""
        self._cache.entries.pop(key, None)

    async def _one(self, model: Any, key: str, mapper: Callable[[Any], _T], template: str) -> _T:
        table = t.table_of(model)
        found: _T | None
        if self._checked and (table.name, key) in self._cache.entries:  # the usual case: no closure, no await
            found = self._cache.entries[(table.name, key)]
        else:

            async def load() -> _T | None:
                row = (await self._conn.execute(select(table).where(table.c.id == key))).first()
                return None if row is None else mapper(row)

            found = await self._cached((table.name, key), load)
        if found is None:
            raise NotFoundError(template, id=key)
        return found

    async def customer(self, customer_id: str) -> Customer:
        return await self._one(t.CustomerRow, customer_id, m.customer_from_row, N_("Customer {id} does not exist."))

    async def contact(self, contact_id: str) -> Contact:
        return await self._one(t.ContactRow, contact_id, m.contact_from_row, N_("Contact {id} does not exist."))

    async def technician(self, technician_id: str) -> Technician:
        return await self._one(
            t.TechnicianRow, technician_id, m.technician_from_row, N_("Technician {id} does not exist.")
        )

    async def asset(self, asset_id: str) -> Asset:
        return await self._one(t.AssetRow, asset_id, m.asset_from_row, N_("Asset {id} does not exist."))

    async def sla_policy(self, policy_id: str) -> SlaPolicy:
        return await self._one(t.SlaPolicyRow, policy_id, m.policy_from_row, N_("SLA policy {id} does not exist."))

    async def _all(self, key: str, query: Any, mapper: Callable[[Any], _T], params: Any = None) -> list[_T]:
        async def load() -> list[_T]:
            return [mapper(r) for r in (await self._conn.execute(query, params)).all()]

        return list(await self._cached((key, None), load))

    async def dispatchers(self) -> list[Technician]:
        return await self._all("dispatchers", _DISPATCHERS, m.technician_from_row)

    async def maintenance_windows(self, customer_id: str) -> list[MaintenanceWindow]:
        return await self._all(f"windows:{customer_id}", _WINDOWS, m.window_from_row, {"customer": customer_id})

    async def routing_rules(self) -> list[RoutingRule]:
        return await self._all("routing_rules", _RULES, m.rule_from_row)

    async def linked_actor(self, channel: str, external_id: str) -> tuple[str, str] | None:
        table = t.table_of(t.ActorLinkRow)
        query = select(table.c.kind, table.c.target_id).where(
            table.c.channel == channel, table.c.external_id == external_id
        )

        async def load() -> tuple[str, str] | None:
            row = (await self._conn.execute(query)).first()
            return (row.kind, row.target_id) if row else None

        link: tuple[str, str] | None = await self._cached(("actor_links", (channel, external_id)), load)
        return link


# --- keyset pages and single rows for the REST API ------------------------------------------------------------------
# Uncached: the API answers from its own response cache, and a management read must see the latest commit.


@dataclass(frozen=True)
class StoredRoutingRule:
    """A routing rule as it is managed: the matching part (``core.routing``) plus its bookkeeping."""

    rule: RoutingRule
    enabled: bool
    created_by: str
    created_at: datetime


def stored_rule_from_row(row: Any) -> StoredRoutingRule:
    return StoredRoutingRule(m.rule_from_row(row), bool(row.enabled), row.created_by, row.created_at)


@dataclass(frozen=True)
class Collection(Generic[_T]):
    """One directory table as the API lists it: how rows become records, whose customer a row is, what to search."""

    table: Table
    mapper: Callable[[Any], _T]
    owner: str | None = None  # the column naming the customer a row belongs to
    search: tuple[str, ...] = ()  # columns a text filter looks in (case-insensitive substring)


CUSTOMERS = Collection(t.table_of(t.CustomerRow), m.customer_from_row, owner="id", search=("id", "name"))
CONTACTS = Collection(t.table_of(t.ContactRow), m.contact_from_row, owner="customer_id", search=("name", "email"))
TECHNICIANS = Collection(_TECHS, m.technician_from_row, search=("name", "email"))
ASSETS = Collection(t.table_of(t.AssetRow), m.asset_from_row, owner="customer_id", search=("name", "hostname"))
WINDOWS = Collection(_WINDOWS_T, m.window_from_row, owner="customer_id", search=("title",))
POLICIES = Collection(t.table_of(t.SlaPolicyRow), m.policy_from_row, search=("name",))
ROUTING_RULES = Collection(_RULES_T, stored_rule_from_row, owner="customer_id", search=("destination",))


@dataclass(frozen=True)
class Listing:
    """What one page asks for: rows after the last id of the previous page, in id order."""

    limit: int = 50
    after: str | int | None = None
    customer_ids: Sequence[str] | None = None  # only rows of these customers (None: every customer)
    equals: Mapping[str, Any] = field(default_factory=dict)  # column -> value
    text: str | None = None


async def find(conn: SqlConnection, collection: Collection[_T], key: str | int, *, lock: bool = False) -> _T | None:
    """The row with this id, or None. ``lock`` holds it for the rest of a write transaction (PostgreSQL)."""
    table = collection.table
    query = select(table).where(table.c.id == key)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else collection.mapper(row)


async def page(conn: SqlConnection, collection: Collection[_T], listing: Listing) -> list[_T]:
    """Up to ``listing.limit`` records with ids above ``listing.after``: pages never skip or repeat a row."""
    table = collection.table
    query = select(table).order_by(table.c.id).limit(listing.limit)
    if listing.after is not None:
        query = query.where(table.c.id > listing.after)
    if listing.customer_ids is not None and collection.owner is not None:
        query = query.where(table.c[collection.owner].in_(list(listing.customer_ids)))
    for column, value in listing.equals.items():
        query = query.where(table.c[column] == value)
    if listing.text and collection.search:
        query = query.where(or_(*(table.c[c].icontains(listing.text, autoescape=True) for c in collection.search)))
    return [collection.mapper(r) for r in (await conn.execute(query)).all()]


async def taken(conn: SqlConnection, collection: Collection[Any], column: str, value: Any, *, other_than: Any) -> bool:
    """Whether another row (not ``other_than``) already has this value in a unique column (e-mail addresses)."""
    table = collection.table
    query = select(table.c.id).where(table.c[column] == value, table.c.id != other_than).limit(1)
    return (await conn.execute(query)).first() is not None


async def existing_ids(conn: SqlConnection, collection: Collection[Any], keys: Iterable[str]) -> set[str]:
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    table = collection.table
    return {str(k) for k in (await conn.execute(select(table.c.id).where(table.c.id.in_(wanted)))).scalars()}


async def every(conn: SqlConnection, collection: Collection[_T], **equals: Any) -> list[_T]:
    """All rows with these column values (the customers of one SLA policy): for checks, not for lists."""
    table = collection.table
    query = select(table).where(*(table.c[column] == value for column, value in equals.items())).order_by(table.c.id)
    return [collection.mapper(r) for r in (await conn.execute(query)).all()]
