"""Building the SOC vendor clients and pollers from settings (the composition root calls these).

``SocSettings`` names what is read, so this module does not import ``bot.settings`` (nothing imports ``bot``);
``Settings`` fits it as it is. A vendor is on when its settings are complete: SentinelOne with a console URL and an
API token, Defender with a tenant and app credentials (its own or the Graph app's).

With several replicas on PostgreSQL each poll takes a session advisory lock named after the poller, so one replica
polls a vendor at a time; the others skip that round.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import aiohttp
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.integrations.calendar_graph import GRAPH_SCOPE, MsalTokenProvider
from psa_chatops.integrations.resilience import BreakerPolicy, CircuitBreaker
from psa_chatops.integrations.security import defender, sentinelone
from psa_chatops.integrations.security.defender_api import DefenderClient, GraphAlertFeed
from psa_chatops.integrations.security.feed import AlertFeed
from psa_chatops.integrations.security.notifier import SOC_KIND, SocNotifier
from psa_chatops.integrations.security.poller import AlertPoller, AlertSink, PollResult
from psa_chatops.integrations.security.sentinelone_api import SentinelOneClient, ThreatFeed
from psa_chatops.storage.alert_cursors import AlertCursorStore
from psa_chatops.storage.sqlite_writer import SqliteWriter

__all__ = ["SOC_KIND", "SocNotifier", "soc_clients", "soc_pollers"]
VendorClient = SentinelOneClient | DefenderClient


class SocSettings(Protocol):
    @property
    def sentinelone_url(self) -> str | None: ...
    @property
    def sentinelone_api_token(self) -> SecretStr | None: ...
    @property
    def graph_api_url(self) -> str: ...
    @property
    def graph_authority_url(self) -> str: ...
    @property
    def defender_endpoint_api_url(self) -> str: ...
    @property
    def defender_endpoint_scope(self) -> str: ...
    @property
    def webhook_timeout_seconds(self) -> float: ...
    @property
    def breaker_failure_threshold(self) -> int: ...
    @property
    def breaker_reset_seconds(self) -> float: ...
    @property
    def security_poll_look_back_hours(self) -> float: ...

    def defender_credentials(self) -> tuple[str, str, SecretStr] | None: ...


def soc_clients(settings: SocSettings, session: aiohttp.ClientSession) -> dict[str, VendorClient]:
    """The configured vendors' API clients by provider slug (empty: no ``soc:`` notifier, no pollers)."""
    clients: dict[str, VendorClient] = {}
    timeout = settings.webhook_timeout_seconds
    if settings.sentinelone_url and settings.sentinelone_api_token:
        token = settings.sentinelone_api_token.get_secret_value()
        clients[sentinelone.PROVIDER] = SentinelOneClient(
            session, base_url=settings.sentinelone_url, api_token=token, timeout=timeout
        )
    credentials = settings.defender_credentials()
    if credentials is not None:
        tenant, client_id, secret = credentials

        def tokens(scope: str) -> MsalTokenProvider:
            return MsalTokenProvider(
                authority_url=settings.graph_authority_url,
                tenant_id=tenant,
                client_id=client_id,
                client_secret=secret.get_secret_value(),
                scope=scope,
                timeout=timeout,
            )

        clients[defender.PROVIDER] = DefenderClient(
            session,
            graph_url=settings.graph_api_url,
            tokens=tokens(GRAPH_SCOPE),
            endpoint_url=settings.defender_endpoint_api_url,
            endpoint_tokens=tokens(settings.defender_endpoint_scope),
            timeout=timeout,
        )
    return clients


def _feed(client: VendorClient) -> AlertFeed:
    return ThreatFeed(client) if isinstance(client, SentinelOneClient) else GraphAlertFeed(client)


def soc_pollers(
    settings: SocSettings,
    session: aiohttp.ClientSession,
    engine: AsyncEngine,
    writer: SqliteWriter | None,
    sink_for: Callable[[str], AlertSink],
) -> dict[str, Callable[[], Awaitable[PollResult | None]]]:
    """One scheduled job per configured vendor, by job name (``poll-sentinelone``, ``poll-defender``)."""
    store = AlertCursorStore(engine, writer=writer)
    policy = BreakerPolicy(
        failure_threshold=settings.breaker_failure_threshold, reset_timeout=settings.breaker_reset_seconds
    )
    jobs: dict[str, Callable[[], Awaitable[PollResult | None]]] = {}
    for provider, client in soc_clients(settings, session).items():
        poller = AlertPoller(
            feed=_feed(client),
            cursors=store,
            sink=sink_for(provider),
            breaker=CircuitBreaker(policy, now=time.monotonic),
            now=lambda: datetime.now(UTC),
            look_back=timedelta(hours=settings.security_poll_look_back_hours),
        )
        name = f"poll-{provider}"
        jobs[name] = _one_replica(engine, name, poller.poll)
    return jobs


def _one_replica(
    engine: AsyncEngine, name: str, poll: Callable[[], Awaitable[PollResult]]
) -> Callable[[], Awaitable[PollResult | None]]:
    if engine.dialect.name != "postgresql":
        return poll
    key = zlib.crc32(name.encode())

    async def locked() -> PollResult | None:
        async with engine.connect() as conn:
            if not (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar():
                return None  # another replica is polling this vendor
            try:
                return await poll()
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})

    return locked
