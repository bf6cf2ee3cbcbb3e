"""POP3 mailboxes with the standard library's ``poplib``, run in a worker thread (it blocks).

UIDL-based: ``pending`` lists the server's unique ids, ``fetch`` maps an id to the message number of this
session, and ``mark`` deletes it (POP3 has no flags or folders). A POP3 server applies deletions only when the
session ends with QUIT, so ``mark`` commits one message by ending the session and the next call opens a new one:
a crash before QUIT leaves the message on the server, and the database key makes taking it again harmless.
"""

from __future__ import annotations

import asyncio
import poplib
import ssl

from psa_chatops.integrations.mail_in.config import MailboxConfig
from psa_chatops.integrations.mail_in.readers import MailboxError, tls_context


class Pop3Reader:
    def __init__(self, mailbox: MailboxConfig) -> None:
        self._mailbox = mailbox
        self._client: poplib.POP3 | None = None
        self._numbers: dict[str, int] = {}
        self._context: ssl.SSLContext | None = None
        self._password = ""

    async def connect(self) -> None:
        box = self._mailbox
        self._password = (await asyncio.to_thread(box.password)).get_secret_value()
        if box.tls or box.starttls:
            self._context = await tls_context(box)
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        box = self._mailbox
        try:
            if box.tls:
                client: poplib.POP3 = poplib.POP3_SSL(
                    box.host, box.port, timeout=box.timeout_seconds, context=self._context
                )
            else:
                client = poplib.POP3(box.host, box.port, timeout=box.timeout_seconds)
                if box.starttls:
                    client.stls(self._context)
        except (OSError, poplib.error_proto) as exc:
            raise MailboxError(f"{box.label}: cannot connect to {box.host}:{box.port} ({_reason(exc)})") from exc
        try:
            client.user(box.user)
            client.pass_(self._password)
        except poplib.error_proto as exc:
            _quit(client)
            raise MailboxError(f"{box.label}: login refused ({_reason(exc)})") from exc
        self._client = client
        self._numbers = {}

    async def _session(self) -> poplib.POP3:
        if self._client is None:
            await asyncio.to_thread(self._open)
        if self._client is None:
            raise MailboxError(f"{self._mailbox.label}: not connected")
        return self._client

    async def pending(self) -> list[str]:
        client = await self._session()
        try:
            _, lines, _ = await asyncio.to_thread(client.uidl)
        except (OSError, poplib.error_proto) as exc:
            raise MailboxError(f"{self._mailbox.label}: UIDL failed ({_reason(exc)})") from exc
        numbers: dict[str, int] = {}
        for line in lines:
            number, _, uid = line.decode("ascii", "replace").partition(" ")
            if number.isdigit() and uid.strip():
                numbers[uid.strip()] = int(number)
        self._numbers = numbers
        return list(numbers)

    async def fetch(self, ref: str) -> bytes | None:
        client = await self._session()
        number = self._numbers.get(ref)
        if number is None:
            await self.pending()
            number = self._numbers.get(ref)
            if number is None:
                return None
        try:
            _, lines, _ = await asyncio.to_thread(client.retr, number)
        except (OSError, poplib.error_proto) as exc:
            raise MailboxError(f"{self._mailbox.label}: RETR failed ({_reason(exc)})") from exc
        return b"\r\n".join(lines) + b"\r\n"

    async def mark(self, ref: str) -> None:
        client = await self._session()
        number = self._numbers.get(ref)
        if number is None:
            return
        try:
            await asyncio.to_thread(client.dele, number)
            await asyncio.to_thread(client.quit)  # POP3 deletes on QUIT: commit this one now
        except (OSError, poplib.error_proto) as exc:
            raise MailboxError(f"{self._mailbox.label}: DELE failed ({_reason(exc)})") from exc
        finally:
            self._client, self._numbers = None, {}

    async def wait(self, seconds: float) -> None:
        """POP3 cannot push: end the session (a POP3 mailbox is locked while one is open) and sleep."""
        await self.close()
        await asyncio.sleep(seconds)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(_quit, client)


def _quit(client: poplib.POP3) -> None:
    try:
        client.quit()
    except (OSError, poplib.error_proto):
        client.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, poplib.error_proto) and exc.args:
        first = exc.args[0]
        return first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first)
    return str(exc) or type(exc).__name__
