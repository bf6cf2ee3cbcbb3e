"""Inbound mail records (``mail_messages``), ticket attachments and mailbox cursors.

The unique ``message_key`` is what makes the intake exactly-once: the record is inserted in the transaction that
opens the ticket or adds the note, so either both exist or neither. Two processes taking the same message at once
both try the insert; the second fails the unique key, which becomes a ``ConcurrencyError``, and the bus re-runs it
on fresh state, where it is a duplicate.

Attachments are kept in the database (``ticket_attachments.content``) up to the mailbox's attachment policy size
limit: one transaction covers the ticket and its files, backups cover both, and there is no directory to share
between replicas. Larger or disallowed files get a row without content that says why (``refused``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core.directory import Asset, Contact, Customer, Technician
from psa_chatops.core.errors import N_, ConcurrencyError
from psa_chatops.handlers.mail_intake import InboundAttachment, MailRecord, MailStore, Outcome
from psa_chatops.handlers.ports import Actor, UnitOfWork
from psa_chatops.storage import mappers as m
from psa_chatops.storage import tables as t
from psa_chatops.storage.directory import read_version
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

MESSAGES = t.table_of(t.MailMessageRow)
ATTACHMENTS = t.table_of(t.TicketAttachmentRow)
CURSORS = t.table_of(t.MailCursorRow)
TECHNICIANS = t.table_of(t.TechnicianRow)
CONTACTS = t.table_of(t.ContactRow)
CUSTOMERS = t.table_of(t.CustomerRow)
ASSETS = t.table_of(t.AssetRow)
MAIL_CHANNEL = "mail"


class SqlMailStore:
    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def get(self, message_key: str) -> MailRecord | None:
        row = (await self._conn.execute(select(MESSAGES).where(MESSAGES.c.message_key == message_key))).first()
        return None if row is None else record_from_row(row)

    async def insert(self, record: MailRecord, *, actor: str) -> None:
        values = {
            "message_key": record.message_key,
            "mailbox": record.mailbox[:255],
            "outcome": record.outcome.value,
            "reason": record.reason,
            "ticket_number": record.ticket_number,
            "sender": (record.sender or None) and record.sender[:320],
            "subject": record.subject,
            "rate_key": record.rate_key,
            "quote": record.quote,
            "signature": record.signature,
            "details": record.details,
            "received_at": record.received_at,
            "created_by": actor,
        }
        try:
            await self._conn.execute(insert(MESSAGES), values)
        except IntegrityError as exc:  # the same message, committed by another transaction meanwhile
            raise ConcurrencyError(
                N_("The e-mail {id} arrived twice at the same moment."), id=record.message_key
            ) from exc

    async def ticket_for_messages(self, message_ids: Sequence[str]) -> int | None:
        ids = [i for i in dict.fromkeys(message_ids) if i][:100]
        if not ids:
            return None
        query = (
            select(MESSAGES.c.ticket_number)
            .where(MESSAGES.c.message_key.in_(ids), MESSAGES.c.ticket_number.is_not(None))
            .order_by(MESSAGES.c.id.desc())
            .limit(1)
        )
        received = (await self._conn.execute(query)).scalar()
        if received is not None:
            return int(received)
        return await self.ticket_for_sent_messages(ids)

    async def ticket_for_sent_messages(self, message_ids: Sequence[str]) -> int | None:
        """The ticket of a notification we sent (``mail_sent``, written by the outgoing mail notifier)."""
        sent = t.table_of(t.MailSentRow)
        wanted = [*message_ids, *(f"<{i}>" for i in message_ids)]  # stored with or without angle brackets
        query = select(sent.c.ticket_number).where(sent.c.message_id.in_(wanted), sent.c.ticket_number.is_not(None))
        found = (await self._conn.execute(query.limit(1))).scalar()
        return None if found is None else int(found)

    async def recent_tickets(self, rate_key: str, *, since: datetime) -> int:
        query = select(func.count()).where(
            MESSAGES.c.rate_key == rate_key,
            MESSAGES.c.received_at >= since,
            MESSAGES.c.outcome == Outcome.TICKET.value,
        )
        return int((await self._conn.execute(query)).scalar() or 0)

    async def add_attachments(
        self, number: int, message_key: str, attachments: Sequence[InboundAttachment], *, actor: str, now: datetime
    ) -> None:
        rows = [attachment_row(number, message_key, a, actor=actor, now=now) for a in attachments]
        if rows:
            await self._conn.execute(insert(ATTACHMENTS), rows)

    async def technician_by_email(self, address: str) -> Technician | None:
        query = select(TECHNICIANS).where(func.lower(TECHNICIANS.c.email) == address.lower())
        row = (await self._conn.execute(query)).first()
        return None if row is None else m.technician_from_row(row)


def mail_store(uow: UnitOfWork) -> MailStore:
    """The intake's store on the unit of work's own connection (``SqlUnitOfWork.connection``)."""
    connection: SqlConnection = getattr(uow, "connection")  # noqa: B009 - not part of the UnitOfWork port
    return SqlMailStore(connection)


def attachment_row(
    number: int, message_key: str, attachment: InboundAttachment, *, actor: str, now: datetime
) -> dict[str, Any]:
    kept = attachment.refused is None
    return {
        "ticket_number": number,
        "message_key": message_key,
        "name": attachment.name,
        "content_type": attachment.content_type[:255],
        "size": attachment.size,
        "content_id": attachment.content_id,
        "inline": attachment.inline,
        "sha256": hashlib.sha256(attachment.content).hexdigest() if kept else None,
        "content": attachment.content if kept else None,
        "refused": attachment.refused,
        "created_at": now,
        "created_by": actor,
    }


def record_from_row(row: Any) -> MailRecord:
    return MailRecord(
        message_key=row.message_key,
        mailbox=row.mailbox,
        outcome=Outcome(row.outcome),
        received_at=row.received_at,
        reason=row.reason,
        ticket_number=row.ticket_number,
        sender=row.sender,
        subject=row.subject,
        rate_key=row.rate_key,
        quote=row.quote,
        signature=row.signature,
        details=dict(row.details or {}),
        created_by=row.created_by,
    )


# --- outside the command path: what the readers need before and after the unit of work ----------------------------


async def is_recorded(engine: AsyncEngine, message_key: str) -> bool:
    """A cheap read before fetching a whole message again (the intake checks again in its transaction)."""
    async with read_connection(engine) as conn:
        query = select(MESSAGES.c.id).where(MESSAGES.c.message_key == message_key)
        return (await conn.execute(query)).first() is not None


async def directory_version(engine: AsyncEngine) -> int:
    async with read_connection(engine) as conn:
        return await read_version(conn)


@dataclass(frozen=True)
class MailPeople:
    """What sender and asset matching reads, loaded once per directory version."""

    customers: list[Customer]
    contacts: list[Contact]
    assets: list[Asset]
    technicians: list[Technician]

    def actor(self, address: str | None) -> Actor:
        """The sender as actor: the technician or contact with this address, else ``mail:<address>``."""
        external = (address or "unknown").lower()
        tech = next((t for t in self.technicians if t.email.lower() == external), None)
        if tech is not None:
            return Actor(MAIL_CHANNEL, external, technician=tech, locale=tech.locale, timezone=tech.timezone)
        contact = next((c for c in self.contacts if c.email.lower() == external), None)
        if contact is not None:
            return Actor(MAIL_CHANNEL, external, contact=contact, locale=contact.locale)
        return Actor(MAIL_CHANNEL, external)


async def mail_directory(engine: AsyncEngine) -> MailPeople:
    async with read_connection(engine) as conn:
        return MailPeople(
            customers=[m.customer_from_row(r) for r in (await conn.execute(select(CUSTOMERS))).all()],
            contacts=[m.contact_from_row(r) for r in (await conn.execute(select(CONTACTS))).all()],
            assets=[m.asset_from_row(r) for r in (await conn.execute(select(ASSETS))).all()],
            technicians=[m.technician_from_row(r) for r in (await conn.execute(select(TECHNICIANS))).all()],
        )


async def attachments_of(engine: AsyncEngine, number: int) -> list[dict[str, Any]]:
    async with read_connection(engine) as conn:
        query = select(ATTACHMENTS).where(ATTACHMENTS.c.ticket_number == number).order_by(ATTACHMENTS.c.id)
        return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def records(engine: AsyncEngine, *, limit: int = 100) -> list[MailRecord]:
    """Newest first: what the intake decided, for ``psa mail`` and the tests."""
    async with read_connection(engine) as conn:
        query = select(MESSAGES).order_by(MESSAGES.c.id.desc()).limit(limit)
        return [record_from_row(r) for r in (await conn.execute(query)).all()]


class MailCursorStore:
    """Where a reader stands when the server keeps no state for us (Graph's delta link), one row per mailbox."""

    def __init__(self, engine: AsyncEngine, *, writer: SqliteWriter | None = None) -> None:
        self._engine, self._writer = engine, writer

    async def get(self, mailbox: str) -> str | None:
        async with read_connection(self._engine) as conn:
            value = (await conn.execute(select(CURSORS.c.cursor).where(CURSORS.c.mailbox == mailbox))).scalar()
        return None if value is None else str(value)

    async def put(self, mailbox: str, cursor: str, *, now: datetime) -> None:
        values = {"cursor": cursor, "updated_at": now, "updated_by": f"mail:{mailbox}"}

        async def work(conn: SqlConnection) -> None:
            changed = await conn.execute(update(CURSORS).where(CURSORS.c.mailbox == mailbox).values(**values))
            if changed.rowcount == 0:
                await conn.execute(insert(CURSORS).values(mailbox=mailbox, **values))

        await in_transaction(self._engine, self._writer, work)
