"""One HTTP exchange with a vendor API, and the policy that turns its answer into our delivery errors.

Shared by the SentinelOne and Defender clients, so both agree with every other notifier (``error_for_status``):
transport failures, 408/425/5xx retryable; 429, and 503/504 with ``Retry-After``, rate limited; other 4xx
permanent. Error messages name the method and the path, never the host or a credential.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from psa_chatops.integrations.errors import (
    PermanentDeliveryError,
    RateLimitedError,
    RetryableDeliveryError,
    error_for_status,
)
from psa_chatops.integrations.resilience import parse_retry_after

_DETAIL_CHARS = 300


@dataclass(frozen=True)
class Answer:
    method: str
    path: str
    status: int
    retry_after: float | None
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299

    def raise_for_status(self) -> Answer:
        """This answer when it is a 2xx, else the matching ``DeliveryError``."""
        if self.ok:
            return self
        message = f"{self.method} {self.path} answered {self.status}: {detail(self.body)}"
        if self.status in (503, 504) and self.retry_after is not None:
            raise RateLimitedError(message, retry_after=self.retry_after, status=self.status)
        error = error_for_status(self.status, retry_after=self.retry_after, message=message)
        raise error if error is not None else PermanentDeliveryError(message, status=self.status)


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    client_timeout: aiohttp.ClientTimeout,
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
) -> Answer:
    """The answer, whatever its status; only a failed exchange (no answer, unreadable JSON) raises."""
    path = urlsplit(url).path
    try:
        async with session.request(
            method,
            url,
            json=body,
            params=params,
            headers={"Accept": "application/json", **headers},
            timeout=client_timeout,
            allow_redirects=False,
        ) as response:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now=time.time())
            parsed: Any = {}
            if response.status != 204 and response.content_type == "application/json":
                parsed = await response.json()
            return Answer(method, path, response.status, retry_after, parsed if isinstance(parsed, dict) else {})
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise RetryableDeliveryError(f"{method} {path} failed: {type(exc).__name__}") from exc


def detail(body: dict[str, Any]) -> str:
    """The vendor's error text: Graph's ``error.code/message``, SentinelOne's ``errors[0].title/detail``."""
    error = body.get("error")
    if isinstance(error, dict):
        return f"{error.get('code', '')}: {error.get('message', '')}"[:_DETAIL_CHARS]
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return f"{errors[0].get('title', '')}: {errors[0].get('detail', '')}"[:_DETAIL_CHARS]
    return json.dumps(body)[:_DETAIL_CHARS]
