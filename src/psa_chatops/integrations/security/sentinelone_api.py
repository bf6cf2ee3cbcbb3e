"""The SentinelOne Management API v2.1: threats since a watermark (cursor pagination), close-back and isolation.

- ``GET /web/api/v2.1/threats?updatedAt__gte=...&sortBy=updatedAt&sortOrder=asc&limit=...[&cursor=...]``: oldest
  change first, so after every page the watermark may be stored (``ThreatFeed``);
- ``POST /web/api/v2.1/threats/analyst-verdict`` then ``POST /web/api/v2.1/threats/incident`` (status
  ``resolved``): the console asks for a verdict before it resolves, so the verdict goes first;
- ``POST /web/api/v2.1/agents/actions/disconnect``: network quarantine of one agent.

Auth: ``Authorization: ApiToken <token>``. Actions filter by ``ids`` and answer ``{"data": {"affected": n}}``;
``affected: 0`` means the threat or agent does not exist (any more) for this token: a permanent error.

Our classification -> SentinelOne's ``analystVerdict``: true_positive -> ``true_positive``, false_positive and
benign -> ``false_positive`` (SentinelOne has no verdict for "real but authorised"; it is not a threat, and that is
what its false positive records), undetermined -> ``undefined``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from psa_chatops.core.alerts import AlertClassification
from psa_chatops.integrations.errors import PermanentDeliveryError, RetryableDeliveryError
from psa_chatops.integrations.security import sentinelone
from psa_chatops.integrations.security.feed import Batch, sort_page
from psa_chatops.integrations.security.http import Answer, exchange
from psa_chatops.integrations.security.watermark import Watermark

API = "/web/api/v2.1"
VERDICTS: Mapping[AlertClassification, str] = {
    AlertClassification.TRUE_POSITIVE: "true_positive",
    AlertClassification.FALSE_POSITIVE: "false_positive",
    AlertClassification.BENIGN: "false_positive",
    AlertClassification.UNDETERMINED: "undefined",
}


def s1_time(moment: datetime) -> str:
    """SentinelOne's filter format: ``2018-02-27T04:49:26.257525Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class ThreatPage:
    items: list[object]
    next_cursor: str | None


class SentinelOneClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_token: str,
        timeout: float = 10.0,
        page_size: int = 100,
    ) -> None:
        self._session, self._base = session, base_url.rstrip("/") + API
        self._headers = {"Authorization": f"ApiToken {api_token}"}
        self._timeout, self._page_size = aiohttp.ClientTimeout(total=timeout), page_size

    async def threats(self, since: datetime, cursor: str | None = None) -> ThreatPage:
        params = {
            "updatedAt__gte": s1_time(since),
            "sortBy": "updatedAt",
            "sortOrder": "asc",
            "limit": str(self._page_size),
        }
        if cursor:
            params["cursor"] = cursor
        answer = await self._call("GET", "/threats", params=params)
        data, pagination = answer.body.get("data"), answer.body.get("pagination") or {}
        if not isinstance(data, list) or not isinstance(pagination, dict):
            raise RetryableDeliveryError("GET /threats answered without a data array", status=answer.status)
        next_cursor = pagination.get("nextCursor")
        return ThreatPage(data, next_cursor if isinstance(next_cursor, str) and next_cursor else None)

    async def resolve(self, threat_id: str, classification: AlertClassification) -> None:
        ids = {"ids": [threat_id]}
        verdict = {"analystVerdict": VERDICTS[classification]}
        await self._act("/threats/analyst-verdict", {"filter": ids, "data": verdict}, what=f"threat {threat_id}")
        status = {"incidentStatus": "resolved"}
        await self._act("/threats/incident", {"filter": ids, "data": status}, what=f"threat {threat_id}")

    async def isolate(self, agent_id: str, *, reason: str) -> None:
        """Disconnect the agent from the network (SentinelOne keeps its own audit; ``reason`` is ours)."""
        body = {"filter": {"ids": [agent_id]}, "data": {}}
        await self._act("/agents/actions/disconnect", body, what=f"agent {agent_id}")

    async def _act(self, path: str, body: dict[str, Any], *, what: str) -> None:
        answer = await self._call("POST", path, body=body)
        data = answer.body.get("data")
        affected = data.get("affected") if isinstance(data, dict) else None
        if affected == 0:
            raise PermanentDeliveryError(f"POST {API}{path}: SentinelOne knows no {what}", status=answer.status)

    async def _call(
        self, method: str, path: str, *, params: dict[str, str] | None = None, body: dict[str, Any] | None = None
    ) -> Answer:
        answer = await exchange(
            self._session,
            method,
            self._base + path,
            headers=self._headers,
            client_timeout=self._timeout,
            body=body,
            params=params,
        )
        return answer.raise_for_status()


class ThreatFeed:
    """Threats changed since the watermark, page by page, oldest change first."""

    provider = sentinelone.PROVIDER

    def __init__(self, client: SentinelOneClient, *, max_pages: int = 50) -> None:
        self._client, self._max_pages = client, max_pages

    async def batches(self, since: Watermark) -> AsyncIterator[Batch]:
        cursor: str | None = None
        watermark = since
        for _ in range(self._max_pages):  # the rest waits for the next poll, from the stored watermark
            page = await self._client.threats(since.after, cursor)
            found = sort_page(
                self.provider,
                page.items,
                since,
                at="/data",
                to_signal=sentinelone.threat_signal,
                updated_at=sentinelone.threat_updated_at,
            )
            watermark = watermark.advance(found.seen)
            yield Batch(found.signals, watermark, found.invalid)
            cursor = page.next_cursor
            if cursor is None:
                return
