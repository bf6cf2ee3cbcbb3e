"""What every mailbox reader offers the runner: the messages still to take, one message's bytes, marking one
processed, and waiting for news (IMAP IDLE, or a plain sleep)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Protocol

from psa_chatops.integrations.mail_in.config import MailboxConfig


class MailboxReader(Protocol):
    async def connect(self) -> None:
        """Connect and log in; raises ``MailboxError`` with a reason that names no secret."""

    async def pending(self) -> list[str]:
        """References (IMAP UIDs, POP3 UIDLs, Graph ids) of the messages not marked processed, oldest first."""

    async def fetch(self, ref: str) -> bytes | None:
        """The message's RFC 822 bytes, or None when it vanished meanwhile (another reader took it)."""

    async def mark(self, ref: str) -> None:
        """Flag, move or delete the message: only after its ticket or note is committed."""

    async def wait(self, seconds: float) -> None:
        """Return when new mail may have arrived, at the latest after ``seconds``."""

    async def close(self) -> None: ...


class MailboxError(Exception):
    """The server refused or failed (login, a command, the connection); the text is safe to log."""


async def tls_context(mailbox: MailboxConfig) -> ssl.SSLContext:
    """Built off the event loop: loading the CA bundle reads files."""

    def build() -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=mailbox.ca_file)
        if not mailbox.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    return await asyncio.to_thread(build)
