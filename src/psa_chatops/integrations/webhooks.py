"""Outgoing webhooks: POST one outbox row's payload as JSON to ``webhook:<http(s) url>``.

Each request carries

- ``Content-Type: application/json`` and the configured ``User-Agent``;
- ``Idempotency-Key: <delivery.idempotency_key>``, stable across retries and replays, so receivers can drop
  duplicates (the outbox is at-least-once);
- ``X-PSA-Event: <event_type>`` and ``X-PSA-Delivery: <outbox row id>``;
- when a signing secret is configured, ``X-PSA-Timestamp: <unix seconds>`` and
  ``X-PSA-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``, where ``body`` is the exact bytes
  sent. Receivers recompute the HMAC over the raw body, compare with ``hmac.compare_digest`` and reject stale
  timestamps (we suggest five minutes) to stop replays; ``v1=`` leaves room to rotate the scheme. This is the
  scheme Slack and Stripe use, so receivers' existing verification code fits.

Responses map to ``integrations.errors`` through ``error_for_status``: 2xx is delivered; 408, 425, 429, 5xx are
retryable (429, and 503 with ``Retry-After``, as ``RateLimitedError``); any other status is permanent. Redirects
are *not* followed: aiohttp would turn a redirected POST into a GET and drop the body, so a 3xx is a permanent
error and the subscriber must fix the URL. Transport failures (refused, reset, TLS, timeout) are retryable.
Error messages name only the URL's origin, since webhook paths and queries often embed secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from yarl import URL

from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.errors import (
    PermanentDeliveryError,
    RetryableDeliveryError,
    error_for_status,
)
from psa_chatops.integrations.recorder import parse_destination
from psa_chatops.integrations.resilience import parse_retry_after

WEBHOOK_KIND = "webhook"
_DETAIL_BYTES = 300


def compute_signature(secret: bytes, *, timestamp: int, body: bytes) -> str:
    """The ``X-PSA-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def parse_webhook_url(destination: str) -> URL:
    """The target URL of ``webhook:<url>``; anything but an absolute http(s) URL is a permanent error."""
    kind, target = parse_destination(destination)
    try:
        url = URL(target)
    except ValueError:
        url = URL()
    if kind != WEBHOOK_KIND or url.scheme not in ("http", "https") or not url.host:
        raise PermanentDeliveryError("not a webhook http(s) destination", destination=destination)
    return url


def to_json_body(payload: Mapping[str, Any], *, destination: str) -> bytes:
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise PermanentDeliveryError(f"payload is not JSON: {exc}", destination=destination) from exc


class WebhookNotifier:
    """``Notifier`` for ``webhook:`` destinations. The session is shared and owned by the caller."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout: float = 10.0,
        user_agent: str,
        signing_secret: bytes | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._user_agent = user_agent
        self._signing_secret = signing_secret
        self._now = now

    async def deliver(self, delivery: Delivery) -> None:
        url = parse_webhook_url(delivery.destination)
        body = to_json_body(delivery.payload, destination=delivery.destination)
        status, retry_after, detail = await self._post(url, body, self.headers_for(delivery, body), delivery)
        message = f"POST {url.origin()} answered {status}: {detail}"
        error = error_for_status(status, retry_after=retry_after, message=message, destination=delivery.destination)
        if error is not None:
            raise error

    def headers_for(self, delivery: Delivery, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            "Idempotency-Key": delivery.idempotency_key,
            "X-PSA-Event": delivery.event_type,
            "X-PSA-Delivery": str(delivery.id),
        }
        if self._signing_secret is not None:
            timestamp = int(self._now())
            headers["X-PSA-Timestamp"] = str(timestamp)
            headers["X-PSA-Signature"] = compute_signature(self._signing_secret, timestamp=timestamp, body=body)
        return headers

    async def _post(
        self, url: URL, body: bytes, headers: dict[str, str], delivery: Delivery
    ) -> tuple[int, float | None, str]:
        """Status, parsed ``Retry-After`` and a short body excerpt; transport failures become delivery errors."""
        try:
            async with self._session.post(
                url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), now=self._now())
                detail = "" if response.ok else await _read_detail(response)
                return response.status, retry_after, detail
        except aiohttp.InvalidURL as exc:
            raise PermanentDeliveryError(f"invalid URL {url.origin()}", destination=delivery.destination) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            message = f"POST {url.origin()} failed: {type(exc).__name__}"
            raise RetryableDeliveryError(message, destination=delivery.destination) from exc


async def _read_detail(response: aiohttp.ClientResponse) -> str:
    """The start of an error body, for the dead-letter record; never the whole (possibly huge) body."""
    chunk = await response.content.read(_DETAIL_BYTES)
    return chunk.decode("utf-8", errors="replace").strip()
