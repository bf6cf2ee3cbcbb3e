"""SQL repositories over one connection (the unit of work's transaction)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from psa_chatops.core import events as ev
from psa_chatops.core.errors import N_, ConcurrencyError, NotFoundError
from psa_chatops.core.tickets import Ticket
from psa_chatops.core.tickets_state import Status
from psa_chatops.handlers.ports import SORTS, CommandContext, RecordedEvent, TicketFilter
from psa_chatops.storage import mappers as m
from psa_chatops.storage import tables as t
from psa_chatops.storage.directory import VERSION_SUBQUERY
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.ticket_cache import TicketCache

TICKET_COUNTER = "ticket_number"
FIRST_TICKET_NUMBER = 12_000
_RUNNING = [s.value for s in (Status.NEW, Status.OPEN, Status.IN_PROGRESS)]


TICKETS, NOTES, EVENTS, COUNTERS = (
    t.table_of(t.TicketRow),
    t.table_of(t.TicketNoteRow),
    t.table_of(t.TicketEventRow),
    t.table_of(t.CounterRow),
)
# Built once: constructing and cache-keying statements per call was a fifth of a command's time.
GET_TICKET = select(TICKETS, VERSION_SUBQUERY.label("directory_version")).where(TICKETS.c.number == bindparam("number"))
GET_HEAD = select(TICKETS.c.version, VERSION_SUBQUERY.label("directory_version")).where(
    TICKETS.c.number == bindparam("number")
)
GET_NOTES = select(NOTES).where(NOTES.c.ticket_number == bindparam("number")).order_by(NOTES.c.note_id)
INSERT_EVENTS = insert(EVENTS)
INSERT_TICKET = insert(TICKETS)
INSERT_NOTES = insert(NOTES)
UPDATE_TICKET = update(TICKETS).where(
    TICKETS.c.number == bindparam("w_number"), TICKETS.c.version == bindparam("w_expected")
)
BUMP_COUNTER = (
    update(COUNTERS)
    .where(COUNTERS.c.name == bindparam("w_name"))
    .values(value=COUNTERS.c.value + 1)
    .returning(COUNTERS.c.value)
)


class SqlTicketRepository:
    def __init__(
        self,
        conn: SqlConnection,
        *,
        context: Callable[[], CommandContext],
        now: Callable[[], datetime],
        collect: Callable[[RecordedEvent, Ticket], None],
        observe_directory_version: Callable[[int], None] = lambda _version: None,
        cache: TicketCache | None = None,
    ) -> None:
        self._conn, self._context, self._now, self._collect = conn, context, now, collect
        self._observe, self._cache = observe_directory_version, cache

    async def get(self, number: int) -> Ticket:
        if self._cache is not None:  # the row's version decides whether the cached state is still the truth
            head = (await self._conn.execute(GET_HEAD, {"number": number})).first()
            if head is None:
                raise NotFoundError(N_("Ticket #{number} does not exist."), number=number)
            self._observe(int(head.directory_version or 0))
            cached = self._cache.get(number, int(head.version))
            if cached is not None:
                return cached
        row = (await self._conn.execute(GET_TICKET, {"number": number})).first()
        if row is None:
            raise NotFoundError(N_("Ticket #{number} does not exist."), number=number)
        self._observe(int(row.directory_version or 0))
        return m.ticket_from_row(row, await self._notes(number))

    async def _notes(self, number: int) -> list[Any]:
        return list((await self._conn.execute(GET_NOTES, {"number": number})).all())

    async def next_number(self) -> int:
        table = COUNTERS
        row = (await self._conn.execute(BUMP_COUNTER, {"w_name": TICKET_COUNTER})).first()
        if row is not None:
            return int(row[0])
        try:
            await self._conn.execute(insert(table).values(name=TICKET_COUNTER, value=FIRST_TICKET_NUMBER))
        except IntegrityError as exc:  # another first ticket took this number meanwhile: the bus retries
            raise ConcurrencyError(
                N_("Ticket #{number} was changed by someone else; please try again."), number=FIRST_TICKET_NUMBER
            ) from exc
        return FIRST_TICKET_NUMBER

    async def append(self, ticket: Ticket | None, events: Sequence[ev.Event]) -> Ticket:
        """Append events at the ticket's version (optimistic concurrency) and update the projection."""
        if not events:
            raise ValueError("append needs at least one event")
        expected = ticket.version if ticket else 0
        ctx, recorded_at = self._context(), self._now()
        records = [
            RecordedEvent(e, expected + i + 1, ctx.actor.id, ctx.correlation_id, ctx.causation_id)
            for i, e in enumerate(events)
        ]
        try:
            await self._conn.execute(INSERT_EVENTS, [_event_row(r, recorded_at) for r in records])
        except IntegrityError as exc:
            raise ConcurrencyError(
                N_("Ticket #{number} was changed by someone else; please try again."), number=events[0].number
            ) from exc
        updated = _fold(ticket, events)
        await self._project(updated, expected)
        await self._insert_notes(events)
        for record in records:
            self._collect(record, updated)
        return updated

    async def _project(self, ticket: Ticket, expected: int) -> None:
        row = m.ticket_to_row(ticket)
        if expected == 0:
            await self._conn.execute(INSERT_TICKET, row)
            return
        params = {**row, "w_number": ticket.number, "w_expected": expected}
        if (await self._conn.execute(UPDATE_TICKET, params)).rowcount != 1:
            raise ConcurrencyError(
                N_("Ticket #{number} was changed by someone else; please try again."), number=ticket.number
            )

    async def _insert_notes(self, events: Sequence[ev.Event]) -> None:
        notes = [
            {
                "ticket_number": e.number,
                "note_id": e.note_id,
                "body": e.body,
                "visibility": e.visibility.value,
                "author_id": e.author_id,
                "created_at": e.occurred_at,
            }
            for e in events
            if isinstance(e, ev.NoteAdded)
        ]
        if notes:
            await self._conn.execute(INSERT_NOTES, notes)

    async def find(self, query: TicketFilter) -> list[Ticket]:
        stmt = _sorted(_filtered(select(TICKETS), query), query)
        rows = (await self._conn.execute(stmt.limit(query.limit).offset(query.offset))).all()
        return [m.ticket_from_row(row, []) for row in rows]  # lists show no notes: no query per ticket

    async def count(self, query: TicketFilter) -> int:
        stmt = _filtered(select(func.count()).select_from(t.TicketRow), query)
        return int((await self._conn.execute(stmt)).scalar_one())

    async def due_for_sla_check(self, limit: int) -> list[int]:
        table = t.table_of(t.TicketRow)
        stmt = select(table.c.number).where(table.c.status.in_(_RUNNING)).order_by(table.c.number).limit(limit)
        return [int(n) for n in (await self._conn.execute(stmt)).scalars()]

    async def history(self, number: int) -> list[RecordedEvent]:
        table = t.table_of(t.TicketEventRow)
        rows = (
            await self._conn.execute(select(table).where(table.c.aggregate_id == number).order_by(table.c.version))
        ).all()
        return [record_from_row(r) for r in rows]


def _fold(ticket: Ticket | None, events: Sequence[ev.Event]) -> Ticket:
    return Ticket.replay(events) if ticket is None else ticket.evolved(events)


def _sorted(stmt: Any, q: TicketFilter) -> Any:
    """Order by the sort column, ties broken by number; ``after`` continues from a page's last row (keyset), so a
    page never repeats or skips rows when tickets are opened meanwhile."""
    if q.sort not in SORTS:
        raise ValueError(f"unknown sort {q.sort!r}")
    descending, name = q.sort.startswith("-"), q.sort.lstrip("-")
    column, number = TICKETS.c[name], TICKETS.c.number
    if q.after is not None:
        value, last = q.after
        if name == "number":
            stmt = stmt.where(number < last if descending else number > last)
        elif descending:
            stmt = stmt.where(or_(column < value, and_(column == value, number < last)))
        else:
            stmt = stmt.where(or_(column > value, and_(column == value, number > last)))
    if name == "number":
        return stmt.order_by(number.desc() if descending else number.asc())
    if descending:
        return stmt.order_by(column.desc(), number.desc())
    return stmt.order_by(column.asc(), number.asc())


def _filtered(stmt: Any, q: TicketFilter) -> Any:
    table = t.table_of(t.TicketRow)
    if q.customer_ids is not None:
        stmt = stmt.where(table.c.customer_id.in_(list(q.customer_ids)))
    if q.statuses:
        stmt = stmt.where(table.c.status.in_(list(q.statuses)))
    elif q.open_only:
        stmt = stmt.where(table.c.status.notin_([Status.RESOLVED.value, Status.CLOSED.value]))
    if q.priorities:
        stmt = stmt.where(table.c.priority.in_(list(q.priorities)))
    if q.assignee_id:
        stmt = stmt.where(table.c.assignee_id == q.assignee_id)
    if q.text:
        needle = q.text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{needle}%"
        stmt = stmt.where(
            or_(
                func.lower(table.c.title).like(pattern, escape="\\"),
                func.lower(table.c.description).like(pattern, escape="\\"),
            )
        )
    return stmt


def _event_row(record: RecordedEvent, recorded_at: datetime) -> dict[str, Any]:
    e = record.event
    return {
        "aggregate_id": e.number,
        "version": record.version,
        "type": e.type,
        "payload": ev.to_payload(e),
        "actor": record.actor,
        "correlation_id": record.correlation_id,
        "causation_id": record.causation_id,
        "occurred_at": e.occurred_at,
        "recorded_at": recorded_at,
    }


def record_from_row(row: Any) -> RecordedEvent:
    event = ev.from_payload(row.type, number=row.aggregate_id, occurred_at=row.occurred_at, payload=row.payload)
    return RecordedEvent(event, row.version, row.actor, row.correlation_id, row.causation_id)
