"""``soc:<provider>`` outbox rows: resolve an alert at its source (close-back) or isolate a device.

The row's payload is ``{"action": "resolve" | "isolate", "provider", "alert_id", "classification", "device"}``;
``classification`` (``true_positive``, ``false_positive``, ``benign``, ``undetermined``; absent means undetermined)
matters for ``resolve``, ``device`` (the vendor's own device/agent id, ``AlertSignal.device_id``) for ``isolate``.
Both vendor calls are idempotent (setting a status, disconnecting an agent), so a redelivered row is harmless.
A malformed row, or a provider without a configured client, is a permanent error: it dead-letters at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from psa_chatops.core.alert_closeback import EVENT_TYPE, SOC_KIND, SocAction, soc_destination, soc_payload
from psa_chatops.core.alerts import AlertClassification
from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.errors import DeliveryError, PermanentDeliveryError
from psa_chatops.integrations.recorder import parse_destination

__all__ = ["EVENT_TYPE", "SOC_KIND", "SocNotifier", "SocRequest", "destination_for", "soc_payload"]
Action = SocAction
destination_for = soc_destination


class SocResponder(Protocol):
    async def resolve(self, alert_id: str, classification: AlertClassification) -> None: ...

    async def isolate(self, device: str, *, reason: str) -> None: ...


@dataclass(frozen=True)
class SocRequest:
    action: Action
    provider: str
    alert_id: str
    classification: AlertClassification
    device: str | None


def parse_request(payload: Mapping[str, Any]) -> SocRequest:
    action, provider, alert_id = payload.get("action"), payload.get("provider"), payload.get("alert_id")
    if action not in ("resolve", "isolate"):
        raise PermanentDeliveryError(f"soc row: action must be resolve or isolate, not {action!r}")
    if not isinstance(provider, str) or not provider:
        raise PermanentDeliveryError("soc row: provider is missing")
    if not isinstance(alert_id, str) or not alert_id:
        raise PermanentDeliveryError("soc row: alert_id is missing")
    raw_class = payload.get("classification") or AlertClassification.UNDETERMINED.value
    try:
        classification = AlertClassification(raw_class)
    except ValueError:
        raise PermanentDeliveryError(f"soc row: unknown classification {raw_class!r}") from None
    device = payload.get("device")
    if action == "isolate" and (not isinstance(device, str) or not device):
        raise PermanentDeliveryError("soc row: isolate needs the vendor's device id (device)")
    return SocRequest(action, provider, alert_id, classification, device if isinstance(device, str) else None)


class SocNotifier:
    """``Notifier`` for ``soc:`` destinations; one responder (vendor API client) per configured provider."""

    def __init__(self, responders: Mapping[str, SocResponder]) -> None:
        self._responders = dict(responders)

    def providers(self) -> frozenset[str]:
        return frozenset(self._responders)

    async def deliver(self, delivery: Delivery) -> None:
        try:
            await self._deliver(delivery)
        except DeliveryError as exc:
            exc.destination = exc.destination or delivery.destination
            raise

    async def _deliver(self, delivery: Delivery) -> None:
        kind, provider = parse_destination(delivery.destination)
        responder = self._responders.get(provider) if kind == SOC_KIND else None
        if responder is None:
            raise PermanentDeliveryError(f"no SOC client configured for {delivery.destination!r}")
        request = parse_request(delivery.payload)
        if request.provider != provider:
            raise PermanentDeliveryError(f"soc row for {request.provider!r} sent to {delivery.destination!r}")
        if request.action == "resolve":
            await responder.resolve(request.alert_id, request.classification)
        elif request.device is not None:
            await responder.isolate(request.device, reason=f"psa-chatops: alert {request.alert_id}")
