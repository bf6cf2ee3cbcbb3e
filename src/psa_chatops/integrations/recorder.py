"""Routing deliveries to notifiers, and the sandbox notifier that sends nothing.

A destination is ``"kind:target"`` (``"webhook:https://example.com/hook"``, ``"slack:C0123"``). The dispatcher
asks ``NotifierRegistry.for_destination`` which ``Notifier`` handles a row; it never switches on kinds itself.

In sandbox mode (``sandbox_enabled=True``) every well-formed destination, of any kind, goes to the
``RecordingNotifier``, so a newcomer sees every notification without accounts or tokens and nothing leaves the
process. The durable record is the outbox row itself, which the dispatcher marks ``recorded``; the recorder's
bounded in-memory list exists only for inspection (tests, the sandbox UI), so it may forget old entries.
Unknown kinds still fail in production mode with ``PermanentDeliveryError``: a typo in a subscription should
dead-letter at once, not be retried eight times.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from psa_chatops.handlers.ports import Delivery, Notifier
from psa_chatops.integrations.errors import PermanentDeliveryError


def parse_destination(destination: str) -> tuple[str, str]:
    """Split ``"kind:target"`` at the first colon; a missing kind or target is a permanent error."""
    kind, separator, target = destination.partition(":")
    if not separator or not kind or not target:
        raise PermanentDeliveryError(f"malformed destination {destination!r}", destination=destination)
    return kind, target


@dataclass(frozen=True)
class RecordedDelivery:
    delivery: Delivery
    recorded_at: float


class RecordingNotifier:
    """A ``Notifier`` that keeps the last ``capacity`` deliveries in memory and sends nothing."""

    def __init__(self, *, capacity: int = 1000, now: Callable[[], float] = time.time) -> None:
        self._records: deque[RecordedDelivery] = deque(maxlen=capacity)
        self._now = now

    async def deliver(self, delivery: Delivery) -> None:
        self._records.append(RecordedDelivery(delivery=delivery, recorded_at=self._now()))

    def records(self) -> list[RecordedDelivery]:
        return list(self._records)

    def deliveries(self, destination: str | None = None) -> list[Delivery]:
        """Recorded deliveries, oldest first, optionally only those for one destination."""
        return [r.delivery for r in self._records if destination is None or r.delivery.destination == destination]

    def clear(self) -> None:
        self._records.clear()

    def __len__(self) -> int:
        return len(self._records)


class NotifierRegistry:
    """Destination kind -> ``Notifier``; built once in the composition root (``bot/``)."""

    def __init__(
        self,
        notifiers: Mapping[str, Notifier] | None = None,
        *,
        sandbox_enabled: bool = False,
        recorder: RecordingNotifier | None = None,
    ) -> None:
        self._notifiers: dict[str, Notifier] = dict(notifiers or {})
        self.sandbox_enabled = sandbox_enabled
        self.recorder = recorder if recorder is not None else RecordingNotifier()  # an empty recorder is falsy

    def register(self, kind: str, notifier: Notifier) -> None:
        self._notifiers[kind] = notifier

    def kinds(self) -> frozenset[str]:
        return frozenset(self._notifiers)

    def for_destination(self, destination: str) -> Notifier:
        kind, _ = parse_destination(destination)
        if self.sandbox_enabled:
            return self.recorder
        notifier = self._notifiers.get(kind)
        if notifier is None:
            raise PermanentDeliveryError(f"no notifier for destination kind {kind!r}", destination=destination)
        return notifier
