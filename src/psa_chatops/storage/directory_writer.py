"""Writes directory records (policies, customers, contacts, technicians, assets, windows, links, routing rules).

Used by the demo seed, ``psa`` admin commands and tests. Upserts, so re-running a seed changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from psa_chatops.core.directory import Asset, Contact, Customer, MaintenanceWindow, Technician
from psa_chatops.core.routing import RoutingRule
from psa_chatops.core.sla import SlaPolicy
from psa_chatops.storage import mappers as m
from psa_chatops.storage import tables as t
from psa_chatops.storage.directory import DIRECTORY_VERSION


async def bump_version(conn: AsyncConnection) -> None:
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


async def add_customers(conn: AsyncConnection, customers: Iterable[Customer]) -> int:
    rows = [
        {
            "id": c.id,
            "name": c.name,
            "email_domains": list(c.email_domains),
            "sla_policy_id": c.sla_policy_id,
            "locale": c.locale,
            **m.calendar_to_row(c.calendar),
        }
        for c in customers
    ]
    return await _upsert(conn, t.table_of(t.CustomerRow), rows, ("id",))


async def add_contacts(conn: AsyncConnection, contacts: Iterable[Contact]) -> int:
    rows = [
        {
            "id": c.id,
            "customer_id": c.customer_id,
            "name": c.name,
            "email": c.email,
            "locale": c.locale,
            "phone": c.phone,
        }
        for c in contacts
    ]
    return await _upsert(conn, t.table_of(t.ContactRow), rows, ("id",))


async def add_technicians(conn: AsyncConnection, technicians: Iterable[Technician]) -> int:
    rows = [
        {
            "id": x.id,
            "name": x.name,
            "email": x.email,
            "role": x.role.value,
            "locale": x.locale,
            "timezone": x.timezone,
            "customer_scope": sorted(x.customer_scope) if x.customer_scope is not None else None,
        }
        for x in technicians
    ]
    return await _upsert(conn, t.table_of(t.TechnicianRow), rows, ("id",))


async def add_assets(conn: AsyncConnection, assets: Iterable[Asset]) -> int:
    rows = [
        {"id": a.id, "customer_id": a.customer_id, "name": a.name, "hostname": a.hostname, "type": a.type}
        for a in assets
    ]
    return await _upsert(conn, t.table_of(t.AssetRow), rows, ("id",))


async def add_maintenance_windows(conn: AsyncConnection, windows: Iterable[MaintenanceWindow]) -> int:
    rows = [
        {
            "id": w.id,
            "customer_id": w.customer_id,
            "title": w.title,
            "starts_at": w.starts_at,
            "ends_at": w.ends_at,
            "asset_ids": list(w.asset_ids),
        }
        for w in windows
    ]
    return await _upsert(conn, t.table_of(t.MaintenanceWindowRow), rows, ("id",))


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
    values = {
        "destination": rule.destination,
        "categories": sorted(c.value for c in rule.categories),
        "customer_id": rule.customer_id,
        "min_priority": rule.min_priority.value if rule.min_priority else None,
        "dispatchers": rule.dispatchers,
    }
    for row in (await conn.execute(select(table).where(table.c.destination == rule.destination))).all():
        if all(getattr(row, k) == v for k, v in values.items()):
            return int(row.id)
    await bump_version(conn)
    result = await conn.execute(insert(table).values(**values, enabled=True, created_by=created_by, created_at=now))
    return int(result.inserted_primary_key[0])  # type: ignore[index]
