"""Migrations: ``upgrade`` brings an empty database to head, running it again changes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from blockbuster import BlockBuster
from sqlalchemy import Connection, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import psa_chatops.storage.tables as t
from psa_chatops.storage.migrations import alembic_config, current_revision, head_revision, upgrade

EXPECTED_TABLES = {
    "sla_policies",
    "customers",
    "contacts",
    "technicians",
    "assets",
    "maintenance_windows",
    "actor_links",
    "counters",
    "ticket_events",
    "tickets",
    "ticket_notes",
    "routing_rules",
    "outbox",
    "idempotency_keys",
    "api_keys",
    "audit_log",
    "chat_threads",
    "slack_installations",
    "teams_conversations",
    "calendar_events",
    "calendar_feeds",
    "security_alerts",
    "vendor_account_mappings",
    "alert_severity_overrides",
    "appointments",
}


def _schema_diff(sync: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(sync), SQLModel.metadata))


async def test_head_is_applied(engine: AsyncEngine) -> None:
    head = await asyncio.to_thread(head_revision)  # reads the script directory: off the event loop

    assert head is not None
    assert await current_revision(engine) == head
    async with engine.connect() as conn:
        tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    assert tables >= EXPECTED_TABLES | {"alembic_version"}


async def test_upgrade_is_idempotent(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(t.table_of(t.CounterRow).insert().values(name="probe", value=7))

    await upgrade(engine)
    await upgrade(engine)

    assert await current_revision(engine) == await asyncio.to_thread(head_revision)
    async with engine.connect() as conn:
        versions = (await conn.execute(select(func.count()).select_from(t.table_of(t.CounterRow)))).scalar_one()
        stamps = (await conn.exec_driver_sql("SELECT count(*) FROM alembic_version")).scalar_one()
    assert versions == 1  # data survives a repeated upgrade
    assert stamps == 1


async def test_the_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(_schema_diff)

    assert diff == []


def _downgrade_to_base(sync: Connection) -> None:
    command.downgrade(alembic_config(sync), "base")


async def test_downgrade_to_base_and_back_to_head(engine: AsyncEngine, blockbuster: BlockBuster) -> None:
    # Alembic reads its script directory; like ``run_upgrade`` this one-off may block the loop.
    for function in blockbuster.functions.values():
        function.can_block_in("tests/storage/test_migrations.py", "_downgrade_to_base")
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade_to_base)
    assert await current_revision(engine) is None
    async with engine.connect() as conn:
        assert set(await conn.run_sync(lambda sync: inspect(sync).get_table_names())) <= {"alembic_version"}

    await upgrade(engine)

    assert await current_revision(engine) == await asyncio.to_thread(head_revision)
    async with engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []
