"""``elastic:<name>`` deliveries: ECS documents through the Elasticsearch bulk API, batched.

``POST <url>/_bulk`` with ``Content-Type: application/x-ndjson`` and ``Authorization: ApiKey <key>`` (or HTTP
basic auth); each row is a ``create`` action with the row's idempotency key as ``_id`` (``ecs_format``). The bulk
API answers 200 even when items fail, so each item's own status decides its row:

- 2xx: delivered; 409 (``version_conflict_engine_exception``): the document exists already, i.e. an earlier
  attempt got through and its answer was lost, so delivered as well;
- 429 (``es_rejected_execution_exception``): rate limited (the response's ``Retry-After``, if any);
  408 and 5xx: retryable; any other status (mapping errors, ...): permanent, with Elastic's reason.

The request's own status maps like every HTTP notifier (``error_for_status``): 429, and 503 with ``Retry-After``,
rate limited; 5xx retryable; 401/403 (bad key) and other 4xx permanent.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
from yarl import URL

from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RateLimitedError,
    RetryableDeliveryError,
    error_for_status,
    is_retryable_status,
)
from psa_chatops.integrations.siem import ELASTIC_KIND
from psa_chatops.integrations.siem.batching import Batcher
from psa_chatops.integrations.siem.config import ElasticDestination
from psa_chatops.integrations.siem.ecs_format import bulk_body, ecs_document
from psa_chatops.integrations.siem.http_batch import HttpAnswer, TlsCache, destination_config, post_batch
from psa_chatops.integrations.siem.record import to_record

Document = tuple[str, dict[str, Any]]  # (_id, ECS document)


def authorization(config: ElasticDestination) -> str | None:
    if config.api_key is not None:
        return f"ApiKey {config.api_key.get_secret_value()}"
    if config.username and config.password is not None:
        pair = f"{config.username}:{config.password.get_secret_value()}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"
    return None


class ElasticBulkNotifier:
    """``Notifier`` for ``elastic:`` destinations. The session is shared and owned by the caller."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        destinations: Mapping[str, ElasticDestination],
        *,
        user_agent: str,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._session, self._destinations, self._user_agent, self._now = session, dict(destinations), user_agent, now
        self._tls = TlsCache()
        self.batchers: dict[str, Batcher[Document]] = {
            name: Batcher(self._send, max_items=config.batch_size, linger_seconds=config.linger_ms / 1000)
            for name, config in self._destinations.items()
        }

    async def deliver(self, delivery: Delivery) -> None:
        name, _ = destination_config(delivery, ELASTIC_KIND, self._destinations)
        document = (delivery.idempotency_key, ecs_document(to_record(delivery)))
        try:
            await self.batchers[name].submit(name, document)
        except DeliveryError as exc:
            exc.destination = exc.destination or delivery.destination
            raise

    async def _send(self, name: str, documents: Sequence[Document]) -> Sequence[DeliveryError | None]:
        config = self._destinations[name]
        url = URL(config.url).with_path(URL(config.url).path.rstrip("/") + "/_bulk")
        headers = {"Content-Type": "application/x-ndjson", "User-Agent": self._user_agent}
        auth = authorization(config)
        if auth is not None:
            headers["Authorization"] = auth
        answer = await post_batch(
            self._session,
            url,
            bulk_body(config.index, documents),
            headers=headers,
            timeout_seconds=config.timeout_seconds,
            tls=await self._tls.get(name, ca_file=config.ca_file, verify=config.verify),
            now=self._now,
        )
        where = f"Elasticsearch {url.origin()}"
        if not answer.ok:
            message = f"{where} answered {answer.status}: {answer.detail}"
            error = error_for_status(answer.status, retry_after=answer.retry_after, message=message)
            raise error if error is not None else PermanentDeliveryError(message, status=answer.status)
        return item_outcomes(answer, count=len(documents), where=where)


def item_outcomes(answer: HttpAnswer, *, count: int, where: str) -> list[DeliveryError | None]:
    """One outcome per bulk item, in request order (the bulk API answers items in that order)."""
    body = answer.body if isinstance(answer.body, dict) else {}
    items = body.get("items")
    if not isinstance(items, list) or len(items) != count:
        raise RetryableDeliveryError(f"{where} answered 200 without one result per document")
    if body.get("errors") is False:
        return [None] * count
    return [_item_outcome(item, where=where, retry_after=answer.retry_after) for item in items]


def _item_outcome(item: Any, *, where: str, retry_after: float | None) -> DeliveryError | None:
    result = next(iter(item.values()), None) if isinstance(item, dict) and item else None
    status = result.get("status") if isinstance(result, dict) else None
    if not isinstance(status, int):
        return RetryableDeliveryError(f"{where}: a bulk item without a status")
    if 200 <= status <= 299 or status == 409:  # 409: created by an earlier attempt
        return None
    error = result.get("error") if isinstance(result, dict) else None
    reason = f"{error.get('type')}: {error.get('reason')}" if isinstance(error, dict) else str(error)
    message = f"{where} refused the document ({status}): {reason[:300]}"
    if status == 429:
        return RateLimitedError(message, retry_after=retry_after, status=status)
    if is_retryable_status(status):
        return RetryableDeliveryError(message, status=status)
    return PermanentDeliveryError(message, status=status)
