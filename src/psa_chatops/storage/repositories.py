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
    .values(value=COUNTERS.c.value + bindparam("w_by"))
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
        return (await self.next_numbers(1))[0]

    async def next_numbers(self, count: int) -> list[int]:
        """``count`` consecutive ticket numbers in one statement (an alert storm opens many tickets at once)."""
        row = (await self._conn.execute(BUMP_COUNTER, {"w_name": TICKET_COUNTER, "w_by": count})).first()
        if row is not None:
            return list(range(int(row[0]) - count + 1, int(row[0]) + 1))
        last = FIRST_TICKET_NUMBER + count - 1
        try:
            await self._conn.execute(insert(COUNTERS).values(name=TICKET_COUNTER, value=last))
        except IntegrityError as exc:  # another first ticket took this number meanwhile: the bus retries
            raise ConcurrencyError(
                N_("Ticket #{number} was changed by someone else; please try again."), number=FIRST_TICKET_NUMBER
            ) from exc
        return list(range(FIRST_TICKET_NUMBER, last + 1))

    async def append(self, ticket: Ticket | None, events: Sequence[ev.Event]) -> Ticket:
        """Append events at the ticket's version (optimistic concurrency) and update the projection."""
        if not events:
            raise ValueError("append needs at least one event")
        expected = ticket.version if ticket else 0
        records = _recorded(events, expected, self._context())
        await self._insert_events(records, events[0].number)
        updated = _fold(ticket, events)
        await self._project(updated, expected)
        await self._insert_notes(events)
        for record in records:
            self._collect(record, updated)
        return updated

    async def open_many(self, batch: Sequence[tuple[CommandContext, Sequence[ev.Event]]]) -> list[Ticket]:
        """New tickets, each with the context it is opened for: one INSERT of all their events and one of all
        their rows, where ``append`` would take two statements per ticket."""
        if not batch or not all(events for _, events in batch):
            raise ValueError("open_many needs at least one ticket, each with at least one event")
        opened = [(_recorded(events, 0, ctx), Ticket.replay(events)) for ctx, events in batch]
        await self._insert_events([r for records, _ in opened for r in records], batch[0][1][0].number)
        await self._conn.execute(INSERT_TICKET, [m.ticket_to_row(ticket) for _, ticket in opened])
        await self._insert_notes([e for _, events in batch for e in events])
        for records, ticket in opened:
            for record in records:
                self._collect(record, ticket)
        return [ticket for _, ticket in opened]

    async def _insert_events(self, records: Sequence[RecordedEvent], number: int) -> None:
        recorded_at = self._now()
        try:
            await self._conn.execute(INSERT_EVENTS, [_event_row(r, recorded_at) for r in records])
        except IntegrityError as exc:
            raise ConcurrencyError(
                N_("Ticket #{number} was changed by someone else; please try again."), number=number
            ) from exc

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


def _recorded(events: Sequence[ev.Event], expected: int, ctx: CommandContext) -> list[RecordedEvent]:
    return [
        RecordedEvent(e, expected + i + 1, ctx.actor.id, ctx.correlation_id, ctx.causation_id, ev.to_payload(e))
        for i, e in enumerate(events)
    ]


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
        "payload": record.data,
        "actor": record.actor,
        "correlation_id": record.correlation_id,
        "causation_id": record.causation_id,
        "occurred_at": e.occurred_at,
        "recorded_at": recorded_at,
    }


def record_from_row(row: Any) -> RecordedEvent:
    event = ev.from_payload(row.type, number=row.aggregate_id, occurred_at=row.occurred_at, payload=row.payload)
    return RecordedEvent(event, row.version, row.actor, row.correlation_id, row.causation_id)
