"""Teams conversations the bot knows (``teams_conversations``): what a proactive message needs (the full
``ConversationReference`` JSON, the ``serviceUrl``) and whether customers read along (``customer_facing``).

A row is written on ``installationUpdate``, ``conversationUpdate`` and on any incoming message, so a reference
never goes stale (Teams may move a tenant to another ``serviceUrl``). The write is skipped when nothing changed:
every chat message would otherwise cost a write transaction. Reads use a read-only connection; writes are short
transactions through ``in_transaction`` (on SQLite they queue on the writer thread).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

CONVERSATIONS = t.table_of(t.TeamsConversationRow)


@dataclass(frozen=True)
class TeamsConversation:
    conversation_id: str
    service_url: str
    tenant_id: str | None = None
    conversation_type: str = "personal"
    team_id: str | None = None
    name: str | None = None
    reference: dict[str, Any] = field(default_factory=dict)
    customer_facing: bool = False
    installed: bool = True


def _from_row(row: Any) -> TeamsConversation:
    return TeamsConversation(
        conversation_id=row.conversation_id,
        service_url=row.service_url,
        tenant_id=row.tenant_id,
        conversation_type=row.conversation_type,
        team_id=row.team_id,
        name=row.name,
        reference=dict(row.reference or {}),
        customer_facing=bool(row.customer_facing),
        installed=bool(row.installed),
    )


def _same(stored: TeamsConversation, seen: TeamsConversation) -> bool:
    keys = ("service_url", "tenant_id", "conversation_type", "team_id", "reference", "installed")
    name_kept = seen.name is None or seen.name == stored.name
    return name_kept and all(getattr(stored, k) == getattr(seen, k) for k in keys)


class TeamsConversationStore:
    def __init__(self, engine: AsyncEngine, *, writer: SqliteWriter | None = None) -> None:
        self._engine, self._writer = engine, writer

    async def get(self, conversation_id: str) -> TeamsConversation | None:
        async with read_connection(self._engine) as conn:
            row = (
                await conn.execute(select(CONVERSATIONS).where(CONVERSATIONS.c.conversation_id == conversation_id))
            ).first()
        return _from_row(row) if row is not None else None

    async def every(self) -> list[TeamsConversation]:
        async with read_connection(self._engine) as conn:
            rows = (await conn.execute(select(CONVERSATIONS).order_by(CONVERSATIONS.c.conversation_id))).all()
        return [_from_row(r) for r in rows]

    async def remember(self, seen: TeamsConversation, *, now: datetime) -> bool:
        """Insert or refresh the row (keeping ``customer_facing`` and a known name); False when nothing changed."""
        stored = await self.get(seen.conversation_id)
        if stored is not None and _same(stored, seen):
            return False
        values = {
            "service_url": seen.service_url,
            "tenant_id": seen.tenant_id,
            "conversation_type": seen.conversation_type,
            "team_id": seen.team_id,
            "name": seen.name if seen.name is not None else (stored.name if stored else None),
            "reference": seen.reference,
            "installed": seen.installed,
            "updated_at": now,
        }

        async def work(conn: SqlConnection) -> None:
            where = CONVERSATIONS.c.conversation_id == seen.conversation_id
            found = (await conn.execute(select(CONVERSATIONS.c.conversation_id).where(where))).first()
            if found is None:
                await conn.execute(insert(CONVERSATIONS).values(conversation_id=seen.conversation_id, **values))
            else:
                await conn.execute(update(CONVERSATIONS).where(where).values(**values))

        await in_transaction(self._engine, self._writer, work)
        return True

    async def set_customer_facing(self, conversation_id: str, customer_facing: bool, *, now: datetime) -> bool:
        """False when the conversation is unknown."""

        async def work(conn: SqlConnection) -> bool:
            result = await conn.execute(
                update(CONVERSATIONS)
                .where(CONVERSATIONS.c.conversation_id == conversation_id)
                .values(customer_facing=customer_facing, updated_at=now)
            )
            return bool(result.rowcount)

        return await in_transaction(self._engine, self._writer, work)
