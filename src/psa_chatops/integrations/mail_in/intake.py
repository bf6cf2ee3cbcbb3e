"""From raw RFC 822 bytes to the intake use-case: the idempotency key, parsing against the directory, the sender
as actor, and one ``IntakeMail`` through the bus (its handler is registered on the bus it is given).

The directory snapshot (customers' mail domains, contacts, assets) is reloaded only when the directory version
changes, and the version is read at most every ``DIRECTORY_CHECK_SECONDS``: a burst of mail costs one small read
per message (is its key recorded?), not four table scans; the sender's technician or contact record comes
from the snapshot too.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.handlers.mail_intake import (
    InboundAttachment,
    InboundMail,
    IntakeMail,
    IntakePolicy,
    IntakeView,
    Outcome,
    intake_mail,
)
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import CommandContext
from psa_chatops.integrations.mail import warnings as w
from psa_chatops.integrations.mail.extract import ExtractConfig, MailDirectory, ParsedMail, parse_mail
from psa_chatops.integrations.mail.message import AttachmentPolicy, attachment_contents
from psa_chatops.integrations.mail_in.config import MailboxConfig
from psa_chatops.storage import mail_messages as store

logger = logging.getLogger(__name__)
DIRECTORY_CHECK_SECONDS = 2.0  # a new contact is matched at most this much later
OWN_MARKERS = (b"x-psa-chatops:",)  # set by our outgoing mail (integrations/smtp/message.py PSA_HEADER)


def message_key(message_id: str | None, raw: bytes) -> str:
    """``Message-ID`` without brackets, or ``sha256:<hex>`` of the bytes when the mail has none."""
    if message_id and message_id.strip():
        return message_id.strip().strip("<>")[:998]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def install(bus: MessageBus) -> None:
    """Register the intake's handler on ``bus`` (its store lives on the unit of work's own connection)."""
    bus.handlers.setdefault(IntakeMail, partial(intake_mail, store_for=store.mail_store))


@dataclass
class _Snapshot:
    version: int
    people: store.MailPeople
    checked: float  # time.monotonic() of the last version check


class MailIntake:
    """Turns one message of one mailbox into a ticket, a note or a record; safe to call twice for one message."""

    def __init__(self, engine: AsyncEngine, bus: MessageBus) -> None:
        self._engine, self._bus = engine, bus
        self._snapshot: _Snapshot | None = None
        self._lock = asyncio.Lock()
        install(bus)

    async def take(self, raw: bytes, mailbox: MailboxConfig) -> IntakeView:
        people = await self._people()
        directory = MailDirectory(tuple(people.customers), tuple(people.contacts), tuple(people.assets))
        config = ExtractConfig(
            ticket_tag=mailbox.ticket_tag, attachments=AttachmentPolicy(max_bytes=mailbox.max_attachment_bytes)
        )
        parsed = parse_mail(raw, directory, config)
        key = message_key(parsed.message_id, raw)
        if await store.is_recorded(self._engine, key):  # a re-poll after a crash: no attachment bytes, no write
            return IntakeView(Outcome.DUPLICATE)
        mail = inbound(parsed, raw, key=key, mailbox=mailbox)
        context = CommandContext(actor=people.actor(parsed.sender_address), correlation_id=uuid.uuid4().hex)
        policy = IntakePolicy(
            default_customer_id=mailbox.customer,
            queue=mailbox.queue,
            max_new_tickets=mailbox.max_new_tickets,
            window=timedelta(seconds=mailbox.rate_window_seconds),
        )
        view: IntakeView = await self._bus.handle(IntakeMail(mail=mail, policy=policy), context)
        logger.info(
            "mail %s from mailbox %s: %s%s",
            key,
            mailbox.label,
            view.outcome.value,
            f" #{view.ticket_number}" if view.ticket_number else "",
        )
        return view

    async def _people(self) -> store.MailPeople:
        async with self._lock:
            now = time.monotonic()
            if self._snapshot is not None and now - self._snapshot.checked < DIRECTORY_CHECK_SECONDS:
                return self._snapshot.people
            version = await store.directory_version(self._engine)
            if self._snapshot is None or self._snapshot.version != version:
                self._snapshot = _Snapshot(version, await store.mail_directory(self._engine), now)
            self._snapshot.checked = now
            return self._snapshot.people


def inbound(parsed: ParsedMail, raw: bytes, *, key: str, mailbox: MailboxConfig) -> InboundMail:
    """The parser's result in the use-case's terms, with the attachments' bytes."""
    contents = attachment_contents(raw) if parsed.attachments else []
    attachments = tuple(
        InboundAttachment(
            name=a.name,
            content_type=a.content_type,
            size=a.size,
            content=contents[i] if i < len(contents) else b"",
            content_id=a.content_id,
            inline=a.inline,
            refused=a.violations[0].code if a.violations else None,
        )
        for i, a in enumerate(parsed.attachments)
    )
    thread = tuple(dict.fromkeys(i for i in (parsed.in_reply_to, *reversed(parsed.references)) if i))
    return InboundMail(
        key=key,
        mailbox=mailbox.label,
        sender=parsed.sender_address,
        sender_name=parsed.sender_name,
        subject=parsed.subject,
        body=parsed.body,
        quote=parsed.quote,
        signature=parsed.signature,
        customer_id=parsed.customer_id,
        contact_id=parsed.contact_id,
        priority=parsed.priority,
        asset_id=parsed.asset_id,
        tagged_ticket=parsed.ticket_number,
        thread_ids=tuple(i.strip("<>") for i in thread),
        auto=_machine_made(parsed, mailbox, raw),
        commands=tuple((cmd.name.value, cmd.value) for cmd in parsed.commands),
        problems=tuple(p.text() for p in parsed.command_problems),
        attachments=attachments,
        warnings=tuple(dict.fromkeys(x.code for x in parsed.warnings if x.code != w.NO_BODY)),
    )


def _machine_made(parsed: ParsedMail, mailbox: MailboxConfig, raw: bytes) -> str | None:
    """An auto-reply, bounce or bulk mail (``autoreply``), or one of our own notifications ("own": it comes from
    one of our addresses, or carries the header our outgoing mail sets in its top-level header block)."""
    own = {a.lower() for a in mailbox.own_addresses} | {f"{mailbox.user}@{mailbox.host}".lower(), mailbox.user.lower()}
    if parsed.sender_address and parsed.sender_address.lower() in own:
        return "own"
    head = raw[:32768].replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].lower()
    if any(head.startswith(marker) or b"\n" + marker in head for marker in OWN_MARKERS):
        return "own"
    return parsed.auto.value if parsed.auto is not None else None
