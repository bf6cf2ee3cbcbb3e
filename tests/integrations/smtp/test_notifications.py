"""Ticket notifications by e-mail, end to end: commands on the bus write outbox rows, the real dispatcher hands
them to the e-mail notifier, which talks STARTTLS + AUTH to a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core import commands as c
from psa_chatops.core.tickets_state import Status, Visibility
from psa_chatops.handlers.ports import Delivery
from tests.conftest import FrozenClock
from tests.integrations.smtp.server import USER, SmtpServer
from tests.integrations.smtp.support import Desk, dispatcher_for, mail_settings, outbox_rows, seed, sent_rows


@pytest.fixture
async def desk(engine: AsyncEngine, clock: FrozenClock) -> Desk:
    await seed(engine)
    return Desk(engine, clock)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def to(server: SmtpServer, address: str) -> list[EmailMessage]:
    return [r.message for r in server.received if r.recipients == [address]]


def parts(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None
    assert html is not None
    return str(plain.get_content()), str(html.get_content())


async def open_for_petra(desk: Desk, title: str = "Drucker im 2. OG druckt nicht") -> int:
    command = c.OpenTicket(title=title, customer_id="CUST-789", contact_id="c-1", description="Papierstau?")
    return int((await desk.bus.handle(command, await desk.as_("dora"))).number)


async def test_a_contact_gets_threaded_mails_with_our_headers(
    desk: Desk, smtp_server: SmtpServer, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    dispatcher = dispatcher_for(mail_settings(smtp_server), desk.engine, session, clock)
    number = await open_for_petra(desk)
    await dispatcher.drain()
    clock.advance(minutes=5)
    body = "Wir schauen uns das an.\nBitte <b>nicht</b> ausschalten."
    reply = c.AddNote(number=number, body=body, visibility=Visibility.PUBLIC)
    await desk.bus.handle(reply, await desk.as_("tom"))
    await dispatcher.drain()

    first, second = to(smtp_server, "petra@mueller-mb.de")
    assert all(r.authenticated_as == USER for r in smtp_server.received)  # AUTH after STARTTLS
    assert first["Subject"] == f"[#{number}] Drucker im 2. OG druckt nicht" == second["Subject"]
    assert first["From"] == "Service Desk <desk@msp.example>"
    assert first["Reply-To"] == "support@msp.example"
    assert first["Auto-Submitted"] == "auto-generated"
    assert first["X-PSA-Chatops"] == "notification"
    assert first["In-Reply-To"] is None
    first_id, second_id = first["Message-ID"].strip("<>"), second["Message-ID"].strip("<>")
    assert second["In-Reply-To"] == f"<{first_id}>"
    assert second["References"] == f"<{first_id}>"
    stored = [(r.message_id, r.ticket_number, r.recipient) for r in await sent_rows(desk.engine)]
    assert (first_id, number, "petra@mueller-mb.de") in stored
    assert (second_id, number, "petra@mueller-mb.de") in stored
    # German for Petra (her locale), both parts from the same content, her HTML escaped
    plain, html = parts(second)
    assert "Tom Technician hat auf Ihr Ticket" in plain
    assert "Bitte <b>nicht</b> ausschalten." in plain
    assert "Bitte &lt;b&gt;nicht&lt;/b&gt; ausschalten." in html
    assert "<b>nicht</b>" not in html
    assert "wir haben Ihre Anfrage erhalten" in parts(first)[0]


async def test_internal_notes_never_reach_the_contact(
    desk: Desk, smtp_server: SmtpServer, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    dispatcher = dispatcher_for(mail_settings(smtp_server), desk.engine, session, clock)
    number = await open_for_petra(desk)
    tom = await desk.as_("tom")
    internal = c.AddNote(number=number, body="Kunde nervt, Toner ist leer", visibility=Visibility.INTERNAL)
    await desk.bus.handle(internal, tom)
    await desk.bus.handle(c.ChangeStatus(number=number, status=Status.IN_PROGRESS), tom)
    await desk.bus.handle(c.ChangeStatus(number=number, status=Status.RESOLVED, resolution="Toner getauscht"), tom)
    await dispatcher.drain()

    mails = to(smtp_server, "petra@mueller-mb.de")
    assert [m["Subject"] for m in mails] == [f"[#{number}] Drucker im 2. OG druckt nicht"] * 2  # opened, resolved
    assert not any("Kunde nervt" in "".join(parts(m)) for m in mails)
    resolved_text = parts(mails[1])[0]
    assert "wurde gelöst" in resolved_text
    assert "Toner getauscht" in resolved_text


async def test_technicians_hear_about_assignments_in_english(
    desk: Desk, smtp_server: SmtpServer, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    dispatcher = dispatcher_for(mail_settings(smtp_server), desk.engine, session, clock)
    number = await open_for_petra(desk, title="Server <down> & out")
    await desk.bus.handle(c.AssignTicket(number=number, assignee_id="tom"), await desk.as_("dora"))
    await desk.bus.handle(c.AssignTicket(number=number, assignee_id="alice"), await desk.as_("alice"))  # took it
    await dispatcher.drain()

    (mail,) = to(smtp_server, "tom@msp.example")
    assert not to(smtp_server, "alice@msp.example")  # nobody is told what they did themselves
    assert mail["Subject"] == f"[#{number}] Server <down> & out"
    plain, html = parts(mail)
    assert "Dora Dispatcher assigned the ticket to Tom Technician." in plain
    assert "Server &lt;down&gt; &amp; out" in html
    assert f"https://psa.msp.example/tickets/{number}" in plain
    assert 'href="https://psa.msp.example/tickets/' in html


async def test_a_retried_row_does_not_mail_twice(
    desk: Desk, smtp_server: SmtpServer, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    """The Message-ID is derived from the row, so a row delivered again finds its mail in mail_sent."""
    settings = mail_settings(smtp_server)
    await open_for_petra(desk)
    dispatcher = dispatcher_for(settings, desk.engine, session, clock)
    await dispatcher.drain()
    notifier = dispatcher.notifiers.for_destination("email:contacts")
    (row,) = [r for r in await outbox_rows(desk.engine) if r.destination == "email:contacts"]
    again = Delivery(row.id, row.idempotency_key, row.destination, row.event_type, row.payload, attempts=1)
    await notifier.deliver(again)
    assert len(smtp_server.received) == 1
