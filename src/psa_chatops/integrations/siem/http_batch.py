"""What the Splunk and Elastic notifiers share: destination lookup, TLS settings, one POST of a batch.

A POST answers ``HttpAnswer`` (status, parsed ``Retry-After``, the JSON body when there is one, a short text
excerpt for error messages). Transport failures (refused, reset, timeout) are retryable; a certificate the
client does not trust is permanent, because retrying cannot fix it (set ``ca_file``, then replay the rows).
Redirects are not followed, as for webhooks: a redirected POST would lose its body. Error messages name the
URL's origin only; the token or key is never in a message or a log line.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.errors import PermanentDeliveryError, RetryableDeliveryError
from psa_chatops.integrations.recorder import parse_destination
from psa_chatops.integrations.resilience import parse_retry_after

D = TypeVar("D")
_DETAIL_BYTES = 300
_MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a bulk answer lists every item; far above any sane batch


def destination_config(delivery: Delivery, kind: str, destinations: Mapping[str, D]) -> tuple[str, D]:
    """``(name, settings)`` for ``kind:<name>``; an unknown name dead-letters at once (a typo in a routing rule)."""
    found, name = parse_destination(delivery.destination)
    config = destinations.get(name) if found == kind else None
    if config is None:
        known = ", ".join(sorted(destinations)) or "none"
        raise PermanentDeliveryError(
            f"no {kind} destination named {name!r} is configured (configured: {known})",
            destination=delivery.destination,
        )
    return name, config


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    retry_after: float | None
    body: Any
    detail: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299


def tls_context(*, ca_file: str | None, verify: bool) -> ssl.SSLContext | bool:
    """What aiohttp's ``ssl=`` takes: a context trusting ``ca_file``, ``False`` (no verification) or ``True``."""
    if not verify:
        return False
    return ssl.create_default_context(cafile=ca_file) if ca_file else True


@dataclass
class TlsCache:
    """TLS contexts built once per destination, off the event loop (reading a CA file blocks)."""

    contexts: dict[str, ssl.SSLContext | bool] = field(default_factory=dict)

    async def get(self, name: str, *, ca_file: str | None, verify: bool) -> ssl.SSLContext | bool:
        if name not in self.contexts:
            try:
                self.contexts[name] = await asyncio.to_thread(tls_context, ca_file=ca_file, verify=verify)
            except (OSError, ssl.SSLError) as exc:
                raise PermanentDeliveryError(f"cannot load the CA file of {name!r}: {type(exc).__name__}") from exc
        return self.contexts[name]


async def post_batch(
    session: aiohttp.ClientSession,
    url: URL,
    body: bytes,
    *,
    headers: Mapping[str, str],
    timeout_seconds: float,
    tls: ssl.SSLContext | bool,
    now: Callable[[], float] = time.time,
) -> HttpAnswer:
    try:
        async with session.post(
            url,
            data=body,
            headers=dict(headers),
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            ssl=tls,
            allow_redirects=False,
        ) as response:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now())
            raw = await response.content.read(_MAX_ANSWER_BYTES)
            return HttpAnswer(response.status, retry_after, _json(raw), _detail(raw))
    except aiohttp.ClientConnectorCertificateError as exc:
        raise PermanentDeliveryError(f"POST {url.origin()}: the server's certificate is not trusted") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RetryableDeliveryError(f"POST {url.origin()} failed: {type(exc).__name__}") from exc


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _detail(raw: bytes) -> str:
    return raw[:_DETAIL_BYTES].decode("utf-8", errors="replace").strip()
