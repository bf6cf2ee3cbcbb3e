"""SqlUnitOfWork: one transaction for the state change, its events and its outbox rows.

``commit`` writes the outbox rows for every event appended in this unit, then commits; a rollback (or an
exception inside ``async with``) leaves no trace, so nothing is ever announced that did not happen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from psa_chatops.core.tickets import Ticket
from psa_chatops.handlers.ports import AuditSlot, Clock, CommandContext, RecordedEvent
from psa_chatops.storage import audit_log, outbox
from psa_chatops.storage.appointments import SqlAppointmentStore
from psa_chatops.storage.directory import DirectoryCache, SqlDirectory
from psa_chatops.storage.repositories import SqlTicketRepository
from psa_chatops.storage.security_alerts import SqlAlertStore
from psa_chatops.storage.sqlite_writer import SqliteWriter, WriterConnection
from psa_chatops.storage.ticket_cache import TicketCache


class TxConnection(Protocol):
    """One transaction's connection: the engine's own (aiosqlite/asyncpg) or SQLite's writer thread."""

    async def open(self) -> None: ...

    async def execute(self, statement: Any, parameters: Any = None) -> Any: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the committed transaction is durable (at once, or after a group commit)."""

    async def close(self) -> None: ...


class EngineConnection:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None

    async def open(self) -> None:
        self._conn = await self._engine.connect()
        self._tx = await self._conn.begin()

    @property
    def _live(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("the connection is not open")
        return self._conn

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return await self._live.execute(statement, parameters)

    async def commit(self) -> None:
        await self._live.commit()

    def when_durable(self, callback: Callable[[], None]) -> None:
        callback()

    async def rollback(self) -> None:
        if self._conn is not None and self._conn.in_transaction():
            await self._conn.rollback()

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()


class SqlUnitOfWork:
    tickets: SqlTicketRepository
    directory: SqlDirectory
    alerts: SqlAlertStore
    appointments: SqlAppointmentStore

    def __init__(
        self,
        engine: AsyncEngine,
        context: CommandContext,
        *,
        clock: Clock,
        cache: DirectoryCache | None = None,
        writer: SqliteWriter | None = None,
        ticket_cache: TicketCache | None = None,
    ) -> None:
        self._engine, self.context, self._clock, self._writer = engine, context, clock, writer
        self._cache = cache if cache is not None else DirectoryCache()
        self._ticket_cache = ticket_cache
        self._conn: TxConnection | None = None
        self._pending: list[tuple[RecordedEvent, Ticket]] = []
        self._committed: list[RecordedEvent] = []
        self._acted_for: list[CommandContext] = []  # a batch's requests, each with its own audit line
        self.outbox_rows = 0

    @property
    def connection(self) -> TxConnection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open; use `async with uow:`")
        return self._conn

    async def __aenter__(self) -> Self:
        conn: TxConnection = WriterConnection(self._writer) if self._writer else EngineConnection(self._engine)
        await conn.open()
        self._conn, self._pending = conn, []
        self.directory = SqlDirectory(conn, self._cache)
        self.tickets = SqlTicketRepository(
            conn,
            context=lambda: self.context,
            now=self._clock.now,
            collect=self._collect,
            observe_directory_version=self.directory.observe_version,
            cache=self._ticket_cache,
        )
        self.alerts = SqlAlertStore(
            conn, dialect=self._engine.dialect.name, context=lambda: self.context, directory=self.directory
        )
        self.appointments = SqlAppointmentStore(conn, now=self._clock.now)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is None:
            return
        try:
            await self._conn.rollback()
        finally:
            await self._conn.close()
            self._conn = None

    @contextmanager
    def acting_for(self, context: CommandContext) -> Iterator[None]:
        """Inside: on behalf of ``context``. A block that ends without an exception puts the request's audit line
        into this commit; one that raises leaves it to the gateway (which records the error)."""
        previous, self.context = self.context, context
        try:
            yield
        finally:
            self.context = previous
        if all(known is not context for known in self._acted_for):
            self._acted_for.append(context)

    def _collect(self, record: RecordedEvent, ticket: Ticket) -> None:
        self._pending.append((record, ticket))

    async def commit(self) -> None:
        if self._pending:
            rules = await self.directory.routing_rules()
            extras = await self.alerts.envelope_extras(self._pending)
            self.outbox_rows += await outbox.enqueue(
                self.connection, self._pending, rules, self._clock.now(), extras=extras
            )
            self.outbox_rows += await self.alerts.close_back(self._pending, self._clock.now())
        audited = await self._write_audit()
        await self.connection.commit()
        for slot in audited:
            slot.written = True
        if self._ticket_cache is not None and self._pending:
            latest = list({ticket.number: ticket for _, ticket in self._pending}.values())
            self.connection.when_durable(partial(self._ticket_cache.put, latest))
        self._committed += [record for record, _ in self._pending]
        self._pending = []

    async def _write_audit(self) -> list[AuditSlot]:
        """The audit line of each request this commit carries out, naming the ticket its events are about; all in
        one statement."""
        written: list[AuditSlot] = []
        lines: list[dict[str, Any]] = []
        at = self._clock.now()
        for context in self._acted_for or [self.context]:
            slot = context.audit
            if slot is None or slot.written or any(slot is done for done in written):
                continue
            numbers = {
                record.event.number
                for record, _ in self._pending
                if not self._acted_for or record.correlation_id == context.correlation_id
            }
            resource = f"ticket:{numbers.pop()}" if len(numbers) == 1 else None
            lines.append(audit_log.line(slot, actor=context.actor.id, at=at, resource=resource))
            written.append(slot)
        if lines:
            await audit_log.write_many(self.connection, lines)
        return written

    async def rollback(self) -> None:
        if self._conn is not None:
            await self._conn.rollback()
        self._pending = []
        self._acted_for = []

    def collected_events(self) -> list[RecordedEvent]:
        return list(self._committed)


def sql_uow_factory(
    engine: AsyncEngine, clock: Clock, *, writer: SqliteWriter | None = None
) -> Callable[[CommandContext], SqlUnitOfWork]:
    cache, tickets = DirectoryCache(), TicketCache()

    def factory(context: CommandContext) -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, context, clock=clock, cache=cache, writer=writer, ticket_cache=tickets)

    return factory


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
