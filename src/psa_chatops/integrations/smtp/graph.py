"""Microsoft Graph ``sendMail`` for a Microsoft 365 mailbox (``PSA_MAIL_TRANSPORT=graph``).

``POST {graph}/users/{mailbox}/sendMail`` with the whole MIME message, base64-encoded, as ``text/plain`` (Graph's
MIME form): unlike the JSON form it keeps our ``Message-ID``, ``In-Reply-To``, ``References`` and
``Auto-Submitted`` headers, which threading and loop protection need. The app needs the ``Mail.Send`` application
permission (limit it to the mailbox with an application access policy). Tokens come from the calendar sync's
``MsalTokenProvider`` (client credentials); a 401 refreshes the token once. Graph answers 202; 429 and 503/504
with ``Retry-After`` are rate limited, other 5xx and transport failures retryable, other 4xx permanent.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from email.message import EmailMessage
from urllib.parse import quote

import aiohttp

from psa_chatops.integrations.calendar_graph import TokenProvider
from psa_chatops.integrations.errors import RateLimitedError, RetryableDeliveryError, error_for_status
from psa_chatops.integrations.resilience import parse_retry_after

_DETAIL_BYTES = 300


class GraphMailTransport:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        tokens: TokenProvider,
        mailbox: str,
        api_url: str = "https://graph.microsoft.com/v1.0",
        timeout: float = 30.0,
    ) -> None:
        self._session, self._tokens, self._mailbox = session, tokens, mailbox
        self._url = f"{api_url.rstrip('/')}/users/{quote(mailbox, safe='@')}/sendMail"
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def describe(self) -> str:
        return f"Microsoft Graph sendMail as {self._mailbox}"

    async def send(self, message: EmailMessage, *, sender: str, recipients: Sequence[str]) -> None:
        body = base64.b64encode(message.as_bytes())
        status, retry_after, detail = await self._post(body, await self._tokens.token())
        if status == 401:
            status, retry_after, detail = await self._post(body, await self._tokens.token(refresh=True))
        text = f"sendMail as {self._mailbox} answered {status}: {detail}"
        if status == 401:  # a fresh token refused too: the permission may not have propagated yet
            raise RetryableDeliveryError(text, status=status)
        if status in (503, 504) and retry_after is not None:
            raise RateLimitedError(text, retry_after=retry_after, status=status)
        error = error_for_status(status, retry_after=retry_after, message=text)
        if error is not None:
            raise error

    async def _post(self, body: bytes, token: str) -> tuple[int, float | None, str]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
        try:
            async with self._session.post(
                self._url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), now=time.time())
                detail = "" if response.ok else (await response.content.read(_DETAIL_BYTES)).decode(errors="replace")
                return response.status, retry_after, " ".join(detail.split())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableDeliveryError(f"sendMail as {self._mailbox} failed: {type(exc).__name__}") from exc
