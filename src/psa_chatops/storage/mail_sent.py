"""Outgoing mail bookkeeping: the ``Message-ID`` of every mail we sent (``mail_sent``), and the reads and outbox
writes of the scheduled reports.

``mail_sent`` serves three readers: the e-mail notifier (a message id already recorded was sent by an earlier
attempt, so a retry does not send it again; the earlier ids of a ticket and recipient become ``References``),
intake (a reply whose ``In-Reply-To``/``References`` names one of our ids belongs to that ticket: ``ticket_for``)
and operators. Report mails are outbox rows without a ticket; their idempotency key names the report, its period
and the recipient, so a run repeated after a crash (or by a second replica) adds nothing that is already queued.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core.tickets_state import Status
from psa_chatops.handlers.reports import ReportInputs, ReportMail
from psa_chatops.storage import mappers as m
from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

SENT = t.table_of(t.MailSentRow)
OUTBOX = t.table_of(t.OutboxRow)
REFERENCES_KEPT = 20  # a long thread references its first and latest mails, not every one (header length)
_REPORT_NAMESPACE = uuid.UUID("3f6c1b52-0d8e-4b7a-9a51-6e2c4d7f9b13")


@dataclass(frozen=True)
class SentMail:
    message_id: str  # without angle brackets
    ticket_number: int | None
    recipient: str
    event_type: str
    sent_at: datetime


class MailSentStore:
    """``mail_sent`` reads and writes; writes go through the SQLite writer thread when there is one."""

    def __init__(self, engine: AsyncEngine, *, writer: SqliteWriter | None = None) -> None:
        self._engine, self._writer = engine, writer

    async def was_sent(self, message_id: str) -> bool:
        async with read_connection(self._engine) as conn:
            query = select(SENT.c.message_id).where(SENT.c.message_id == message_id)
            return (await conn.execute(query)).first() is not None

    async def thread(self, ticket_number: int, recipient: str) -> list[str]:
        """The ids of earlier mails about the ticket to this recipient, oldest first (the first one and the latest
        ``REFERENCES_KEPT - 1``)."""
        query = (
            select(SENT.c.message_id)
            .where(SENT.c.ticket_number == ticket_number, SENT.c.recipient == recipient.lower())
            .order_by(SENT.c.sent_at, SENT.c.message_id)
        )
        async with read_connection(self._engine) as conn:
            ids = [str(i) for i in (await conn.execute(query)).scalars()]
        return ids if len(ids) <= REFERENCES_KEPT else [ids[0], *ids[-(REFERENCES_KEPT - 1) :]]

    async def record(self, mail: SentMail) -> None:
        """Remember a sent mail; recording the same id twice keeps the first."""

        async def work(conn: SqlConnection) -> None:
            exists = select(SENT.c.message_id).where(SENT.c.message_id == mail.message_id)
            if (await conn.execute(exists)).first() is None:
                await conn.execute(insert(SENT).values(**_row(mail)))

        await in_transaction(self._engine, self._writer, work)

    async def ticket_for(self, message_ids: Iterable[str]) -> int | None:
        """The ticket of the newest of ``message_ids`` we sent (the ids of a reply's ``In-Reply-To`` and
        ``References``, with or without angle brackets), or None."""
        wanted = sorted({i.strip().strip("<>") for i in message_ids if i.strip().strip("<>")})
        if not wanted:
            return None
        query = (
            select(SENT.c.ticket_number)
            .where(SENT.c.message_id.in_(wanted), SENT.c.ticket_number.is_not(None))
            .order_by(SENT.c.sent_at.desc())
            .limit(1)
        )
        async with read_connection(self._engine) as conn:
            number = (await conn.execute(query)).scalar()
        return None if number is None else int(number)


def _row(mail: SentMail) -> dict[str, Any]:
    return {
        "message_id": mail.message_id,
        "ticket_number": mail.ticket_number,
        "recipient": mail.recipient.lower(),
        "event_type": mail.event_type,
        "sent_at": mail.sent_at,
    }


# --- scheduled reports ---------------------------------------------------------------------------------------------


async def load_report_inputs(engine: AsyncEngine, *, since: datetime) -> ReportInputs:
    tickets_t = t.table_of(t.TicketRow)
    done = [Status.RESOLVED.value, Status.CLOSED.value]
    recent = (
        select(tickets_t)
        .where(tickets_t.c.status.not_in(done) | (tickets_t.c.created_at >= since) | (tickets_t.c.updated_at >= since))
        .order_by(tickets_t.c.number)
    )
    async with read_connection(engine) as conn:
        technicians = await _all(conn, t.TechnicianRow, m.technician_from_row)
        customers = await _all(conn, t.CustomerRow, m.customer_from_row)
        contacts = await _all(conn, t.ContactRow, m.contact_from_row)
        policies = await _all(conn, t.SlaPolicyRow, m.policy_from_row)
        tickets = [m.ticket_from_row(r, []) for r in (await conn.execute(recent)).all()]
    return ReportInputs(
        tuple(technicians), tuple(customers), tuple(contacts), {p.id: p for p in policies}, tuple(tickets)
    )


async def _all(conn: Any, model: Any, mapper: Any) -> list[Any]:
    table = t.table_of(model)
    return [mapper(r) for r in (await conn.execute(select(table).order_by(table.c.id))).all()]


def report_key(report: str, period: str, destination: str) -> str:
    return str(uuid.uuid5(_REPORT_NAMESPACE, f"{report}|{period}|{destination.lower()}"))


async def enqueue_reports(
    engine: AsyncEngine, writer: SqliteWriter | None, reports: Sequence[ReportMail], now: datetime
) -> int:
    """Queue the report mails in one transaction; those already queued for the same period are skipped. Returns
    how many rows were added."""
    keyed = {report_key(r.report, r.period, r.destination): r for r in reports}
    if not keyed:
        return 0

    async def work(conn: SqlConnection) -> int:
        known = select(OUTBOX.c.idempotency_key).where(OUTBOX.c.idempotency_key.in_(sorted(keyed)))
        existing = {str(row[0]) for row in (await conn.execute(known)).all()}
        rows = [_outbox_row(key, report, now) for key, report in keyed.items() if key not in existing]
        if rows:
            await conn.execute(insert(OUTBOX), rows)
        return len(rows)

    return await in_transaction(engine, writer, work)


def _outbox_row(key: str, report: ReportMail, now: datetime) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "destination": report.destination,
        "event_type": report.event_type,
        "ticket_number": None,
        "payload": report.payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
