"""SqlUnitOfWork: one transaction for the state change, its events and its outbox rows.

``commit`` writes the outbox rows for every event appended in this unit, then commits; a rollback (or an
exception inside ``async with``) leaves no trace, so nothing is ever announced that did not happen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from psa_chatops.core.tickets import Ticket
from psa_chatops.handlers.ports import Clock, CommandContext, RecordedEvent
from psa_chatops.storage import outbox
from psa_chatops.storage.repositories import SqlDirectory, SqlTicketRepository


class SqlUnitOfWork:
    tickets: SqlTicketRepository
    directory: SqlDirectory

    def __init__(self, engine: AsyncEngine, context: CommandContext, *, clock: Clock) -> None:
        self._engine, self.context, self._clock = engine, context, clock
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None
        self._pending: list[tuple[RecordedEvent, Ticket]] = []
        self._committed: list[RecordedEvent] = []
        self.outbox_rows = 0

    @property
    def connection(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open; use `async with uow:`")
        return self._conn

    async def __aenter__(self) -> Self:
        self._conn = await self._engine.connect()
        self._tx = await self._conn.begin()
        self._pending = []
        self.tickets = SqlTicketRepository(
            self._conn, context=lambda: self.context, now=self._clock.now, collect=self._collect
        )
        self.directory = SqlDirectory(self._conn)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._tx is not None and self._tx.is_active:
                await self._tx.rollback()
        finally:
            if self._conn is not None:
                await self._conn.close()
            self._conn, self._tx = None, None

    def _collect(self, record: RecordedEvent, ticket: Ticket) -> None:
        self._pending.append((record, ticket))

    async def commit(self) -> None:
        if self._tx is None:
            raise RuntimeError("commit outside `async with uow:`")
        if self._pending:
            rules = await outbox.load_rules(self.connection)
            self.outbox_rows += await outbox.enqueue(self.connection, self._pending, rules, self._clock.now())
        await self._tx.commit()
        self._committed += [record for record, _ in self._pending]
        self._pending = []

    async def rollback(self) -> None:
        if self._tx is not None and self._tx.is_active:
            await self._tx.rollback()
        self._pending = []

    def collected_events(self) -> list[RecordedEvent]:
        return list(self._committed)


def sql_uow_factory(engine: AsyncEngine, clock: Clock) -> Callable[[CommandContext], SqlUnitOfWork]:
    def factory(context: CommandContext) -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, context, clock=clock)

    return factory


class SystemClock:
    def now(self) -> datetime:
        from datetime import UTC

        return datetime.now(UTC)
