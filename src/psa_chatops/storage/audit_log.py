"""The persisted audit log: who wrote what through the API, when, from where, and what came of it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.handlers.ports import AuditSlot
from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

AUDIT = t.table_of(t.AuditLogRow)
_INSERT = insert(AUDIT)


@dataclass(frozen=True)
class AuditEntry:
    occurred_at: datetime
    actor: str
    method: str
    route: str
    path: str
    status: int
    request_id: str
    resource: str | None = None
    client_ip: str | None = None
    details: dict[str, Any] | None = field(default=None)


async def write_many(conn: SqlConnection, lines: list[dict[str, Any]]) -> None:
    """Inside a command's transaction, so the change and its audit lines commit together or not at all; an alert
    batch carries several requests' lines, written in one statement."""
    await conn.execute(_INSERT, lines[0] if len(lines) == 1 else lines)


def line(slot: AuditSlot, *, actor: str, at: datetime, resource: str | None) -> dict[str, Any]:
    return {
        "occurred_at": at,
        "actor": actor,
        "method": slot.method,
        "route": slot.route,
        "path": slot.path[:1024],
        "status": slot.status,
        "resource": resource,
        "request_id": slot.request_id,
        "client_ip": slot.client_ip,
        "details": slot.details,
    }


class AuditLog:
    def __init__(self, engine: AsyncEngine, *, writer: SqliteWriter | None = None) -> None:
        self._engine, self._writer = engine, writer

    async def record(self, entry: AuditEntry) -> None:
        async def work(conn: SqlConnection) -> None:
            await conn.execute(_INSERT, asdict(entry))

        await in_transaction(self._engine, self._writer, work)

    async def entries(
        self, *, actor: str | None = None, resource: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        stmt = select(AUDIT).order_by(AUDIT.c.id.desc()).limit(limit)
        if actor:
            stmt = stmt.where(AUDIT.c.actor == actor)
        if resource:
            stmt = stmt.where(AUDIT.c.resource == resource)
        async with read_connection(self._engine) as conn:
            rows = (await conn.execute(stmt)).all()
        return [AuditEntry(**{k: v for k, v in r._mapping.items() if k != "id"}) for r in rows]
