"""Microsoft Defender through Microsoft Graph (alerts, close-back) and the Defender for Endpoint API (isolation).

- ``GET {graph}/security/alerts_v2?$filter=lastUpdateDateTime ge <watermark>&$top=<n>``, then every
  ``@odata.nextLink``. ``alerts_v2`` cannot be ordered, so the watermark is stored only after the last page
  (``AlertFeed``); a next link that leaves the configured Graph host is refused, so a token never travels elsewhere.
- ``PATCH {graph}/security/alerts_v2/{id}`` with ``status: resolved``, ``classification`` and ``determination``.
- ``POST {endpoint api}/api/machines/{id}/isolate`` (``IsolationType: Full``); an isolation already pending
  (``ActiveRequestAlreadyExists``) counts as done, so a retried delivery does not fail.

Tokens: app-only msal client credentials (``MsalTokenProvider`` of the calendar sync), one for Graph
(``SecurityAlert.ReadWrite.All``) and one for the Defender for Endpoint API (``Machine.Isolate``); a 401 is retried
once with a fresh token.

Our classification -> Graph: true_positive -> ``truePositive``/``other``; false_positive ->
``falsePositive``/``notMalicious``; benign -> ``informationalExpectedActivity``/``other``; undetermined ->
``unknown``/``unknown``. (Valid pairs as Microsoft documents them for ``alert`` resources.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from psa_chatops.core.alerts import AlertClassification
from psa_chatops.integrations.calendar_graph import TokenProvider
from psa_chatops.integrations.errors import PermanentDeliveryError, RetryableDeliveryError
from psa_chatops.integrations.security import defender
from psa_chatops.integrations.security.feed import Batch, sort_page
from psa_chatops.integrations.security.http import Answer, exchange
from psa_chatops.integrations.security.watermark import Watermark

ENDPOINT_SCOPE = "https://api.securitycenter.microsoft.com/.default"
CLASSIFICATIONS: Mapping[AlertClassification, tuple[str, str]] = {
    AlertClassification.TRUE_POSITIVE: ("truePositive", "other"),
    AlertClassification.FALSE_POSITIVE: ("falsePositive", "notMalicious"),
    AlertClassification.BENIGN: ("informationalExpectedActivity", "other"),
    AlertClassification.UNDETERMINED: ("unknown", "unknown"),
}
ALREADY_ISOLATING = "ActiveRequestAlreadyExists"


def graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class AlertPage:
    items: list[object]
    next_link: str | None


class DefenderClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        graph_url: str,
        tokens: TokenProvider,
        endpoint_url: str,
        endpoint_tokens: TokenProvider,
        timeout: float = 10.0,
        page_size: int = 200,
    ) -> None:
        self._session, self._graph, self._endpoint = session, graph_url.rstrip("/"), endpoint_url.rstrip("/")
        self._tokens, self._endpoint_tokens = tokens, endpoint_tokens
        self._timeout, self._page_size = aiohttp.ClientTimeout(total=timeout), page_size

    async def alerts(self, since: datetime, next_link: str | None = None) -> AlertPage:
        if next_link is None:
            url = f"{self._graph}/security/alerts_v2"
            params: dict[str, str] | None = {
                "$filter": f"lastUpdateDateTime ge {graph_time(since)}",
                "$top": str(self._page_size),
            }
        else:
            url, params = self._same_host(next_link), None
        answer = await self._call(self._tokens, "GET", url, params=params)
        items, link = answer.body.get("value"), answer.body.get("@odata.nextLink")
        if not isinstance(items, list):
            raise RetryableDeliveryError("GET /security/alerts_v2 answered without a value array", status=answer.status)
        return AlertPage(items, link if isinstance(link, str) and link else None)

    async def resolve(self, alert_id: str, classification: AlertClassification) -> None:
        verdict, determination = CLASSIFICATIONS[classification]
        body = {"status": "resolved", "classification": verdict, "determination": determination}
        url = f"{self._graph}/security/alerts_v2/{quote(alert_id, safe='')}"
        await self._call(self._tokens, "PATCH", url, body=body)

    async def isolate(self, machine_id: str, *, reason: str) -> None:
        url = f"{self._endpoint}/api/machines/{quote(machine_id, safe='')}/isolate"
        body = {"Comment": reason, "IsolationType": "Full"}
        answer = await self._answer(self._endpoint_tokens, "POST", url, body=body)
        error = answer.body.get("error")
        if answer.status == 400 and isinstance(error, dict) and error.get("code") == ALREADY_ISOLATING:
            return
        answer.raise_for_status()

    def _same_host(self, link: str) -> str:
        ours, theirs = urlsplit(self._graph), urlsplit(link)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            raise PermanentDeliveryError("Graph's @odata.nextLink points away from the configured Graph host")
        return link

    async def _call(
        self,
        tokens: TokenProvider,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Answer:
        answer = await self._answer(tokens, method, url, params=params, body=body)
        return answer.raise_for_status()

    async def _answer(
        self,
        tokens: TokenProvider,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Answer:
        """The answer; a 401 is retried once with a fresh token, a second 401 is retryable (permissions that
        Entra has not propagated yet)."""
        answer = await self._send(await tokens.token(), method, url, params, body)
        if answer.status == 401:
            answer = await self._send(await tokens.token(refresh=True), method, url, params, body)
            if answer.status == 401:
                raise RetryableDeliveryError(f"{method} {answer.path} answered 401 twice", status=401)
        return answer

    async def _send(
        self, token: str, method: str, url: str, params: dict[str, str] | None, body: dict[str, Any] | None
    ) -> Answer:
        headers = {"Authorization": f"Bearer {token}"}
        return await exchange(
            self._session, method, url, headers=headers, client_timeout=self._timeout, body=body, params=params
        )


class GraphAlertFeed:
    """Graph alerts changed since the watermark; the watermark comes with the last page only."""

    provider = defender.PROVIDER

    def __init__(self, client: DefenderClient, *, max_pages: int = 100) -> None:
        self._client, self._max_pages = client, max_pages

    async def batches(self, since: Watermark) -> AsyncIterator[Batch]:
        link: str | None = None
        watermark = since
        for _ in range(self._max_pages):
            page = await self._client.alerts(since.after, link)
            found = sort_page(
                self.provider,
                page.items,
                since,
                at="/value",
                to_signal=defender.graph_signal,
                updated_at=defender.graph_updated_at,
            )
            watermark = watermark.advance(found.seen)
            link = page.next_link
            yield Batch(found.signals, watermark if link is None else None, found.invalid)
            if link is None:
                return
        raise RetryableDeliveryError(f"more than {self._max_pages} pages of Defender alerts; watermark kept")
