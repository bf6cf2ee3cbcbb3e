"""IMAP intake against a real Dovecot: new tickets, replies by tag and by References, exactly once across a crash
and duplicate deliveries, loops, rate limits, attachments, malformed MIME, IDLE."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.handlers.mail_intake import Outcome
from psa_chatops.integrations.mail_in.config import MailboxConfig
from psa_chatops.integrations.mail_in.imap import ImapReader
from psa_chatops.integrations.mail_in.intake import MailIntake
from psa_chatops.integrations.mail_in.runner import MailboxRunner, drain
from psa_chatops.storage import mail_messages as store
from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.mail_sent import MailSentStore, SentMail
from tests.integrations.mail_in.conftest import corpus_mail
from tests.integrations.mail_in.dovecot import Dovecot

Runners = Callable[[MailboxConfig], MailboxRunner]
TICKETS = t.table_of(t.TicketRow)
NOTES = t.table_of(t.TicketNoteRow)


async def _tickets(engine: AsyncEngine) -> list[Any]:
    async with read_connection(engine) as conn:
        return list((await conn.execute(select(TICKETS).order_by(TICKETS.c.number))).all())


async def _notes(engine: AsyncEngine, number: int) -> list[Any]:
    async with read_connection(engine) as conn:
        query = select(NOTES).where(NOTES.c.ticket_number == number).order_by(NOTES.c.note_id)
        return list((await conn.execute(query)).all())


async def _flags(mailbox: MailboxConfig) -> list[str]:
    """The keywords of every message still in the folder, through a second IMAP session."""
    reader = ImapReader(mailbox)
    await reader.connect()
    try:
        response = await reader._live.uid("fetch", "1:*", "(FLAGS)")
        return [bytes(line).decode() for line in response.lines if b"FLAGS" in bytes(line)]
    finally:
        await reader.close()


async def test_new_mail_becomes_a_ticket_for_the_senders_customer_and_is_flagged_after(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], runner_for: Runners
) -> None:
    mailbox = mailbox_for()
    dovecot.deliver(
        corpus_mail(
            "talon/standard_replies/gmail.eml",
            From="Petra Kunde <petra@mueller-mb.de>",
            Subject="Drucker im 2. OG druckt nicht",
        )
    )

    result = await runner_for(mailbox).once()

    assert [v.outcome for v in result.taken] == [Outcome.TICKET]
    [ticket] = await _tickets(db)
    assert ticket.title == "Drucker im 2. OG druckt nicht"
    assert ticket.customer_id == "CUST-789"
    assert ticket.contact_id == "c-1"
    assert ticket.source == "email"
    assert ticket.description == "Hello"  # the quoted "On ... wrote: > Hi" is stripped
    [record] = await store.records(db)
    assert record.ticket_number == ticket.number
    assert record.created_by == "contact:c-1"
    assert "On Mon, Apr 2, 2012" in record.quote
    [flags] = await _flags(mailbox)
    assert "$PsaProcessed" in flags
    assert "\\Seen" in flags
    assert (await runner_for(mailbox).once()).taken == []  # flagged: not taken again


def _mail(
    message_id: str,
    *,
    sender: str = "Petra Kunde <petra@mueller-mb.de>",
    subject: str = "VPN geht nicht",
    body: str = "Hallo,\n\ndas VPN verbindet nicht mehr.\n\nGruss Petra\n",
    extra: str = "",
) -> bytes:
    head = f"From: {sender}\r\nTo: support@psa.test\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n{extra}"
    return (head + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode()


async def test_replies_by_tag_and_by_references_become_notes_on_the_ticket(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], runner_for: Runners
) -> None:
    mailbox = mailbox_for()
    dovecot.deliver(_mail("first@mueller-mb.de"))
    await runner_for(mailbox).once()
    [ticket] = await _tickets(db)
    dovecot.deliver(_mail("by-tag@mueller-mb.de", subject=f"AW: [#{ticket.number}] VPN", body="Geht wieder.\n"))
    references = "In-Reply-To: <first@mueller-mb.de>\r\nReferences: <first@mueller-mb.de>\r\n"
    dovecot.deliver(_mail("by-ref@mueller-mb.de", subject="Noch was", body="Und der Drucker?\n", extra=references))

    result = await runner_for(mailbox).once()

    assert [(v.outcome, v.ticket_number) for v in result.taken] == [(Outcome.NOTE, ticket.number)] * 2
    assert len(await _tickets(db)) == 1
    notes = await _notes(db, ticket.number)
    assert [(n.body, n.visibility, n.author_id) for n in notes] == [
        ("Geht wieder.", "public", "contact:c-1"),
        ("Und der Drucker?", "public", "contact:c-1"),
    ]


async def test_a_reply_to_our_notification_without_a_tag_is_a_note_on_its_ticket(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], runner_for: Runners
) -> None:
    """Threading by a mail we SENT (``mail_sent``, written by the outgoing notifier): the customer's client kept
    only ``In-Reply-To``, and changed the subject."""
    mailbox = mailbox_for()
    dovecot.deliver(_mail("first@mueller-mb.de"))
    await runner_for(mailbox).once()
    [ticket] = await _tickets(db)
    sent = SentMail("n-42.1@psa.example", ticket.number, "nina@mueller-mb.de", "TicketOpened", datetime.now(UTC))
    await MailSentStore(db).record(sent)
    reply = "In-Reply-To: <n-42.1@psa.example>\r\n"
    dovecot.deliver(_mail("reply@mueller-mb.de", subject="Danke", body="Passt so.\n", extra=reply))

    result = await runner_for(mailbox).once()

    assert [(v.outcome, v.ticket_number) for v in result.taken] == [(Outcome.NOTE, ticket.number)]
    assert [n.body for n in await _notes(db, ticket.number)] == ["Passt so."]


async def test_commands_apply_with_the_senders_permissions(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], runner_for: Runners
) -> None:
    mailbox = mailbox_for()
    dovecot.deliver(_mail("first@mueller-mb.de"))
    await runner_for(mailbox).once()
    [ticket] = await _tickets(db)
    subject = f"Re: [#{ticket.number}] VPN"
    dovecot.deliver(_mail("c1@mueller-mb.de", subject=subject, body="#assign=tom@msp.example\n\nBitte Tom.\n"))
    dovecot.deliver(
        _mail(
            "t1@msp.example",
            sender="Tom Technician <tom@msp.example>",
            subject=subject,
            body="#status=resolved\n#internal\n\nZertifikat erneuert.\n",
        )
    )

    await runner_for(mailbox).once()

    [after] = await _tickets(db)
    assert after.status == "resolved"
    assert after.assignee_id is None
    notes = await _notes(db, ticket.number)
    assert [(n.body, n.visibility, n.author_id) for n in notes] == [
        ("Bitte Tom.", "public", "contact:c-1"),
        ("Zertifikat erneuert.", "internal", "technician:tom"),
    ]
    refused = next(r for r in await store.records(db) if r.message_key == "c1@mueller-mb.de")
    assert refused.details["problems"] == ["Only technicians can use e-mail commands; they were not applied."]


class _CrashingReader(ImapReader):
    """Dies once right after the intake committed and before the message is marked: the worst moment."""

    crashed = False  # per instance once set

    async def mark(self, ref: str) -> None:
        if not self.crashed:
            self.crashed = True
            raise ConnectionResetError("the process died here")
        await super().mark(ref)


async def test_a_crash_between_commit_and_mark_creates_no_second_ticket_and_the_mail_is_marked_later(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], intake: MailIntake
) -> None:
    mailbox = mailbox_for()
    dovecot.deliver(corpus_mail("talon/standard_replies/thunderbird.eml", Message_ID="<crash-1@example.org>"))
    reader = _CrashingReader(mailbox)
    await reader.connect()
    try:
        with contextlib.suppress(ConnectionResetError):
            await drain(reader, intake, mailbox)
        assert len(await _tickets(db)) == 1
        assert not any("$PsaProcessed" in f for f in await _flags(mailbox))  # committed, but not marked

        again = await drain(reader, intake, mailbox)  # the re-poll after the restart
    finally:
        await reader.close()

    assert [v.outcome for v in again.taken] == [Outcome.DUPLICATE]
    assert len(await _tickets(db)) == 1
    assert all("$PsaProcessed" in f for f in await _flags(mailbox))


class _DyingIntake(MailIntake):
    """Dies once before anything is committed (between fetch and commit)."""

    died = False  # per instance once set

    async def take(self, raw: bytes, mailbox: MailboxConfig) -> Any:
        if not self.died:
            self.died = True
            raise ConnectionResetError("the database went away")
        return await super().take(raw, mailbox)


async def test_a_crash_before_the_commit_leaves_the_mail_unmarked_and_the_next_round_takes_it(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], bus: Any
) -> None:
    mailbox = mailbox_for()
    dovecot.deliver(corpus_mail("talon/standard_replies/android.eml"))
    intake = _DyingIntake(db, bus)
    reader = ImapReader(mailbox)
    await reader.connect()
    try:
        with contextlib.suppress(ConnectionResetError):
            await drain(reader, intake, mailbox)
        assert await _tickets(db) == []
        assert await store.records(db) == []
        again = await drain(reader, intake, mailbox)
    finally:
        await reader.close()
    assert [v.outcome for v in again.taken] == [Outcome.TICKET]
    assert all("$PsaProcessed" in f for f in await _flags(mailbox))


async def test_the_same_message_id_delivered_twice_opens_one_ticket(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], runner_for: Runners
) -> None:
    mailbox = mailbox_for()
    raw = corpus_mail("talon/standard_replies/apple_mail.eml", Message_ID="<twice@example.org>")
    dovecot.deliver(raw)
    dovecot.deliver(raw)

    result = await runner_for(mailbox).once()

    assert sorted(v.outcome for v in result.taken) == [Outcome.DUPLICATE, Outcome.TICKET]
    assert len(await _tickets(db)) == 1
    assert len(await _flags(mailbox)) == 2
    assert all("$PsaProcessed" in f for f in await _flags(mailbox))


async def test_our_bounced_notification_and_auto_replies_are_recorded_and_ignored(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], runner_for: Runners
) -> None:
    mailbox = mailbox_for(own_addresses=("notifications@psa.test",))
    dovecot.deliver(_mail("first@mueller-mb.de"))
    await runner_for(mailbox).once()
    [ticket] = await _tickets(db)
    dovecot.deliver(corpus_mail("mime_mikel_mail/multipart_report_emails/report_530.eml"))  # a real DSN
    dovecot.deliver(
        _mail(
            "ooo@mueller-mb.de",
            subject=f"Automatische Antwort: [#{ticket.number}] VPN",
            body="Ich bin bis 5.1. nicht im Büro.\n",
            extra="Auto-Submitted: auto-replied\r\n",
        )
    )
    dovecot.deliver(_mail("own@psa.test", sender="PSA <notifications@psa.test>", subject=f"[#{ticket.number}] VPN"))
    notification = "X-PSA-Chatops: notification\r\nAuto-Submitted: auto-generated\r\n"
    dovecot.deliver(
        _mail("relay@psa.test", sender="Desk <desk@elsewhere.example>", subject="[#1] Neu", extra=notification)
    )

    result = await runner_for(mailbox).once()

    assert [(v.outcome, v.reason) for v in result.taken] == [
        (Outcome.IGNORED, "bounce"),
        (Outcome.IGNORED, "auto_reply"),
        (Outcome.IGNORED, "own"),
        (Outcome.IGNORED, "own"),
    ]
    assert len(await _tickets(db)) == 1
    assert await _notes(db, ticket.number) == []
    assert all("$PsaProcessed" in f for f in await _flags(mailbox))  # recorded and marked: no endless re-reading


async def test_at_most_two_new_tickets_per_sender_and_subject_in_five_minutes(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], runner_for: Runners
) -> None:
    mailbox = mailbox_for()
    for n in range(3):
        dovecot.deliver(_mail(f"storm-{n}@mueller-mb.de", subject="Server down"))
    dovecot.deliver(_mail("other@mueller-mb.de", subject="Anderes Thema"))

    result = await runner_for(mailbox).once()

    assert [v.outcome for v in result.taken] == [Outcome.TICKET, Outcome.TICKET, Outcome.SUPPRESSED, Outcome.TICKET]
    assert len(await _tickets(db)) == 3
    suppressed = next(r for r in await store.records(db) if r.outcome is Outcome.SUPPRESSED)
    assert suppressed.reason == "rate_limited"
    assert suppressed.ticket_number is None


async def test_attachments_are_stored_with_the_ticket_and_an_oversized_one_is_recorded_without_content(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], runner_for: Runners
) -> None:
    small = corpus_mail("mime_mikel_mail/attachment_emails/attachment_nonascii_filename.eml", Message_ID="<small@x>")
    big = corpus_mail("mime_mikel_mail/attachment_emails/attachment_message_rfc822.eml", Message_ID="<big@x>")
    dovecot.deliver(small)
    dovecot.deliver(big)

    result = await runner_for(mailbox_for(max_attachment_bytes=2000)).once()

    assert [v.outcome for v in result.taken] == [Outcome.TICKET, Outcome.TICKET]
    rows = [a for v in result.taken for a in await store.attachments_of(db, v.ticket_number or 0)]
    kept = [a for a in rows if a["refused"] is None]
    refused = [a for a in rows if a["refused"] is not None]
    assert refused
    assert all(a["content"] is None and a["size"] > 2000 for a in refused)
    assert {a["refused"] for a in refused} == {"attachment_too_large"}
    assert kept
    for row in kept:
        assert row["content"] is not None
        assert len(row["content"]) == row["size"] <= 2000
        assert row["sha256"] == hashlib.sha256(row["content"]).hexdigest()


async def test_malformed_mime_from_the_corpus_never_crashes_and_nothing_is_lost(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], runner_for: Runners
) -> None:
    names = [
        "bad_date_header.eml",
        "content_transfer_encoding_empty.eml",
        "encoding_madness.eml",
        "missing_body.eml",
        "multiple_content_types.eml",
        "new_line_in_to_header.eml",
    ]
    for name in names:
        dovecot.deliver(corpus_mail(f"mime_mikel_mail/error_emails/{name}"))
    dovecot.deliver(b"\x00\xff garbage without any header\r\n\r\n\xfe")

    result = await runner_for(mailbox_for()).once()

    assert len(result.taken) == len(names) + 1
    assert result.refused == 0
    assert all(v.outcome in (Outcome.TICKET, Outcome.DUPLICATE, Outcome.IGNORED) for v in result.taken)
    assert len(await store.records(db)) == len(names) + 1  # every one recorded: nothing lost, nothing doubled
    assert all("$PsaProcessed" in f for f in await _flags(mailbox_for()))


async def test_idle_picks_up_a_message_appended_while_idling(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], runner_for: Runners
) -> None:
    runner = runner_for(mailbox_for(poll_seconds=600))  # only IDLE can bring the mail in within the test
    idling, taken = asyncio.Event(), asyncio.Event()
    runner.observers.append(lambda result: (taken if result.taken else idling).set())
    task = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(30):  # failure bounds, not timing assertions
            await idling.wait()  # the first (empty) round is done: the reader is idling now
        reader = ImapReader(mailbox_for())
        await reader.connect()
        try:
            await reader._live.append(_mail("idle@mueller-mb.de"), mailbox="INBOX")
        finally:
            await reader.close()
        async with asyncio.timeout(30):
            await taken.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert runner.rounds == 2
    assert len(await _tickets(db)) == 1


async def test_a_stranger_replying_by_tag_gets_an_internal_note_and_a_closed_ticket_gets_a_new_one(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], runner_for: Runners
) -> None:
    mailbox = mailbox_for()
    dovecot.deliver(_mail("first@mueller-mb.de"))
    await runner_for(mailbox).once()
    [ticket] = await _tickets(db)
    subject = f"Re: [#{ticket.number}] VPN"
    dovecot.deliver(_mail("stranger@x", sender="someone@elsewhere.example", subject=subject, body="Ich auch!\n"))
    dovecot.deliver(_mail("close@x", sender="tom@msp.example", subject=subject, body="#status=closed\n\nErledigt.\n"))
    await runner_for(mailbox).once()
    dovecot.deliver(_mail("late@mueller-mb.de", subject=subject, body="Geht schon wieder nicht.\n"))

    late = await runner_for(mailbox).once()

    notes = await _notes(db, ticket.number)
    assert (notes[0].visibility, notes[0].author_id) == ("internal", "mail:someone@elsewhere.example")
    assert notes[0].body.startswith("E-Mail von someone@elsewhere.example, kein Kontakt des Kunden dieses Tickets:")
    stranger = next(r for r in await store.records(db) if r.message_key == "stranger@x")
    assert stranger.reason == "unverified_sender"
    assert stranger.created_by == "mail:someone@elsewhere.example"
    [(outcome, number)] = [(v.outcome, v.ticket_number) for v in late.taken]
    assert outcome is Outcome.TICKET
    assert number != ticket.number
    assert [t.status for t in await _tickets(db)] == ["closed", "new"]
