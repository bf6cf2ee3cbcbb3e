"""The SIEM notifiers the settings ask for, for ``bot.lifecycle.build_dispatcher`` to register per kind."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from psa_chatops.handlers.ports import Notifier
from psa_chatops.integrations.recorder import NotifierRegistry
from psa_chatops.integrations.siem import ELASTIC_KIND, QRADAR_KIND, SPLUNK_KIND
from psa_chatops.integrations.siem.config import ElasticDestination, QRadarDestination, SplunkDestination
from psa_chatops.integrations.siem.elastic import ElasticBulkNotifier
from psa_chatops.integrations.siem.qradar import QRadarSyslogNotifier
from psa_chatops.integrations.siem.splunk import SplunkHecNotifier


def siem_notifiers(
    session: aiohttp.ClientSession,
    *,
    splunk: Mapping[str, SplunkDestination],
    elastic: Mapping[str, ElasticDestination],
    qradar: Mapping[str, QRadarDestination],
    user_agent: str,
) -> dict[str, Notifier]:
    """One notifier per kind that has at least one named destination; none for a kind left unconfigured (its
    rows then dead-letter as an unknown kind, outside the sandbox)."""
    notifiers: dict[str, Notifier] = {}
    if splunk:
        notifiers[SPLUNK_KIND] = SplunkHecNotifier(session, splunk, user_agent=user_agent)
    if elastic:
        notifiers[ELASTIC_KIND] = ElasticBulkNotifier(session, elastic, user_agent=user_agent)
    if qradar:
        notifiers[QRADAR_KIND] = QRadarSyslogNotifier(qradar)
    return notifiers


async def close_siem(registry: NotifierRegistry) -> None:
    """End the syslog connections at shutdown; the HTTP notifiers use the app's session, closed with the app.
    In sandbox mode the recorder answers every kind: nothing to close."""
    if QRADAR_KIND in registry.kinds():
        qradar = registry.for_destination(f"{QRADAR_KIND}:shutdown")
        if isinstance(qradar, QRadarSyslogNotifier):
            await qradar.close()
