"""Why a delivery failed, in the three shapes the outbox dispatcher acts on.

The dispatcher never looks at status codes or exception types of a particular client library. Every notifier
translates its failures into one of these classes, so the retry decision is made once, in ``bot/worker.py``:

    DeliveryError                      base class; never raised directly
     ├── RetryableDeliveryError        timeouts, connection refused/reset, 408, 425, 5xx -> reschedule with backoff
     │    └── RateLimitedError         429, or 503 with Retry-After -> reschedule no earlier than ``retry_after``
     └── PermanentDeliveryError        other 4xx, 3xx, malformed or unknown destination -> dead-letter now

``error_for_status`` is the HTTP status policy shared by every HTTP notifier, so Slack, Teams and webhooks agree
on what a 503 or a 404 means.
"""

from __future__ import annotations

RETRYABLE_STATUSES = frozenset({408, 425, 429})
"""4xx statuses that describe a transient condition; every 5xx is retryable as well."""


class DeliveryError(Exception):
    """A notifier could not deliver one outbox row.

    ``destination`` and ``status`` are diagnostics for the dead-letter record and the logs; ``status`` is the
    HTTP status when the destination answered at all.
    """

    def __init__(self, message: str, *, destination: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.destination = destination
        self.status = status


class RetryableDeliveryError(DeliveryError):
    """The destination may accept the same delivery later: reschedule it with backoff."""


class RateLimitedError(RetryableDeliveryError):
    """The destination asked us to slow down; ``retry_after`` (seconds from now) is its hint, when it gave one."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        destination: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, destination=destination, status=status)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Retrying the same delivery cannot succeed: dead-letter it (it can be replayed after a fix)."""


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or 500 <= status <= 599


def error_for_status(
    status: int,
    *,
    retry_after: float | None,
    message: str,
    destination: str | None = None,
) -> DeliveryError | None:
    """Map an HTTP status to the error to raise, or ``None`` for 2xx.

    ``retry_after`` is the already parsed ``Retry-After`` header. A 429 is always rate limiting (with or without
    a hint); a 503 is rate limiting only when it says when to come back.
    """
    if 200 <= status <= 299:
        return None
    if status == 429 or (status == 503 and retry_after is not None):
        return RateLimitedError(message, retry_after=retry_after, destination=destination, status=status)
    if is_retryable_status(status):
        return RetryableDeliveryError(message, destination=destination, status=status)
    return PermanentDeliveryError(message, destination=destination, status=status)
