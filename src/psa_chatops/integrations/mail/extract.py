"""Everything the intake reads out of one mail, as one frozen ``ParsedMail``: who (customer, contact, or triage),
how urgent, which asset, which ticket it continues, whether a machine sent it, the commands on its first lines,
and the cleaned body with the removed quote and signature kept beside it.

Pure: the directory (customers' ``email_domains``, contacts' addresses, assets) is passed in, nothing is looked
up. Priority, asset and commands are read from what the sender wrote (subject and cleaned body), never from the
quote, so a quoted "dringend" of last week does not raise today's reply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from psa_chatops.core.directory import Asset, Contact, Customer
from psa_chatops.core.priorities import Priority
from psa_chatops.integrations.mail import autoreply
from psa_chatops.integrations.mail.commands import CommandProblem, MailCommand, parse_commands
from psa_chatops.integrations.mail.html_text import html_to_text
from psa_chatops.integrations.mail.message import (
    Attachment,
    AttachmentPolicy,
    MailMessage,
    looks_like_message,
    read_message,
)
from psa_chatops.integrations.mail.reply import split_reply
from psa_chatops.integrations.mail.warnings import MailWarning

_HTML_START = re.compile(r"^\s*(?:<\?xml[^>]*>\s*)?<(?:!doctype html|html|body|div|p|table)\b", re.IGNORECASE)
DEFAULT_TICKET_TAG = r"\[(?:ticket)?\s*#\s*(\d{1,10})\]"

_CRITICAL_WORDS = (
    r"ausgefallen|ausfall|totalausfall|geht (?:gar )?nichts mehr|steht still|notfall|"
    r"outage|emergency|nothing works|not working at all|"
    r"down\b(?!\s+(?:to|the|a|an|by|from|for|with|on|here|there)\b)"
)
_HIGH_WORDS = r"dringend|eilig|eilt|asap|sofort|schnellstmöglich|urgent|urgently|immediately|high priority"
_LOW_WORDS = r"nicht dringend|keine eile|kein stress|hat zeit|not urgent|no rush|no hurry|low priority|whenever you can"
_CRITICAL = re.compile(rf"(?<![\w-])(?:{_CRITICAL_WORDS})", re.IGNORECASE)
_HIGH = re.compile(rf"(?<![\w-])(?:{_HIGH_WORDS})\b", re.IGNORECASE)
_LOW = re.compile(rf"(?<![\w-])(?:{_LOW_WORDS})\b", re.IGNORECASE)
_HEADER_PRIORITY = {
    ("importance", "high"): Priority.HIGH,
    ("importance", "low"): Priority.LOW,
    ("x-priority", "1"): Priority.HIGH,
    ("x-priority", "2"): Priority.HIGH,
    ("x-priority", "4"): Priority.LOW,
    ("x-priority", "5"): Priority.LOW,
    ("x-msmail-priority", "high"): Priority.HIGH,
    ("x-msmail-priority", "low"): Priority.LOW,
    ("priority", "urgent"): Priority.HIGH,
    ("priority", "non-urgent"): Priority.LOW,
}


@dataclass(frozen=True)
class MailDirectory:
    """The part of the PSA directory that mail matching needs (see ``core.directory``)."""

    customers: tuple[Customer, ...] = ()
    contacts: tuple[Contact, ...] = ()
    assets: tuple[Asset, ...] = ()


@dataclass(frozen=True)
class ExtractConfig:
    ticket_tag: str = DEFAULT_TICKET_TAG  # a regular expression whose first group is the ticket number
    attachments: AttachmentPolicy = field(default_factory=AttachmentPolicy)


@dataclass(frozen=True)
class Sender:
    customer_id: str | None = None
    contact_id: str | None = None
    matched_by: str | None = None  # "contact", "domain" or None


@dataclass(frozen=True)
class ParsedMail:
    subject: str
    sender_name: str | None
    sender_address: str | None
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    customer_id: str | None
    contact_id: str | None
    matched_by: str | None
    triage: bool
    priority: Priority | None
    priority_reasons: tuple[str, ...]
    asset_ids: tuple[str, ...]
    ticket_number: int | None
    auto: autoreply.AutoKind | None
    commands: tuple[MailCommand, ...]
    command_problems: tuple[CommandProblem, ...]
    body: str
    quote: str
    signature: str
    body_source: str
    attachments: tuple[Attachment, ...]
    warnings: tuple[MailWarning, ...]

    @property
    def asset_id(self) -> str | None:
        return self.asset_ids[0] if self.asset_ids else None

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "sender": {"name": self.sender_name, "address": self.sender_address},
            "customer_id": self.customer_id,
            "contact_id": self.contact_id,
            "matched_by": self.matched_by,
            "priority": self.priority.value if self.priority else None,
            "priority_reasons": list(self.priority_reasons),
            "asset_id": self.asset_id,
            "asset_ids": list(self.asset_ids),
            "ticket_number": self.ticket_number,
            "thread": {
                "message_id": self.message_id,
                "in_reply_to": self.in_reply_to,
                "references": list(self.references),
            },
            "commands": [command.as_json() for command in self.commands],
            "flags": {"triage": self.triage, "auto": self.auto.value if self.auto else None},
            "body": self.body,
            "quote": self.quote,
            "signature": self.signature,
            "body_source": self.body_source,
            "attachments": [_attachment_json(a) for a in self.attachments],
            "warnings": [w.as_json() for w in self.warnings]
            + [{"code": "command", "message": p.text()} for p in self.command_problems],
        }


def parse_mail(
    data: bytes | str, directory: MailDirectory | None = None, config: ExtractConfig | None = None
) -> ParsedMail:
    """Parse an RFC 822 message, or a plain body text (what an admin pastes), into a ``ParsedMail``."""
    settings = config or ExtractConfig()
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    if looks_like_message(raw):
        message = read_message(raw, settings.attachments)
    else:
        message = body_message(data if isinstance(data, str) else raw.decode("utf-8", "replace"))
    return extract(message, directory, settings)


def body_message(text: str, sender_name: str | None = None) -> MailMessage:
    """A pasted body (plain text or an HTML document) as a message without headers."""
    if _HTML_START.match(text):
        return MailMessage(text=html_to_text(text), body_source="html", sender_name=sender_name)
    return MailMessage(text=text.replace("\r\n", "\n"), body_source="plain", sender_name=sender_name)


def extract(message: MailMessage, directory: MailDirectory | None, config: ExtractConfig) -> ParsedMail:
    names = [message.sender_name] if message.sender_name else []
    block = parse_commands(message.text)
    reply = split_reply(block.body, sender_names=names)
    sender = match_sender(message.sender_address, directory)
    priority, reasons = detect_priority(message.subject, reply.body, message.headers)
    assets = directory.assets if directory else ()
    return ParsedMail(
        subject=message.subject,
        sender_name=message.sender_name,
        sender_address=message.sender_address,
        message_id=message.message_id,
        in_reply_to=message.in_reply_to,
        references=message.references,
        customer_id=sender.customer_id,
        contact_id=sender.contact_id,
        matched_by=sender.matched_by,
        triage=sender.customer_id is None,
        priority=priority,
        priority_reasons=reasons,
        asset_ids=find_assets(f"{message.subject}\n{reply.body}", assets, sender.customer_id),
        ticket_number=ticket_number(message.subject, config.ticket_tag),
        auto=autoreply.detect(
            message.headers,
            content_type=message.content_type,
            sender=message.sender_address,
            subject=message.subject,
            body=reply.body,
        ),
        commands=block.commands,
        command_problems=block.problems,
        body=reply.body,
        quote=reply.quote,
        signature=reply.signature,
        body_source=message.body_source,
        attachments=message.attachments,
        warnings=message.warnings,
    )


def match_sender(address: str | None, directory: MailDirectory | None) -> Sender:
    """A contact by exact address, else a customer by the address's domain (or a parent domain)."""
    if not address or directory is None:
        return Sender()
    address = address.lower()
    for contact in directory.contacts:
        if contact.email.lower() == address:
            return Sender(contact.customer_id, contact.id, "contact")
    domain = address.rpartition("@")[2]
    for customer in directory.customers:
        for owned in customer.email_domains:
            owned = owned.lower().lstrip("@")
            if domain == owned or domain.endswith("." + owned):
                return Sender(customer.id, None, "domain")
    return Sender()


def detect_priority(subject: str, body: str, headers: Mapping[str, str]) -> tuple[Priority | None, tuple[str, ...]]:
    """The most urgent of what the words say and what the headers say; "nicht dringend" / "no rush" say low."""
    found: list[tuple[Priority, str]] = []
    text = f"{subject}\n{body}"
    low = _LOW.search(text)
    if low:
        found.append((Priority.LOW, f"keyword: {low.group(0).lower()}"))
        text = _LOW.sub(" ", text)
    for pattern, priority in ((_CRITICAL, Priority.CRITICAL), (_HIGH, Priority.HIGH)):
        match = pattern.search(text)
        if match:
            found.append((priority, f"keyword: {match.group(0).lower()}"))
    for name in ("importance", "x-priority", "x-msmail-priority", "priority"):
        value = headers.get(name, "").strip().lower()
        key = (name, value.split()[0] if value else "")
        if key in _HEADER_PRIORITY:
            found.append((_HEADER_PRIORITY[key], f"header: {name}: {value}"))
    if not found:
        return None, ()
    urgent = [f for f in found if f[0] is not Priority.LOW]
    chosen = min(urgent or found, key=lambda item: item[0].rank)[0]
    return chosen, tuple(reason for _, reason in found)


def find_assets(text: str, assets: Iterable[Asset], customer_id: str | None) -> tuple[str, ...]:
    """Assets whose host name or name appears as a whole word; the sender's customer's assets only, if known."""
    lowered = text.lower()
    hits: list[tuple[int, str]] = []
    for asset in assets:
        if customer_id is not None and asset.customer_id != customer_id:
            continue
        for needle in {asset.hostname.lower(), asset.name.lower()}:
            position = _word_position(lowered, needle) if len(needle) >= 4 else -1
            if position >= 0:
                hits.append((position, asset.id))
                break
    return tuple(dict.fromkeys(asset_id for _, asset_id in sorted(hits)))


def _word_position(text: str, needle: str) -> int:
    start = text.find(needle)
    while start >= 0:
        before = text[start - 1] if start else " "
        end = start + len(needle)
        after = text[end] if end < len(text) else " "
        if not (before.isalnum() or before in "-_") and not (after.isalnum() or after in "-_"):
            return start
        start = text.find(needle, start + 1)
    return -1


def ticket_number(subject: str, pattern: str = DEFAULT_TICKET_TAG) -> int | None:
    """The ticket number from the subject's tag (``[#12345]`` by default), or None."""
    match = re.search(pattern, subject, re.IGNORECASE)
    if match is None:
        return None
    try:
        return int(match.group(1))
    except (IndexError, ValueError):
        return None


def _attachment_json(attachment: Attachment) -> dict[str, Any]:
    return {
        "name": attachment.name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "content_id": attachment.content_id,
        "inline": attachment.inline,
        "allowed": attachment.allowed,
        "violations": [v.as_json() for v in attachment.violations],
    }
