"""Writes directory records (policies, customers, contacts, technicians, assets, windows, links, routing rules).

Used by the demo seed, ``psa`` admin commands and tests. Upserts, so re-running a seed changes nothing.
The REST API creates, changes and deletes single records with ``insert_record``/``update_record`` and the routing
rule functions at the end; every one of them bumps the directory version in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from psa_chatops.core.directory import Asset, Contact, Customer, MaintenanceWindow, Technician
from psa_chatops.core.routing import RoutingRule
from psa_chatops.core.sla import SlaPolicy
from psa_chatops.storage import calendar_sync
from psa_chatops.storage import mappers as m
from psa_chatops.storage import tables as t
from psa_chatops.storage.directory import DIRECTORY_VERSION
from psa_chatops.storage.tables import SqlConnection


async def bump_version(conn: SqlConnection) -> None:
    """Every directory write bumps this counter in its transaction, so every process's cache sees the change."""
    counters = t.table_of(t.CounterRow)
    bumped = await conn.execute(
        update(counters).where(counters.c.name == DIRECTORY_VERSION).values(value=counters.c.value + 1)
    )
    if bumped.rowcount == 0:
        await conn.execute(insert(counters).values(name=DIRECTORY_VERSION, value=1))


async def _upsert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], keys: tuple[str, ...]) -> int:
    """Insert rows whose key is new; leave existing ones alone (seeds are idempotent, never destructive)."""
    if not rows:
        return 0
    await bump_version(conn)
    key_cols = [table.c[k] for k in keys]
    existing = {tuple(r) for r in (await conn.execute(select(*key_cols))).all()}
    fresh = [r for r in rows if tuple(r[k] for k in keys) not in existing]
    if fresh:
        await conn.execute(insert(table), fresh)
    return len(fresh)


async def add_policies(conn: AsyncConnection, policies: Iterable[SlaPolicy]) -> int:
    return await _upsert(conn, t.table_of(t.SlaPolicyRow), [m.policy_to_row(p) for p in policies], ("id",))


def customer_row(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "email_domains": list(c.email_domains),
        "sla_policy_id": c.sla_policy_id,
        "locale": c.locale,
        **m.calendar_to_row(c.calendar),
    }


def contact_row(c: Contact) -> dict[str, Any]:
    return {
        "id": c.id,
        "customer_id": c.customer_id,
        "name": c.name,
        "email": c.email,
        "locale": c.locale,
        "phone": c.phone,
    }


def technician_row(x: Technician) -> dict[str, Any]:
    return {
        "id": x.id,
        "name": x.name,
        "email": x.email,
        "role": x.role.value,
        "locale": x.locale,
        "timezone": x.timezone,
        "customer_scope": sorted(x.customer_scope) if x.customer_scope is not None else None,
    }


def asset_row(a: Asset) -> dict[str, Any]:
    return {"id": a.id, "customer_id": a.customer_id, "name": a.name, "hostname": a.hostname, "type": a.type}


def window_row(w: MaintenanceWindow) -> dict[str, Any]:
    return {
        "id": w.id,
        "customer_id": w.customer_id,
        "title": w.title,
        "starts_at": w.starts_at,
        "ends_at": w.ends_at,
        "asset_ids": list(w.asset_ids),
    }


async def add_customers(conn: AsyncConnection, customers: Iterable[Customer]) -> int:
    return await _upsert(conn, t.table_of(t.CustomerRow), [customer_row(c) for c in customers], ("id",))


async def add_contacts(conn: AsyncConnection, contacts: Iterable[Contact]) -> int:
    return await _upsert(conn, t.table_of(t.ContactRow), [contact_row(c) for c in contacts], ("id",))


async def add_technicians(conn: AsyncConnection, technicians: Iterable[Technician]) -> int:
    return await _upsert(conn, t.table_of(t.TechnicianRow), [technician_row(x) for x in technicians], ("id",))


async def add_assets(conn: AsyncConnection, assets: Iterable[Asset]) -> int:
    return await _upsert(conn, t.table_of(t.AssetRow), [asset_row(a) for a in assets], ("id",))


async def add_maintenance_windows(
    conn: AsyncConnection,
    windows: Iterable[MaintenanceWindow],
    *,
    calendar: str | None = None,
    now: datetime | None = None,
) -> int:
    """Seeds windows; with ``calendar`` (and ``now``) each new one is queued for the calendar sync as well."""
    windows = list(windows)
    table = t.table_of(t.MaintenanceWindowRow)
    existing = {r.id for r in (await conn.execute(select(table.c.id))).all()} if calendar else set()
    added = await _upsert(conn, table, [window_row(w) for w in windows], ("id",))
    if calendar and now is not None:
        for window in windows:
            if window.id not in existing:
                await calendar_sync.enqueue_window_sync(conn, window, "upsert", now, calendar=calendar)
    return added


async def insert_window(conn: SqlConnection, window: MaintenanceWindow, *, calendar: str | None, now: datetime) -> None:
    """Adds the window; with a calendar configured, its sync goes into the outbox in the same transaction."""
    await insert_record(conn, window)
    if calendar:
        await calendar_sync.enqueue_window_sync(conn, window, "upsert", now, calendar=calendar)


async def update_window(conn: SqlConnection, window: MaintenanceWindow, *, calendar: str | None, now: datetime) -> bool:
    changed = await update_record(conn, window)
    if changed and calendar:
        await calendar_sync.enqueue_window_sync(conn, window, "upsert", now, calendar=calendar)
    return changed


async def delete_window(conn: SqlConnection, window_id: str, *, calendar: str | None, now: datetime) -> bool:
    """Deletes the window; with a calendar configured, the removal of its calendar entry is queued with it."""
    table = t.table_of(t.MaintenanceWindowRow)
    row = (await conn.execute(select(table).where(table.c.id == window_id))).first()
    if row is None:
        return False
    await bump_version(conn)
    await conn.execute(delete(table).where(table.c.id == window_id))
    if calendar:
        await calendar_sync.enqueue_window_sync(conn, m.window_from_row(row), "delete", now, calendar=calendar)
    return True


async def link_actor(
    conn: AsyncConnection, *, channel: str, external_id: str, kind: str, target_id: str, now: datetime
) -> None:
    table = t.table_of(t.ActorLinkRow)
    await bump_version(conn)
    await conn.execute(delete(table).where(table.c.channel == channel, table.c.external_id == external_id))
    await conn.execute(
        insert(table).values(channel=channel, external_id=external_id, kind=kind, target_id=target_id, linked_at=now)
    )


async def add_routing_rule(conn: AsyncConnection, rule: RoutingRule, *, created_by: str, now: datetime) -> int:
    """Adds the rule unless one with the same destination and filters exists; returns its id."""
    table = t.table_of(t.RoutingRuleRow)
    values = rule_values(rule)
    for row in (await conn.execute(select(table).where(table.c.destination == rule.destination))).all():
        if all(getattr(row, k) == v for k, v in values.items()):
            return int(row.id)
    await bump_version(conn)
    result = await conn.execute(insert(table).values(**values, enabled=True, created_by=created_by, created_at=now))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def rule_values(rule: RoutingRule) -> dict[str, Any]:
    return {
        "destination": rule.destination,
        "categories": sorted(c.value for c in rule.categories),
        "customer_id": rule.customer_id,
        "min_priority": rule.min_priority.value if rule.min_priority else None,
        "dispatchers": rule.dispatchers,
    }


DirectoryRecord = Customer | Contact | Technician | Asset | MaintenanceWindow | SlaPolicy
_ROWS: dict[type[Any], tuple[Table, Callable[[Any], dict[str, Any]]]] = {
    Customer: (t.table_of(t.CustomerRow), customer_row),
    Contact: (t.table_of(t.ContactRow), contact_row),
    Technician: (t.table_of(t.TechnicianRow), technician_row),
    Asset: (t.table_of(t.AssetRow), asset_row),
    MaintenanceWindow: (t.table_of(t.MaintenanceWindowRow), window_row),
    SlaPolicy: (t.table_of(t.SlaPolicyRow), m.policy_to_row),
}


async def insert_record(conn: SqlConnection, record: DirectoryRecord) -> None:
    """Adds one record; the caller checked that its id is free (a race ends in the primary key's IntegrityError)."""
    table, to_row = _ROWS[type(record)]
    await bump_version(conn)
    await conn.execute(insert(table).values(**to_row(record)))


async def update_record(conn: SqlConnection, record: DirectoryRecord) -> bool:
    """Overwrites the record with this id; False when there is none."""
    table, to_row = _ROWS[type(record)]
    row = to_row(record)
    key = row.pop("id")
    await bump_version(conn)
    return bool((await conn.execute(update(table).where(table.c.id == key).values(**row))).rowcount)


async def insert_routing_rule(
    conn: SqlConnection, rule: RoutingRule, *, enabled: bool, created_by: str, now: datetime
) -> int:
    """Adds the rule as given (no de-duplication, unlike ``add_routing_rule``); returns its new id."""
    table = t.table_of(t.RoutingRuleRow)
    await bump_version(conn)
    values = {**rule_values(rule), "enabled": enabled, "created_by": created_by, "created_at": now}
    result = await conn.execute(insert(table).values(**values).returning(table.c.id))
    return int(result.scalar_one())


async def update_routing_rule(conn: SqlConnection, rule: RoutingRule, *, enabled: bool) -> bool:
    table = t.table_of(t.RoutingRuleRow)
    await bump_version(conn)
    stmt = update(table).where(table.c.id == rule.id).values(**rule_values(rule), enabled=enabled)
    return bool((await conn.execute(stmt)).rowcount)


async def delete_routing_rule(conn: SqlConnection, rule_id: int) -> bool:
    table = t.table_of(t.RoutingRuleRow)
    await bump_version(conn)
    return bool((await conn.execute(delete(table).where(table.c.id == rule_id))).rowcount)
