"""Microsoft 365 mailboxes through Microsoft Graph: app-only tokens (msal client credentials, the
``MsalTokenProvider`` of the calendar sync), the inbox's delta query for what is new, ``$value`` for the MIME bytes.

The delta link is stored (``mail_cursors``) only once every message of the round was taken and marked, so a crash
in between re-lists them from the older link and the database key turns them into duplicates. Marking: ``flag``
adds the category ``PSA processed`` and sets ``isRead`` (the next delta round reports that change, and messages in
that category are skipped), ``move:<folder>`` moves the message (the folder is created when missing; well-known
names such as ``archive`` or ``deleteditems`` work too), ``delete`` deletes it.

Needs the application permission ``Mail.ReadWrite`` (restrict it to the support mailboxes with an application
access policy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from psa_chatops.integrations.calendar_graph import MsalTokenProvider
from psa_chatops.integrations.errors import DeliveryError
from psa_chatops.integrations.mail_in.config import MailboxConfig
from psa_chatops.integrations.mail_in.readers import MailboxError, tls_context
from psa_chatops.storage.mail_messages import MailCursorStore

logger = logging.getLogger(__name__)
PROCESSED_CATEGORY = "PSA processed"
_WELL_KNOWN = frozenset({"archive", "deleteditems", "drafts", "inbox", "junkemail", "outbox", "sentitems"})
_MAX_PAGES = 200


class GraphMailReader:
    def __init__(self, mailbox: MailboxConfig, cursors: MailCursorStore) -> None:
        self._mailbox, self._cursors = mailbox, cursors
        self._session: aiohttp.ClientSession | None = None
        self._tokens: MsalTokenProvider | None = None
        self._base = f"{mailbox.graph_url.rstrip('/')}/users/{quote(mailbox.user, safe='@')}"
        self._outstanding: set[str] = set()
        self._next_link: str | None = None
        self._folder_id: str | None = None

    async def connect(self) -> None:
        box = self._mailbox
        secret = (await asyncio.to_thread(box.client_secret)).get_secret_value()
        self._tokens = MsalTokenProvider(
            authority_url=box.authority_url,
            tenant_id=box.tenant or "",
            client_id=box.client_id or "",
            client_secret=secret,
            verify=box.ca_file or box.verify,
            timeout=box.timeout_seconds,
        )
        context = await tls_context(box)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=box.timeout_seconds), connector=aiohttp.TCPConnector(ssl=context)
        )
        await self._request("GET", f"{self._base}/mailFolders/inbox", params={"$select": "id"})  # proves access

    async def _token(self, *, refresh: bool = False) -> str:
        if self._tokens is None:
            raise MailboxError(f"{self._mailbox.label}: not connected")
        try:
            return await self._tokens.token(refresh=refresh)
        except DeliveryError as exc:
            raise MailboxError(f"{self._mailbox.label}: {exc}") from exc

    async def _request(
        self, method: str, url: str, *, params: dict[str, str] | None = None, json: Any = None, raw: bool = False
    ) -> Any:
        if self._session is None:
            raise MailboxError(f"{self._mailbox.label}: not connected")
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {await self._token(refresh=attempt == 2)}"}
            try:
                async with self._session.request(method, url, params=params, json=json, headers=headers) as resp:
                    if resp.status == 401 and attempt == 1:
                        continue  # an expired or revoked token: once more with a fresh one
                    if resp.status == 404:
                        return None
                    if resp.status >= 400:
                        detail = (await resp.text())[:200]
                        raise MailboxError(f"{self._mailbox.label}: Graph {method} answered {resp.status}: {detail}")
                    if raw:
                        return await resp.read()
                    if resp.status == 204 or resp.content_length == 0:
                        return {}
                    return await resp.json()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise MailboxError(f"{self._mailbox.label}: Graph unreachable ({type(exc).__name__})") from exc
        raise MailboxError(f"{self._mailbox.label}: Graph refused the token")

    async def pending(self) -> list[str]:
        link = await self._cursors.get(self._mailbox.label)
        url, params = link, None
        if url is None:
            url = f"{self._base}/mailFolders/inbox/messages/delta"
            params = {"$select": "id,categories,isRead,internetMessageId,receivedDateTime"}
        found: list[str] = []
        for _ in range(_MAX_PAGES):
            page = await self._request("GET", url, params=params)
            if page is None:  # the delta link expired (Graph answers 410/404 after weeks): start afresh
                url, params = f"{self._base}/mailFolders/inbox/messages/delta", {"$select": "id,categories"}
                continue
            for item in page.get("value", []):
                if "@removed" in item or PROCESSED_CATEGORY in (item.get("categories") or []):
                    continue
                if isinstance(item.get("id"), str):
                    found.append(item["id"])
            if "@odata.nextLink" in page:
                url, params = page["@odata.nextLink"], None
                continue
            self._next_link = page.get("@odata.deltaLink")
            break
        self._outstanding = set(found)
        if not found:
            await self._checkpoint()
        return list(dict.fromkeys(found))

    async def fetch(self, ref: str) -> bytes | None:
        body = await self._request("GET", f"{self._base}/messages/{quote(ref, safe='')}/$value", raw=True)
        return body if isinstance(body, bytes) else None

    async def mark(self, ref: str) -> None:
        target = self._mailbox.marking
        message = f"{self._base}/messages/{quote(ref, safe='')}"
        if target.action == "flag":
            current = await self._request("GET", message, params={"$select": "categories"}) or {}
            categories = [*(current.get("categories") or []), PROCESSED_CATEGORY]
            await self._request("PATCH", message, json={"categories": categories, "isRead": True})
        elif target.action == "move":
            await self._request("POST", f"{message}/move", json={"destinationId": await self._folder(target.target)})
        else:
            await self._request("DELETE", message)
        self._outstanding.discard(ref)
        if not self._outstanding:
            await self._checkpoint()

    async def _checkpoint(self) -> None:
        if self._next_link:
            await self._cursors.put(self._mailbox.label, self._next_link, now=datetime.now(UTC))
            self._next_link = None

    async def _folder(self, name: str) -> str:
        if name.lower() in _WELL_KNOWN:
            return name.lower()
        if self._folder_id is None:
            escaped = name.replace("'", "''")
            found = await self._request(
                "GET", f"{self._base}/mailFolders", params={"$filter": f"displayName eq '{escaped}'", "$select": "id"}
            )
            folders = (found or {}).get("value", [])
            if folders:
                self._folder_id = str(folders[0]["id"])
            else:
                created = await self._request("POST", f"{self._base}/mailFolders", json={"displayName": name})
                self._folder_id = str((created or {}).get("id") or "")
            if not self._folder_id:
                raise MailboxError(f"{self._mailbox.label}: cannot find or create the folder {name!r}")
        return self._folder_id

    async def wait(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                await session.close()
