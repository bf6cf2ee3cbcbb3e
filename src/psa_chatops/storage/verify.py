"""``psa events verify``: rebuild every ticket from its events and compare it with the stored projection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core.tickets import Ticket
from psa_chatops.storage import mappers as m
from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.repositories import record_from_row

EVENTS, TICKETS, NOTES = t.table_of(t.TicketEventRow), t.table_of(t.TicketRow), t.table_of(t.TicketNoteRow)


@dataclass(frozen=True)
class Drift:
    number: int
    field: str
    projected: Any
    rebuilt: Any


async def aggregate_ids(engine: AsyncEngine) -> list[int]:
    async with read_connection(engine) as conn:
        ids = {int(n) for n in (await conn.execute(select(EVENTS.c.aggregate_id).distinct())).scalars()}
        ids |= {int(n) for n in (await conn.execute(select(TICKETS.c.number))).scalars()}
    return sorted(ids)


async def _histories(
    engine: AsyncEngine, numbers: list[int]
) -> AsyncIterator[tuple[int, Ticket | None, Any, list[Any]]]:
    async with read_connection(engine) as conn:
        for number in numbers:
            rows = (
                await conn.execute(select(EVENTS).where(EVENTS.c.aggregate_id == number).order_by(EVENTS.c.version))
            ).all()
            rebuilt = Ticket.replay(record_from_row(r).event for r in rows) if rows else None
            projected = (await conn.execute(select(TICKETS).where(TICKETS.c.number == number))).first()
            notes = list(
                (
                    await conn.execute(select(NOTES).where(NOTES.c.ticket_number == number).order_by(NOTES.c.note_id))
                ).all()
            )
            yield number, rebuilt, projected, notes


def compare(number: int, rebuilt: Ticket | None, projected: Any, notes: list[Any]) -> list[Drift]:
    if rebuilt is None or projected is None:
        return [Drift(number, "existence", projected is not None, rebuilt is not None)]
    stored = m.ticket_from_row(projected, notes)
    want, have = m.ticket_to_row(rebuilt), m.ticket_to_row(stored)
    drifts = [Drift(number, key, have[key], want[key]) for key in want if want[key] != have.get(key)]
    if [(n.id, n.body, n.visibility) for n in rebuilt.notes] != [(n.id, n.body, n.visibility) for n in stored.notes]:
        drifts.append(Drift(number, "notes", len(stored.notes), len(rebuilt.notes)))
    return drifts


async def verify(engine: AsyncEngine, *, progress: Callable[[int], None] | None = None) -> tuple[int, list[Drift]]:
    numbers = await aggregate_ids(engine)
    drifts: list[Drift] = []
    async for number, rebuilt, projected, notes in _histories(engine, numbers):
        drifts += compare(number, rebuilt, projected, notes)
        if progress:
            progress(1)
    return len(numbers), drifts
