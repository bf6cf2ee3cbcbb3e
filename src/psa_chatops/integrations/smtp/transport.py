"""Handing one message to the mail system, over SMTP (aiosmtplib) or Microsoft Graph (``graph.py``).

SMTP answers map to the outbox's error classes (``integrations.errors``): a 4xx reply (greylisting, mailbox busy,
"try again later") and every transport failure (refused, reset, timeout, TLS) are retryable, so an outage opens
the destination's breaker and the rows wait; a 5xx reply (unknown user, rejected as spam, authentication
failed) is permanent and dead-letters the row; so does a server without STARTTLS when the URL asks for it. The
password is never part of an error message.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from psa_chatops.integrations.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from psa_chatops.integrations.smtp.config import SmtpServer

_DETAIL_CHARS = 300


class MailTransport(Protocol):
    """Sends one message to ``recipients``; raises ``DeliveryError`` subclasses."""

    async def send(self, message: EmailMessage, *, sender: str, recipients: Sequence[str]) -> None: ...

    def describe(self) -> str: ...


class SmtpTransport:
    """One SMTP connection per message: notifications are few, and a fresh connection never trips over a relay
    that dropped an idle one."""

    def __init__(
        self,
        server: SmtpServer,
        *,
        password: str | None = None,
        ca_file: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._server, self._password = server, password
        self._ca_file = ca_file
        self._tls_context: ssl.SSLContext | None = None
        self._timeout = timeout

    async def _context(self) -> ssl.SSLContext | None:
        """Built once, in a thread: loading CA certificates reads files."""
        if self._server.security == "none":
            return None
        if self._tls_context is None:
            self._tls_context = await asyncio.to_thread(ssl.create_default_context, cafile=self._ca_file)
        return self._tls_context

    def describe(self) -> str:
        return f"SMTP {self._server.describe()}"

    async def send(self, message: EmailMessage, *, sender: str, recipients: Sequence[str]) -> None:
        server = self._server
        tls_context = await self._context()
        try:
            await aiosmtplib.send(
                message,
                sender=sender,
                recipients=list(recipients),
                hostname=server.host,
                port=server.port,
                username=server.username,
                password=self._password if server.username else None,
                use_tls=server.security == "tls",
                start_tls=server.security == "starttls",
                tls_context=tls_context,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPException as exc:
            raise smtp_error(exc, server=server) from exc
        except (OSError, TimeoutError) as exc:  # refused before SMTP spoke, TLS handshake, DNS
            raise RetryableDeliveryError(f"{self.describe()} unreachable: {type(exc).__name__}") from exc


def smtp_error(exc: aiosmtplib.SMTPException, *, server: SmtpServer) -> DeliveryError:
    """The outbox's view of what aiosmtplib raised."""
    where = f"SMTP {server.host}:{server.port}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {_short(r.message)}" for r in exc.recipients)
        message = f"{where} refused the recipients: {detail}"
        if any(400 <= code < 500 for code in codes):
            return RetryableDeliveryError(message, status=max(codes))
        return PermanentDeliveryError(message, status=max(codes, default=None))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        message = f"{where} answered {exc.code}: {_short(exc.message)}"
        if 400 <= exc.code < 500:
            return RetryableDeliveryError(message, status=exc.code)
        if 500 <= exc.code < 600:
            return PermanentDeliveryError(message, status=exc.code)
        return RetryableDeliveryError(message, status=exc.code)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentDeliveryError(f"{where}: {_short(str(exc))}")
    return RetryableDeliveryError(f"{where} failed: {type(exc).__name__}: {_short(str(exc))}")


def _short(text: str) -> str:
    return " ".join(text.split())[:_DETAIL_CHARS]
