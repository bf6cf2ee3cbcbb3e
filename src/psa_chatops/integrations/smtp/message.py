"""The MIME message of one notification: headers that thread it and keep it out of auto-reply loops.

- ``Message-ID`` is derived from the outbox row's idempotency key and the recipient, so a retried delivery sends
  the same id (receivers and our own ``mail_sent`` drop the duplicate);
- ``In-Reply-To`` names the latest earlier mail about the ticket to this recipient, ``References`` the chain, so
  mail clients show one conversation and a reply comes back to intake with ids it can match;
- ``Auto-Submitted: auto-generated`` (RFC 3834) and ``X-Auto-Response-Suppress: All`` keep out-of-office robots
  quiet; ``X-PSA-Chatops: notification|report`` lets our intake recognise its own mail;
- ``multipart/alternative``: the plain text part first, then the HTML part, from the same rendering.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr

from psa_chatops.cards.email.text import EmailContent

PSA_HEADER = "X-PSA-Chatops"
_NAMESPACE = uuid.UUID("8a4f2c1e-73b5-4d0a-b6c2-91e5f0d3a7c4")


def is_address(value: str) -> bool:
    """A bare ``local@domain`` address without display name, spaces or header-breaking characters."""
    name, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    clean = not name and address == value.strip() and not any(c in value for c in '\r\n<>,; \t"')
    return clean and bool(at and local and "." in domain and not domain.startswith("."))


def sender_domain(sender: str) -> str:
    """The domain our Message-IDs end in: the From address's."""
    _, address = parseaddr(sender)
    return address.rpartition("@")[2] or "psa-chatops.invalid"


def message_id_for(key: str, recipient: str, *, domain: str) -> str:
    """A stable id (without angle brackets) for one row's mail to one recipient."""
    return f"{uuid.uuid5(_NAMESPACE, f'{key}|{recipient.lower()}')}@{domain}"


@dataclass(frozen=True)
class Envelope:
    """Who and what: ``sender`` is the From header (``Name <addr>`` or ``addr``)."""

    sender: str
    recipient: str
    recipient_name: str | None
    subject: str
    message_id: str
    references: Sequence[str] = ()
    reply_to: str | None = None
    kind: str = "notification"
    ticket_number: int | None = None


def build_message(envelope: Envelope, content: EmailContent, *, now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = envelope.sender
    to = Address(display_name=envelope.recipient_name or "", addr_spec=envelope.recipient)
    message["To"] = to
    if envelope.reply_to:
        message["Reply-To"] = envelope.reply_to
    message["Subject"] = envelope.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{envelope.message_id}>"
    if envelope.references:
        message["In-Reply-To"] = f"<{envelope.references[-1]}>"
        message["References"] = " ".join(f"<{i}>" for i in envelope.references)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message[PSA_HEADER] = envelope.kind
    if envelope.ticket_number is not None:
        message["X-PSA-Ticket"] = str(envelope.ticket_number)
    message.set_content(content.text, subtype="plain", charset="utf-8")
    message.add_alternative(content.html, subtype="html", charset="utf-8")
    return message


def sender_address(sender: str) -> str:
    """The bare address of a From value (the SMTP envelope sender)."""
    (_, address), *_ = getaddresses([sender]) or [("", "")]
    return address
