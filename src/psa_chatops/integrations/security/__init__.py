"""SOC platforms: each vendor's own webhook/export/API format normalised into ``AlertSignal``s, the vendor API
clients that poll for alerts and act on them (close-back, isolation), and the ``soc:`` outbox notifier.

``normalise(provider, payload)`` is the contract of ``POST /api/v1/security/providers/{provider}``: a payload may
hold several alerts (an export list, an API page); a payload that does not fit raises ``AlertPayloadError`` with the
JSON pointer of the offending field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from psa_chatops.core.alerts import AlertSignal
from psa_chatops.integrations.security import barracuda_xdr, defender, rocketcyber, sentinelone
from psa_chatops.integrations.security.payloads import AlertPayloadError

PROVIDERS = ("rocketcyber", "barracuda-xdr", "sentinelone", "defender")
NORMALISERS: Mapping[str, Callable[[object], list[AlertSignal]]] = {
    rocketcyber.PROVIDER: rocketcyber.normalise,
    barracuda_xdr.PROVIDER: barracuda_xdr.normalise,
    sentinelone.PROVIDER: sentinelone.normalise,
    defender.PROVIDER: defender.normalise,
}
__all__ = ["PROVIDERS", "AlertPayloadError", "normalise"]


def normalise(provider: str, payload: object) -> list[AlertSignal]:
    """The alerts in a vendor's payload; ``KeyError``-free: an unknown provider is an ``AlertPayloadError`` too."""
    normaliser = NORMALISERS.get(provider)
    if normaliser is None:
        raise AlertPayloadError("", f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
    signals = normaliser(payload)
    if not signals:
        raise AlertPayloadError("", "the payload holds no alerts")
    return signals
