"""``email:`` outbox rows as mail: ticket notifications (``audience``) and scheduled reports.

For each recipient of a row the notifier derives a stable ``Message-ID`` (row key + recipient). One already in
``mail_sent`` went out on an earlier attempt and is skipped, so a row whose second recipient failed is retried
without mailing the first one again. Otherwise it renders the mail in the recipient's language
(``cards.email``), threads it under the earlier mails of the ticket to that recipient (``In-Reply-To``,
``References``), hands it to the transport (SMTP or Graph) and records its id. What remains at-least-once: a
crash after the server accepted a mail and before ``mail_sent`` was written sends it again with the same
``Message-ID``, which mail clients show once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from psa_chatops.cards.email import notification, report
from psa_chatops.cards.email.text import EmailContent
from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.chat_threads import ticket_number
from psa_chatops.integrations.errors import PermanentDeliveryError
from psa_chatops.integrations.recorder import parse_destination
from psa_chatops.integrations.smtp.audience import EMAIL_KIND, People, Recipient, parse_target, recipients_for
from psa_chatops.integrations.smtp.message import (
    Envelope,
    build_message,
    is_address,
    message_id_for,
    sender_address,
    sender_domain,
)
from psa_chatops.integrations.smtp.transport import MailTransport
from psa_chatops.storage.mail_sent import MailSentStore, SentMail

logger = logging.getLogger(__name__)

DEFAULT_SUBJECT_TAG = "[#{number}]"
Now = Callable[[], datetime]


def subject_line(tag: str, number: int | None, subject: str) -> str:
    """``[#12345] title`` on one line (a title's line breaks could otherwise inject headers)."""
    flat = " ".join(subject.split())[:200]
    return f"{tag.format(number=number)} {flat}" if number is not None else flat


class EmailNotifier:
    def __init__(
        self,
        transport: MailTransport,
        sent: MailSentStore,
        people: People,
        *,
        sender: str,
        public_url: str,
        default_locale: str,
        reply_to: str | None = None,
        subject_tag: str = DEFAULT_SUBJECT_TAG,
        now: Now = lambda: datetime.now(UTC),
    ) -> None:
        self.transport, self._sent, self._people = transport, sent, people
        self._sender, self._reply_to = sender, reply_to
        self._domain = sender_domain(sender)
        self._public_url, self._default_locale = public_url, default_locale
        self._subject_tag, self._now = subject_tag, now

    async def deliver(self, delivery: Delivery) -> None:
        kind, raw_target = parse_destination(delivery.destination)
        if kind != EMAIL_KIND:
            raise PermanentDeliveryError("not an email: destination", destination=delivery.destination)
        target = parse_target(delivery.destination, raw_target)
        if delivery.event_type in report.REPORT_EVENT_TYPES:
            await self._report(delivery, target)
            return
        number = ticket_number(delivery)
        envelope = delivery.payload
        recipients = await recipients_for(target, envelope, self._people, default_locale=self._default_locale)
        names = await self._names(envelope) if recipients else {}
        for recipient in recipients:
            render = functools.partial(self._render_ticket, envelope, recipient, names)
            await self._send(delivery, recipient, number, render)

    async def _report(self, delivery: Delivery, target: str) -> None:
        if not is_address(target):
            raise PermanentDeliveryError("a report goes to one email:<address>", destination=delivery.destination)
        person: Mapping[str, Any] = delivery.payload.get("recipient") or {}
        recipient = Recipient(
            target,
            person.get("name"),
            str(person.get("locale") or self._default_locale),
            person.get("timezone"),
            "technician",
        )
        render = functools.partial(
            report.render,
            delivery.payload,
            locale=recipient.locale,
            timezone=recipient.timezone,
            public_url=self._public_url,
        )
        await self._send(delivery, recipient, None, render, kind="report")

    async def _send(
        self,
        delivery: Delivery,
        recipient: Recipient,
        number: int | None,
        render: Callable[[], EmailContent],
        *,
        kind: str = "notification",
    ) -> None:
        message_id = message_id_for(delivery.idempotency_key, recipient.address, domain=self._domain)
        if await self._sent.was_sent(message_id):
            return
        references = await self._sent.thread(number, recipient.address) if number is not None else []
        content = await asyncio.to_thread(render)  # the first use of a locale reads catalogs and tz data
        envelope = Envelope(
            sender=self._sender,
            recipient=recipient.address,
            recipient_name=recipient.name,
            subject=subject_line(self._subject_tag, number, content.subject),
            message_id=message_id,
            references=references,
            reply_to=self._reply_to,
            kind=kind,
            ticket_number=number,
        )
        try:
            message = build_message(envelope, content, now=self._now())
        except (ValueError, TypeError) as exc:  # an address or header the email package refuses
            raise PermanentDeliveryError(f"cannot build the mail: {exc}", destination=delivery.destination) from exc
        await self.transport.send(message, sender=sender_address(self._sender), recipients=[recipient.address])
        sent = SentMail(message_id, number, recipient.address, delivery.event_type, self._now())
        await self._sent.record(sent)

    def _render_ticket(
        self, envelope: Mapping[str, Any], recipient: Recipient, names: Mapping[str, str]
    ) -> EmailContent:
        return notification.render(
            envelope,
            audience=recipient.audience,
            locale=recipient.locale,
            timezone=recipient.timezone,
            public_url=self._public_url,
            names=names,
            recipient_name=recipient.name,
        )

    async def _names(self, envelope: Mapping[str, Any]) -> dict[str, str]:
        """Display names of the people and the customer the mail mentions (envelopes carry ids)."""
        data: Mapping[str, Any] = envelope.get("data") or {}
        ticket: Mapping[str, Any] = envelope.get("ticket") or {}
        keys = {str(envelope.get("actor") or ""), str(data.get("author_id") or "")}
        keys |= {
            str(v) for v in (data.get("assignee_id"), data.get("previous_assignee_id"), ticket.get("assignee_id")) if v
        }
        names: dict[str, str] = {}
        for key in sorted(k for k in keys if k):
            kind, _, bare = key.rpartition(":")
            found = await (self._people.contact(bare) if kind == "contact" else self._people.technician(bare))
            if found is not None:
                names[key] = found.name
        customer_id = str(ticket.get("customer_id") or "")
        customer = await self._people.customer(customer_id) if customer_id else None
        if customer is not None:
            names[customer_id] = customer.name
        return names
