"""``splunk:<name>`` deliveries: events to a Splunk HTTP Event Collector, batched.

``POST <url>/services/collector/event`` with ``Authorization: Splunk <token>``, ``Content-Type:
application/json`` and the batch's events, newline-separated (``hec_format``). Answers:

- 2xx: every event of the batch is delivered;
- 400 with ``invalid-event-number`` N: HEC indexed the events before N and stopped at N: those are delivered,
  event N is permanently refused, the events after it are retryable;
- 429, or 503 with ``Retry-After``: rate limited, the dispatcher waits at least that long; other 5xx retryable;
- 401/403 (token disabled or wrong) and other 4xx: permanent for the whole batch.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
from yarl import URL

from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    error_for_status,
)
from psa_chatops.integrations.siem import SPLUNK_KIND
from psa_chatops.integrations.siem.batching import Batcher
from psa_chatops.integrations.siem.config import SplunkDestination
from psa_chatops.integrations.siem.hec_format import hec_body, hec_event
from psa_chatops.integrations.siem.http_batch import HttpAnswer, TlsCache, destination_config, post_batch
from psa_chatops.integrations.siem.record import to_record

EVENT_PATH = "/services/collector/event"


def collector_url(base: str) -> URL:
    """The event endpoint: ``base`` as given when it has a path, else ``base`` + ``/services/collector/event``."""
    url = URL(base)
    return url if url.path not in ("", "/") else url.with_path(EVENT_PATH)


class SplunkHecNotifier:
    """``Notifier`` for ``splunk:`` destinations. The session is shared and owned by the caller."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        destinations: Mapping[str, SplunkDestination],
        *,
        user_agent: str,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._session, self._destinations, self._user_agent, self._now = session, dict(destinations), user_agent, now
        self._tls = TlsCache()
        self._default_host = socket.gethostname() or "psa-chatops"
        self.batchers: dict[str, Batcher[dict[str, Any]]] = {
            name: Batcher(self._send, max_items=config.batch_size, linger_seconds=config.linger_ms / 1000)
            for name, config in self._destinations.items()
        }

    async def deliver(self, delivery: Delivery) -> None:
        name, config = destination_config(delivery, SPLUNK_KIND, self._destinations)
        event = hec_event(
            to_record(delivery),
            host=config.host or self._default_host,
            source=config.source,
            sourcetype=config.sourcetype,
            index=config.index,
        )
        try:
            await self.batchers[name].submit(name, event)
        except DeliveryError as exc:
            exc.destination = exc.destination or delivery.destination
            raise

    async def _send(self, name: str, events: Sequence[dict[str, Any]]) -> Sequence[DeliveryError | None]:
        config = self._destinations[name]
        url = collector_url(config.url)
        headers = {
            "Authorization": f"Splunk {config.token.get_secret_value()}",
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
        }
        answer = await post_batch(
            self._session,
            url,
            hec_body(events),
            headers=headers,
            timeout_seconds=config.timeout_seconds,
            tls=await self._tls.get(name, ca_file=config.ca_file, verify=config.verify),
            now=self._now,
        )
        if answer.ok:
            return [None] * len(events)
        return outcomes_for_error(answer, count=len(events), where=f"Splunk HEC {url.origin()}")


def outcomes_for_error(answer: HttpAnswer, *, count: int, where: str) -> list[DeliveryError | None]:
    """Per-event outcomes of a refused batch; raises when the whole batch shares one outcome."""
    body = answer.body if isinstance(answer.body, dict) else {}
    text = f"{body.get('text', '')} (code {body.get('code')})" if "code" in body else answer.detail
    message = f"{where} answered {answer.status}: {text}"
    invalid = body.get("invalid-event-number")
    if answer.status == 400 and isinstance(invalid, int) and 0 <= invalid < count:
        refused = PermanentDeliveryError(f"{message}; event {invalid} of the batch", status=400)
        later = RetryableDeliveryError(f"{where} stopped at event {invalid} of the batch; this one was not indexed")
        return [None if i < invalid else refused if i == invalid else later for i in range(count)]
    error = error_for_status(answer.status, retry_after=answer.retry_after, message=message)
    raise error if error is not None else PermanentDeliveryError(message, status=answer.status)
