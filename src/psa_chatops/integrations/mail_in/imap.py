"""IMAP mailboxes with aioimaplib: UID-based, IDLE when the server advertises it, polling otherwise.

Which messages are still to take is asked of the server on every round (``UID SEARCH UNKEYWORD $PsaProcessed``
when processed mail is flagged, ``UNDELETED`` when it is moved or deleted), so the reader keeps no state of its own
and a UIDVALIDITY change or a second reader cannot make it skip a message; the database key makes taking one twice
harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from aioimaplib import aioimaplib  # type: ignore[import-untyped]

from psa_chatops.integrations.mail_in.config import MailboxConfig
from psa_chatops.integrations.mail_in.readers import MailboxError, tls_context

logger = logging.getLogger(__name__)
_LITERAL = re.compile(rb"\{(\d+)\}$")


class ImapReader:
    def __init__(self, mailbox: MailboxConfig) -> None:
        self._mailbox = mailbox
        self._client: aioimaplib.IMAP4 | None = None
        self.idle_supported = False

    @property
    def _live(self) -> aioimaplib.IMAP4:
        if self._client is None:
            raise MailboxError(f"{self._mailbox.label}: not connected")
        return self._client

    async def connect(self) -> None:
        box = self._mailbox
        password = (await asyncio.to_thread(box.password)).get_secret_value()
        timeout = box.timeout_seconds
        try:
            if box.tls:
                context = await tls_context(box)
                client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                    box.host, box.port, timeout=timeout, ssl_context=context
                )
            else:
                client = aioimaplib.IMAP4(box.host, box.port, timeout=timeout)
            self._client = client
            await client.wait_hello_from_server()
            if box.starttls and not box.tls:
                await self._starttls(client)
            login = await client.login(box.user, password)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            raise MailboxError(f"{box.label}: cannot connect to {box.host}:{box.port} ({_reason(exc)})") from exc
        if login.result != "OK":
            raise MailboxError(f"{box.label}: login refused ({_text(login.lines)})")
        selected = await client.select(_quote(box.folder))
        if selected.result != "OK":
            raise MailboxError(f"{box.label}: cannot select {box.folder} ({_text(selected.lines)})")
        self.idle_supported = box.idle and client.has_capability("IDLE")
        target = box.marking
        if target.action == "move":
            await client.protocol.simple_command("CREATE", _quote(target.target))  # NO when it exists: fine

    async def _starttls(self, client: aioimaplib.IMAP4) -> None:
        protocol = client.protocol
        response = await protocol.execute(aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop))
        if response.result != "OK":
            raise MailboxError(f"{self._mailbox.label}: STARTTLS refused ({_text(response.lines)})")
        context = await tls_context(self._mailbox)
        loop = asyncio.get_running_loop()
        transport = client.protocol.transport
        secured = await loop.start_tls(transport, client.protocol, context, server_hostname=self._mailbox.host)
        client.protocol.transport = secured
        await client.protocol.capability()

    async def pending(self) -> list[str]:
        target = self._mailbox.marking
        criteria = f"UNKEYWORD {target.target}" if target.action == "flag" else "UNDELETED"
        response = await self._live.uid_search(criteria, charset=None)
        if response.result != "OK":
            raise MailboxError(f"{self._mailbox.label}: search failed ({_text(response.lines)})")
        found: list[int] = []
        for line in response.lines:
            text = line.decode("ascii", "replace") if isinstance(line, bytes | bytearray) else str(line)
            if text.upper().startswith("SEARCH") or not text.strip():
                continue
            found.extend(int(part) for part in text.split() if part.isdigit())
        return [str(uid) for uid in sorted(set(found))]

    async def fetch(self, ref: str) -> bytes | None:
        response = await self._live.uid("fetch", ref, "(BODY.PEEK[])")
        if response.result != "OK":
            raise MailboxError(f"{self._mailbox.label}: fetch {ref} failed ({_text(response.lines)})")
        lines = response.lines
        for index, line in enumerate(lines):
            if isinstance(line, bytes | bytearray) and _LITERAL.search(bytes(line)) and index + 1 < len(lines):
                return bytes(lines[index + 1])
        return None  # expunged meanwhile

    async def mark(self, ref: str) -> None:
        client, target = self._live, self._mailbox.marking
        if target.action == "flag":
            response = await client.uid("store", ref, "+FLAGS.SILENT", f"(\\Seen {target.target})")
        elif target.action == "move" and client.has_capability("MOVE"):
            response = await client.uid("move", ref, _quote(target.target))
        else:
            if target.action == "move":
                copied = await client.uid("copy", ref, _quote(target.target))
                if copied.result != "OK":
                    raise MailboxError(f"{self._mailbox.label}: copy {ref} failed ({_text(copied.lines)})")
            response = await client.uid("store", ref, "+FLAGS.SILENT", "(\\Deleted)")
            if response.result == "OK":
                if client.has_capability("UIDPLUS"):
                    response = await client.uid("expunge", ref)
                else:
                    response = await client.expunge()
        if response.result != "OK":
            raise MailboxError(f"{self._mailbox.label}: marking {ref} failed ({_text(response.lines)})")

    async def wait(self, seconds: float) -> None:
        """IDLE until the server reports a change or ``seconds`` pass; without IDLE a NOOP after the sleep."""
        client = self._live
        if not self.idle_supported:
            await asyncio.sleep(seconds)
            await client.noop()
            return
        idle = await client.idle_start(timeout=seconds)
        try:
            while True:
                push = await client.wait_server_push(timeout=seconds + 5)
                if push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                lines = push if isinstance(push, list) else [push]
                if any(b"EXISTS" in bytes(line) or b"RECENT" in bytes(line) for line in lines if line):
                    break
        except TimeoutError:
            pass
        finally:
            client.idle_done()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(idle, timeout=self._mailbox.timeout_seconds)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(Exception):  # the connection may be gone already: closing is best effort
            await asyncio.wait_for(client.logout(), timeout=5)


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(lines: list[object]) -> str:
    parts = [line.decode("utf-8", "replace") if isinstance(line, bytes | bytearray) else str(line) for line in lines]
    return " ".join(" ".join(parts).split())[:200]


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
