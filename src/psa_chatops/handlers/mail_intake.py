"""E-mail intake: one inbound mail becomes a ticket, a note on its ticket, or a recorded "ignored"/"suppressed",
in ONE unit of work together with the mail's idempotency key (``Message-ID``, or a hash of the raw bytes).

The reader marks the message processed on the server only after this commits; a crash in between leaves it
unmarked, and the next poll finds the key here and only marks it (``duplicate``). A reply threads onto its ticket
by the subject's tag or by ``In-Reply-To``/``References`` naming a mail we received or sent. Machine-made mail
(auto-replies, bounces, our own notifications) is recorded and ignored; a sender repeating one subject opens at
most ``max_new_tickets`` tickets per ``window``, the rest is recorded as suppressed. Commands on the first lines
(``#status=resolved``) are applied with the sender's permissions: a technician's, never a contact's.

The parsing happened before (``integrations.mail``): this module sees the result as ``InboundMail`` and decides.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from psa_chatops.core import commands as c
from psa_chatops.core import events as ev
from psa_chatops.core import ticket_decisions as decide
from psa_chatops.core.directory import Technician
from psa_chatops.core.errors import N_, DomainError, ForbiddenError, NotFoundError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.tickets import Ticket
from psa_chatops.core.tickets_state import Source, Status, Visibility
from psa_chatops.handlers import actors
from psa_chatops.handlers.messagebus import Deps
from psa_chatops.handlers.ports import Actor, UnitOfWork
from psa_chatops.handlers.tickets import sla_context
from psa_chatops.i18n import translate


class Outcome(StrEnum):
    TICKET = "ticket"
    NOTE = "note"
    IGNORED = "ignored"
    SUPPRESSED = "suppressed"
    DUPLICATE = "duplicate"  # the key was recorded before: nothing written, the reader only marks the message


@dataclass(frozen=True)
class InboundAttachment:
    name: str | None
    content_type: str
    size: int
    content: bytes
    content_id: str | None = None
    inline: bool = False
    refused: str | None = None  # a MailWarning code (too large, type not allowed): the content is not kept


@dataclass(frozen=True)
class InboundMail:
    """What the parser read out of one message, in the terms this use-case decides on."""

    key: str
    mailbox: str
    sender: str | None
    sender_name: str | None
    subject: str
    body: str
    quote: str = ""
    signature: str = ""
    customer_id: str | None = None
    contact_id: str | None = None
    priority: Priority | None = None
    asset_id: str | None = None
    tagged_ticket: int | None = None
    thread_ids: tuple[str, ...] = ()  # In-Reply-To first, then References newest first
    auto: str | None = None  # an ``AutoKind`` value, or "own" for a mail we sent ourselves
    commands: tuple[tuple[str, str], ...] = ()  # (CommandName value, value)
    problems: tuple[str, ...] = ()  # command lines the parser did not accept, already worded
    attachments: tuple[InboundAttachment, ...] = ()
    warnings: tuple[str, ...] = ()  # MailWarning codes


@dataclass(frozen=True)
class IntakePolicy:
    """Per mailbox: where unknown senders go and how much one sender may open."""

    default_customer_id: str | None = None
    queue: str | None = None
    max_new_tickets: int = 2
    window: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, kw_only=True)
class IntakeMail(c.Command):
    mail: InboundMail
    policy: IntakePolicy = field(default_factory=IntakePolicy)


@dataclass(frozen=True)
class MailRecord:
    message_key: str
    mailbox: str
    outcome: Outcome
    received_at: datetime
    reason: str | None = None
    ticket_number: int | None = None
    sender: str | None = None
    subject: str = ""
    rate_key: str | None = None
    quote: str = ""
    signature: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    created_by: str | None = None  # the actor: set by the store when it reads the record back


@dataclass(frozen=True)
class IntakeView:
    outcome: Outcome
    ticket_number: int | None = None
    reason: str | None = None


class MailStore(Protocol):
    """What the intake needs from storage, inside the unit of work's transaction."""

    async def get(self, message_key: str) -> MailRecord | None: ...

    async def insert(self, record: MailRecord, *, actor: str) -> None:
        """Raises ``ConcurrencyError`` when the key was recorded meanwhile (the bus retries: a duplicate then)."""

    async def ticket_for_messages(self, message_ids: Sequence[str]) -> int | None:
        """The ticket of the newest mail we received or sent among ``message_ids``."""

    async def recent_tickets(self, rate_key: str, *, since: datetime) -> int: ...

    async def add_attachments(
        self, number: int, message_key: str, attachments: Sequence[InboundAttachment], *, actor: str, now: datetime
    ) -> None: ...

    async def technician_by_email(self, address: str) -> Technician | None: ...


MailStoreFor = Callable[[UnitOfWork], MailStore]


async def intake_mail(cmd: IntakeMail, uow: UnitOfWork, deps: Deps, *, store_for: MailStoreFor) -> IntakeView:
    mail, _actor, now = cmd.mail, uow.context.actor, deps.clock.now()
    async with uow:
        store = store_for(uow)
        known = await store.get(mail.key)
        if known is not None:
            return IntakeView(Outcome.DUPLICATE, known.ticket_number, known.reason)
        record = MailRecord(
            message_key=mail.key,
            mailbox=mail.mailbox,
            outcome=Outcome.IGNORED,
            received_at=now,
            sender=mail.sender,
            subject=mail.subject[:998],
            rate_key=rate_key(mail.sender, mail.subject),
            quote=mail.quote,
            signature=mail.signature,
            details={"warnings": list(mail.warnings)} if mail.warnings else {},
        )
        if mail.auto is not None:
            return await _record(uow, store, record, reason=mail.auto)
        target = await _thread_target(uow, store, mail)
        if target is not None:
            return await _note(uow, store, deps, cmd, record, target, now)
        return await _open(uow, store, deps, cmd, record, now)


def rate_key(sender: str | None, subject: str) -> str:
    """Sender and subject without reply prefixes, tags and case: "Re: AW: Drucker" repeats "drucker"."""
    cleaned = re.sub(r"^(?:\s*(?:re|aw|fw|fwd|wg|antw|sv|vs)\s*(?:\[\d+\])?\s*:\s*)+", "", subject, flags=re.I)
    cleaned = " ".join(re.sub(r"\[[^\]]*#\s*\d+\]", " ", cleaned).lower().split())
    return hashlib.sha256(f"{(sender or '').lower()}\n{cleaned}".encode()).hexdigest()


async def _record(
    uow: UnitOfWork, store: MailStore, record: MailRecord, *, reason: str, outcome: Outcome = Outcome.IGNORED
) -> IntakeView:
    done = _with(record, outcome=outcome, reason=reason)
    await store.insert(done, actor=uow.context.actor.id)
    await uow.commit()
    return IntakeView(outcome, None, reason)


async def _thread_target(uow: UnitOfWork, store: MailStore, mail: InboundMail) -> Ticket | None:
    """The ticket this mail continues: the subject's tag first, then the thread headers. A tag naming a ticket
    that does not exist starts a new ticket (a typo must not lose the mail)."""
    candidates: list[int] = []
    if mail.tagged_ticket is not None:
        candidates.append(mail.tagged_ticket)
    if mail.thread_ids:
        threaded = await store.ticket_for_messages(mail.thread_ids)
        if threaded is not None:
            candidates.append(threaded)
    for number in candidates:
        try:
            ticket = await uow.tickets.get(number)
        except NotFoundError:
            continue
        if ticket.status is not Status.CLOSED:
            return ticket
    return None


async def _note(
    uow: UnitOfWork, store: MailStore, deps: Deps, cmd: IntakeMail, record: MailRecord, ticket: Ticket, now: datetime
) -> IntakeView:
    """The reply first, then what its commands change, computed on the ticket after the reply (one append)."""
    mail, actor = cmd.mail, uow.context.actor
    technician = actors.acts_as_technician(actor) and (
        actor.technician is None or actor.technician.can_see_customer(ticket.customer_id)
    )
    trusted = technician or (actor.contact is not None and actor.contact.customer_id == ticket.customer_id)
    locale = (await uow.directory.customer(ticket.customer_id)).locale
    visibility = Visibility.PUBLIC if trusted else Visibility.INTERNAL
    commands = [(name, value) for name, value in mail.commands if name != "visibility"]
    if technician:
        visibility = next((Visibility(v) for n, v in mail.commands if n == "visibility"), visibility)
    note = c.AddNote(number=ticket.number, body=_note_body(mail, trusted=trusted, locale=locale), visibility=visibility)
    events = decide.add_note(ticket, note, author_id=actor.id, now=now)
    if not actors.acts_as_technician(actor):  # a customer's reply is no first response by us
        events = [e for e in events if not isinstance(e, ev.FirstResponseMet)]
    problems = list(mail.problems)
    if technician:
        for name, value in commands:
            try:
                events += await _command_events(uow, store, ticket.evolved(events), name, value, now, locale)
            except DomainError as exc:
                problems.append(translate(exc.template, "en", **exc.params))
    elif mail.commands:
        problems.append(translate(N_("Only technicians can use e-mail commands; they were not applied."), "en"))
    details = {**record.details, **({"problems": problems} if problems else {})}
    done = _with(record, outcome=Outcome.NOTE, ticket_number=ticket.number, details=details)
    if not trusted:
        done = _with(done, reason="unverified_sender")
    await store.insert(done, actor=actor.id)
    await uow.tickets.append(ticket, events)
    await store.add_attachments(ticket.number, mail.key, mail.attachments, actor=actor.id, now=now)
    await uow.commit()
    return IntakeView(Outcome.NOTE, ticket.number, done.reason)


async def _command_events(
    uow: UnitOfWork, store: MailStore, ticket: Ticket, name: str, value: str, now: datetime, locale: str
) -> list[ev.Event]:
    actor = uow.context.actor
    if name == "status":
        sla = await sla_context(uow, ticket.customer_id)
        resolution = translate(N_("Resolved by e-mail."), locale) if value in ("resolved", "closed") else None
        return decide.change_status(ticket, Status(value), now=now, sla=sla, resolution=resolution)
    if name == "priority":
        sla = await sla_context(uow, ticket.customer_id)
        return decide.change_priority(ticket, Priority(value), now=now, sla=sla)
    if name == "assign":
        tech = await _technician(uow, store, value)
        actors.ensure_may_assign(actor, tech.id)
        if not tech.can_see_customer(ticket.customer_id):
            raise ForbiddenError(N_("{name} does not work for this ticket's customer."), name=tech.name)
        return decide.assign_ticket(ticket, c.AssignTicket(number=ticket.number, assignee_id=tech.id), now=now)
    return []


async def _technician(uow: UnitOfWork, store: MailStore, value: str) -> Technician:
    if "@" in value:
        found = await store.technician_by_email(value)
        if found is None:
            raise NotFoundError(N_("Technician {id} does not exist."), id=value)
        return found
    return await uow.directory.technician(value)


def _note_body(mail: InboundMail, *, trusted: bool, locale: str) -> str:
    text = mail.body.strip() or translate(N_("(The e-mail has no text.)"), locale)
    if not trusted:
        head = N_("E-mail from {sender}, who is not a contact of this ticket's customer:")
        text = translate(head, locale, sender=mail.sender or "?") + "\n\n" + text
    return text[: decide.MAX_NOTE]


async def _open(
    uow: UnitOfWork, store: MailStore, deps: Deps, cmd: IntakeMail, record: MailRecord, now: datetime
) -> IntakeView:
    mail, policy, actor = cmd.mail, cmd.policy, uow.context.actor
    if record.rate_key is not None and policy.max_new_tickets > 0:
        opened = await store.recent_tickets(record.rate_key, since=now - policy.window)
        if opened >= policy.max_new_tickets:
            return await _record(uow, store, record, reason="rate_limited", outcome=Outcome.SUPPRESSED)
    customer_id, triage = mail.customer_id, False
    if customer_id is None or not _may_open_for(actor, customer_id):
        customer_id = policy.default_customer_id
    if customer_id is None:
        customer_id, triage = deps.alert_policy.triage_customer_id, True
        if not await uow.alerts.ensure_triage_customer(customer_id):  # the shared triage queue
            raise NotFoundError(N_("Customer {id} does not exist."), id=customer_id)
    contact_id = mail.contact_id if mail.customer_id == customer_id else None
    asset_id = mail.asset_id if mail.customer_id == customer_id else None
    locale = (await uow.directory.customer(customer_id)).locale
    tags = ("email", *((f"queue:{policy.queue}",) if policy.queue else ()), *(("triage",) if triage else ()))
    command = c.OpenTicket(
        title=_title(mail, locale),
        customer_id=customer_id,
        description=(mail.body.strip() or translate(N_("(The e-mail has no text.)"), locale))[: decide.MAX_NOTE],
        priority=mail.priority or Priority.MEDIUM,
        source=Source.EMAIL,
        contact_id=contact_id,
        asset_id=asset_id,
        tags=tags,
    )
    number = await uow.tickets.next_number()
    done = _with(record, outcome=Outcome.TICKET, ticket_number=number, reason="triage" if triage else None)
    await store.insert(done, actor=actor.id)  # claims the key first
    sla = await sla_context(uow, customer_id)
    ticket = await uow.tickets.append(None, decide.open_ticket(command, number=number, now=now, sla=sla))
    await store.add_attachments(ticket.number, mail.key, mail.attachments, actor=actor.id, now=now)
    await uow.commit()
    return IntakeView(Outcome.TICKET, ticket.number, done.reason)


def _may_open_for(actor: Actor, customer_id: str) -> bool:
    return actor.contact is None or actor.contact.customer_id == customer_id


def _title(mail: InboundMail, locale: str) -> str:
    subject = " ".join(mail.subject.split())
    if not subject:
        first = next((line.strip() for line in mail.body.splitlines() if line.strip()), "")
        subject = first or translate(N_("E-mail from {sender}"), locale, sender=mail.sender or "?")
    if len(subject) > decide.MAX_TITLE:
        subject = subject[: decide.MAX_TITLE - 1].rstrip() + "…"
    return subject


def _with(record: MailRecord, **changes: Any) -> MailRecord:
    return replace(record, **changes)
