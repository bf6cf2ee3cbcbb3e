"""One RFC 822 message as the intake needs it: headers, the best body as plain text, attachments, warnings.

Built on the standard library's ``email`` package (``policy.default``), which already survives most damage; what
it raises on (unknown charsets, broken encodings, unreadable headers) is caught part by part here, so a junk
message yields whatever can be read plus ``MailWarning`` entries instead of an exception.

Body choice: the first text/plain body (format=flowed unwrapped), else the HTML body turned into text
(``html_text``), else nothing (``NO_BODY``). Attachments: every other leaf part that has a file name, is marked as
an attachment, or is not text (inline images included, with their Content-ID); an attached message
(message/rfc822) is one attachment, not walked into. The ``AttachmentPolicy`` reports violations; it never drops
an attachment, because storing or refusing is the intake's decision.
"""

from __future__ import annotations

import codecs
import contextlib
import fnmatch
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from typing import Any

from psa_chatops.integrations.mail import warnings as w
from psa_chatops.integrations.mail.html_text import html_to_text
from psa_chatops.integrations.mail.warnings import MailWarning

DEFAULT_ALLOWED_TYPES: tuple[str, ...] = (
    "image/*",
    "text/*",
    "audio/*",
    "video/*",
    "application/pdf",
    "application/zip",
    "application/x-zip-compressed",
    "application/gzip",
    "application/x-7z-compressed",
    "application/json",
    "application/xml",
    "application/msword",
    "application/rtf",
    "application/vnd.ms-*",
    "application/vnd.openxmlformats-officedocument.*",
    "application/vnd.oasis.opendocument.*",
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
    "application/ics",
    "application/octet-stream",
    "message/*",
)
# Headers the extraction reads (auto-reply and priority detection); kept lower-cased, first value wins.
KEPT_HEADERS = (
    "auto-submitted",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "importance",
    "x-priority",
    "x-msmail-priority",
    "priority",
    "return-path",
    "x-failed-recipients",
)
_HEADER_LINE = re.compile(rb"^[!-9;-~]{1,76}:[ \t]?")
_KNOWN_HEADERS = re.compile(
    rb"^(from|to|subject|date|message-id|received|mime-version|content-type|return-path|delivered-to|reply-to"
    rb"|x-[a-z0-9-]+|in-reply-to|references|sender|cc):",
    re.IGNORECASE,
)


class _CachedRegistry(HeaderRegistry):
    """``policy.default``'s header registry builds a new class on every header access (CPython 3.11); one per
    header name is enough, and it was a third of the parse time."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        key = name.lower()
        if key not in self._classes:
            self._classes[key] = super().__getitem__(name)
        return self._classes[key]


_POLICY = policy.default.clone(header_factory=_CachedRegistry())


@dataclass(frozen=True)
class AttachmentPolicy:
    """Limits for stored attachments; ``allowed_types`` are shell patterns over the lower-cased content type."""

    max_bytes: int = 25 * 1024 * 1024
    max_count: int = 100
    allowed_types: tuple[str, ...] = DEFAULT_ALLOWED_TYPES

    def allows_type(self, content_type: str) -> bool:
        return any(fnmatch.fnmatchcase(content_type.lower(), pattern) for pattern in self.allowed_types)

    def check(self, attachment: Attachment) -> tuple[MailWarning, ...]:
        found: list[MailWarning] = []
        label = attachment.name or attachment.content_id or attachment.content_type
        if attachment.size > self.max_bytes:
            params = {"name": label, "size": attachment.size, "limit": self.max_bytes}
            found.append(MailWarning(w.ATTACHMENT_TOO_LARGE, params))
        if not self.allows_type(attachment.content_type):
            params = {"name": label, "content_type": attachment.content_type}
            found.append(MailWarning(w.ATTACHMENT_TYPE_NOT_ALLOWED, params))
        return tuple(found)


@dataclass(frozen=True)
class Attachment:
    name: str | None
    content_type: str
    size: int
    content_id: str | None = None
    inline: bool = False
    violations: tuple[MailWarning, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class MailMessage:
    subject: str = ""
    sender_name: str | None = None
    sender_address: str | None = None
    to: tuple[str, ...] = ()
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    date: datetime | None = None
    content_type: str = "text/plain"
    headers: Mapping[str, str] = field(default_factory=dict)
    text: str = ""
    body_source: str = "none"  # "plain", "html" or "none"
    attachments: tuple[Attachment, ...] = ()
    warnings: tuple[MailWarning, ...] = ()


def looks_like_message(data: bytes) -> bool:
    """True when ``data`` starts with an RFC 822 header block (as opposed to a pasted body)."""
    head = strip_mbox_line(data.lstrip(b"\r\n")[:4096])
    lines = head.splitlines()
    if not lines or not _HEADER_LINE.match(lines[0]):
        return False
    known = 0
    for line in lines:
        if not line.strip():
            return known > 0
        if line[:1] in (b" ", b"\t"):
            continue
        if not _HEADER_LINE.match(line):
            return False
        known += bool(_KNOWN_HEADERS.match(line))
    return known > 0


def strip_mbox_line(data: bytes) -> bytes:
    """Drop the "From sender date" line that mbox files put above the headers."""
    if data.startswith(b"From "):
        end = data.find(b"\n")
        return data[end + 1 :] if end >= 0 else b""
    return data


def read_message(raw: bytes, attachment_policy: AttachmentPolicy | None = None) -> MailMessage:
    """Parse ``raw`` (RFC 822 bytes); never raises on malformed input."""
    rules = attachment_policy or AttachmentPolicy()
    message = BytesParser(policy=_POLICY).parsebytes(strip_mbox_line(raw))
    parts = list(_walk(message))
    notes: list[MailWarning] = [
        MailWarning(w.MALFORMED_MIME, {"detail": name}) for name in dict.fromkeys(_defect_names(parts))
    ]
    body = _pick_body(parts)
    text, source = ("", "none")
    if body is not None:
        text, source = _body_text(body, notes)
    if not text.strip():
        notes.append(MailWarning(w.NO_BODY))
    attachments = tuple(_attachments(parts, body, rules))
    if len(attachments) > rules.max_count:
        notes.append(MailWarning(w.TOO_MANY_ATTACHMENTS, {"count": len(attachments), "limit": rules.max_count}))
    name, address = _sender(message, notes)
    return MailMessage(
        subject=_header(message, "subject", notes),
        sender_name=name,
        sender_address=address,
        to=_addresses(message, "to", notes),
        message_id=_message_id(_header(message, "message-id", notes)),
        in_reply_to=_message_id(_header(message, "in-reply-to", notes)),
        references=tuple(_message_ids(_header(message, "references", notes))),
        date=_date(message, notes),
        content_type=parts[0].content_type,
        headers={name: value for name in KEPT_HEADERS if name in message and (value := _header(message, name, notes))},
        text=text,
        body_source=source,
        attachments=attachments,
        warnings=tuple(notes),
    )


@dataclass(frozen=True)
class _Part:
    """One MIME part with its Content-Type and Content-Disposition parsed once (policy.default re-parses a header
    on every access, which was most of the parse time)."""

    message: Message
    content_type: str
    params: Mapping[str, str]
    disposition: str | None
    filename: str | None
    leaf: bool


def _walk(message: Message) -> Iterator[_Part]:
    """Every part, depth first; an attached message (message/rfc822) is a leaf, not walked into."""
    part = _describe(message)
    yield part
    if part.leaf:
        return
    payload = message.get_payload()
    for child in payload if isinstance(payload, list) else ():
        if isinstance(child, Message):
            yield from _walk(child)


def _describe(message: Message) -> _Part:
    content_type, params = "text/plain", {}
    with contextlib.suppress(Exception):  # a header the registry cannot parse: RFC 2045's default applies
        header = message.get("content-type")
        if header is not None:
            content_type = str(getattr(header, "content_type", "") or "text/plain").lower()
            params = {str(k).lower(): str(v) for k, v in dict(getattr(header, "params", {}) or {}).items()}
    if content_type.count("/") != 1:
        content_type = "text/plain"
    disposition, filename = None, None
    with contextlib.suppress(Exception):
        header = message.get("content-disposition")
        if header is not None:
            disposition = str(getattr(header, "content_disposition", "") or "").lower() or None
            filename = dict(getattr(header, "params", {}) or {}).get("filename")
    if filename is None:
        filename = params.get("name")
    leaf = not message.is_multipart() or content_type == "message/rfc822"
    return _Part(message, content_type, params, disposition, filename, leaf)


def _defect_names(parts: list[_Part]) -> Iterator[str]:
    for part in parts:
        for defect in getattr(part.message, "defects", ()):
            yield type(defect).__name__


def _header(message: Message, name: str, notes: list[MailWarning]) -> str:
    try:
        value = message.get(name)
        return " ".join(str(value).split()) if value is not None else ""
    except Exception as exc:
        notes.append(MailWarning(w.BAD_HEADER, {"header": name, "detail": type(exc).__name__}))
        raw = next((str(v) for k, v in message.raw_items() if k.lower() == name), "")
        return " ".join(raw.split())


def _sender(message: Message, notes: list[MailWarning]) -> tuple[str | None, str | None]:
    raw = _header(message, "from", notes) or _header(message, "sender", notes)
    name, address = parseaddr(raw)
    if not name:  # "x@example.com (Marc Smith)": policy.default drops the comment, the raw header keeps it
        original = next((str(v) for k, v in message.raw_items() if k.lower() == "from"), "")
        name = parseaddr(" ".join(original.split()))[0] if "=?" not in original else ""
    return (name.strip() or None), (address.strip().lower() or None) if "@" in address else None


def _addresses(message: Message, header: str, notes: list[MailWarning]) -> tuple[str, ...]:
    raw = _header(message, header, notes)
    return tuple(address.lower() for _, address in getaddresses([raw]) if "@" in address)


def _message_id(value: str) -> str | None:
    ids = _message_ids(value)
    return ids[0] if ids else (value.strip() or None)


def _message_ids(value: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value)


def _date(message: Message, notes: list[MailWarning]) -> datetime | None:
    try:
        header = message.get("date")
        moment = getattr(header, "datetime", None)
        return moment if isinstance(moment, datetime) else None
    except Exception as exc:
        notes.append(MailWarning(w.BAD_HEADER, {"header": "date", "detail": type(exc).__name__}))
        return None


def _pick_body(parts: list[_Part]) -> _Part | None:
    """The first text/plain leaf that is not an attachment, else the first such text/html leaf."""
    for kind in ("text/plain", "text/html"):
        for part in parts:
            if part.leaf and part.content_type == kind and not _is_attachment(part):
                return part
    return None


def _is_attachment(part: _Part) -> bool:
    return part.disposition == "attachment" or part.filename is not None


def _body_text(part: _Part, notes: list[MailWarning]) -> tuple[str, str]:
    text = _decode_text(part, notes)
    if part.content_type == "text/html":
        return html_to_text(text), "html"
    if part.params.get("format", "").lower() == "flowed":
        text = unflow(text, delsp=part.params.get("delsp", "").lower() == "yes")
    return text, "plain"


def _decode_text(part: _Part, notes: list[MailWarning]) -> str:
    try:
        payload = part.message.get_payload(decode=True)
    except Exception:
        notes.append(MailWarning(w.UNDECODABLE_PART, {"content_type": part.content_type}))
        return ""
    if not isinstance(payload, bytes):
        return ""
    charset = (part.params.get("charset") or "utf-8").strip().strip('"').lower()
    try:
        codecs.lookup(charset)
    except LookupError:
        notes.append(MailWarning(w.UNKNOWN_CHARSET, {"charset": charset}))
        charset = "utf-8"
    return payload.decode(charset, errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def unflow(text: str, *, delsp: bool = False) -> str:
    """Undo RFC 3676 format=flowed: a line ending in a space continues on the next line (same quote depth)."""
    out: list[str] = []
    pending: str | None = None
    pending_depth = -1
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        if pending is not None and depth != pending_depth:
            out.append(">" * pending_depth + (" " if pending_depth else "") + pending)
            pending = None
        joined = content if pending is None else pending + content
        if content.endswith(" ") and content != "-- ":
            pending, pending_depth = (joined[:-1] if delsp else joined), depth
            continue
        out.append(">" * depth + (" " if depth else "") + joined)
        pending = None
    if pending is not None:
        out.append(">" * pending_depth + (" " if pending_depth else "") + pending)
    return "\n".join(out)


def attachment_contents(raw: bytes) -> list[bytes]:
    """The decoded bytes of each attachment, in the order of ``read_message(raw).attachments`` (the intake stores
    them; ``MailMessage`` keeps only their description, so parsing for display holds no file in memory)."""
    message = BytesParser(policy=_POLICY).parsebytes(strip_mbox_line(raw))
    parts = list(_walk(message))
    return [_content(part) for part in _attachment_parts(parts, _pick_body(parts))]


def _attachment_parts(parts: list[_Part], body: _Part | None) -> Iterator[_Part]:
    for part in parts:
        if not part.leaf or part is body or part is parts[0]:
            continue
        if part.content_type in ("text/plain", "text/html") and not _is_attachment(part):
            continue  # the body's alternative, or a second text part of the same message
        yield part


def _content(part: _Part) -> bytes:
    try:
        if part.content_type == "message/rfc822":
            inner = part.message.get_payload()
            inner_message = inner[0] if isinstance(inner, list) and inner else inner
            return inner_message.as_bytes() if isinstance(inner_message, Message) else b""
        payload = part.message.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.message.get_payload()
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else b""


def _attachments(parts: list[_Part], body: _Part | None, rules: AttachmentPolicy) -> Iterator[Attachment]:
    for part in _attachment_parts(parts, body):
        found = Attachment(
            name=" ".join(part.filename.split()) if part.filename else None,
            content_type=part.content_type,
            size=_size(part),
            content_id=_content_id(part.message),
            inline=part.disposition == "inline" or (part.disposition is None and _content_id(part.message) is not None),
        )
        yield Attachment(
            name=found.name,
            content_type=found.content_type,
            size=found.size,
            content_id=found.content_id,
            inline=found.inline,
            violations=rules.check(found),
        )


def _content_id(message: Message) -> str | None:
    try:
        return str(message.get("content-id", "") or "").strip().strip("<>") or None
    except Exception:
        return None


def _size(part: _Part) -> int:
    try:
        if part.content_type == "message/rfc822":
            inner = part.message.get_payload()
            inner_message = inner[0] if isinstance(inner, list) and inner else inner
            return len(inner_message.as_bytes()) if isinstance(inner_message, Message) else 0
        payload = part.message.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return len(payload)
    raw = part.message.get_payload()
    return len(raw.encode("utf-8", "replace")) if isinstance(raw, str) else 0
