"""What a poller pulls from a vendor: batches of normalised alerts, each with the watermark that is safe to store
once the batch has been handed on (``None`` while the vendor's order does not yet allow one)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from psa_chatops.core.alerts import AlertSignal
from psa_chatops.integrations.security.payloads import AlertPayloadError
from psa_chatops.integrations.security.watermark import Watermark

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch:
    signals: list[AlertSignal]
    watermark: Watermark | None = None
    invalid: int = 0


class AlertFeed(Protocol):
    provider: str

    def batches(self, since: Watermark) -> AsyncIterator[Batch]: ...


@dataclass(frozen=True)
class Sorted:
    """One page of items made into signals: the new ones, and every (id, updated at) the page held."""

    signals: list[AlertSignal]
    seen: list[tuple[str, datetime]]
    invalid: int


def sort_page(
    provider: str,
    items: list[object],
    since: Watermark,
    *,
    at: str,
    to_signal: Callable[[object, str], AlertSignal],
    updated_at: Callable[[AlertSignal], datetime | None],
) -> Sorted:
    """Valid, new alerts of a page. An item that does not validate is logged with its pointer and skipped: one
    broken alert must not stall the feed forever (the vendor's console still has it). An item without any time
    (neither updated nor observed) cannot be placed against the watermark, so it is handed on (de-duplication
    keeps it one record)."""
    signals, seen, invalid = [], [], 0
    for index, item in enumerate(items):
        try:
            signal = to_signal(item, f"{at}/{index}")
        except AlertPayloadError as exc:
            invalid += 1
            logger.warning("%s poll: skipped an alert that does not validate: %s", provider, exc)
            continue
        updated = updated_at(signal) or signal.observed_at
        if updated is None:
            signals.append(signal)
            continue
        seen.append((signal.alert_id, updated))
        if since.is_new(signal.alert_id, updated):
            signals.append(signal)
    return Sorted(signals, seen, invalid)
