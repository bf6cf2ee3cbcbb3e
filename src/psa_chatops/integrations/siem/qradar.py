"""``qradar:<name>`` deliveries: LEEF 2.0 events in RFC 5424 syslog over TCP (optionally TLS), batched.

One long-lived connection per destination. A batch is its octet-counted frames (RFC 6587) in one write; the
write and ``drain`` succeeding is "delivered" (plain syslog over TCP has no application-level acknowledgement).
Before each write the connection is checked: a peer that closed it (collector restarted, idle timeout) shows as
EOF, and the notifier reconnects first instead of writing into a dead socket. A write that fails closes the
connection and is retryable; the next delivery connects afresh. TLS verifies the collector's certificate by
default (``ca_file`` for a private CA; ``verify: false`` only for tests and labs). Connection refused, resets and
timeouts are retryable; a certificate that does not verify is permanent (fix ``ca_file``, then replay).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Mapping, Sequence

from psa_chatops import __version__
from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from psa_chatops.integrations.siem import QRADAR_KIND
from psa_chatops.integrations.siem.batching import Batcher
from psa_chatops.integrations.siem.config import QRadarDestination
from psa_chatops.integrations.siem.http_batch import destination_config
from psa_chatops.integrations.siem.leef_format import leef_event
from psa_chatops.integrations.siem.record import to_record
from psa_chatops.integrations.siem.syslog_format import SYSLOG_SEVERITY, octet_frame, syslog_message


def tls_client_context(config: QRadarDestination) -> ssl.SSLContext | None:
    """None for plain TCP; else a client context trusting ``ca_file`` (or the system's CAs)."""
    if not config.tls:
        return None
    context = ssl.create_default_context(cafile=config.ca_file)
    if not config.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class SyslogConnection:
    """A TCP (or TLS) connection to one collector that reconnects when it finds itself broken."""

    def __init__(self, config: QRadarDestination, *, name: str) -> None:
        self._config, self._name = config, name
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tls: ssl.SSLContext | None = None
        self._lock = asyncio.Lock()
        self.connects = 0  # how many connections were opened: tests see reconnects

    @property
    def where(self) -> str:
        return f"syslog {self._config.host}:{self._config.effective_port}"

    async def send(self, payload: bytes) -> None:
        async with self._lock:
            writer = self._writer if self._writer is not None and not self._is_stale() else await self._reconnect()
            try:
                async with asyncio.timeout(self._config.timeout_seconds):
                    writer.write(payload)
                    await writer.drain()
            except (OSError, TimeoutError) as exc:  # ssl.SSLError and ConnectionError are OSErrors
                await self._drop()
                raise RetryableDeliveryError(f"write to {self.where} failed: {type(exc).__name__}") from exc

    def _is_stale(self) -> bool:
        writer, reader = self._writer, self._reader
        return writer is None or reader is None or writer.is_closing() or reader.at_eof()

    async def _reconnect(self) -> asyncio.StreamWriter:
        await self._drop()
        if self._config.tls and self._tls is None:
            try:
                self._tls = await asyncio.to_thread(tls_client_context, self._config)  # reads the CA file
            except (OSError, ssl.SSLError) as exc:
                raise PermanentDeliveryError(f"cannot load the CA file for {self.where}: {exc}") from exc
        server_name = (self._config.server_name or self._config.host) if self._tls is not None else None
        try:
            async with asyncio.timeout(self._config.timeout_seconds):
                reader, writer = await asyncio.open_connection(
                    self._config.host, self._config.effective_port, ssl=self._tls, server_hostname=server_name
                )
        except ssl.SSLCertVerificationError as exc:
            raise PermanentDeliveryError(f"{self.where}: certificate not trusted ({exc.verify_message})") from exc
        except (OSError, TimeoutError) as exc:
            raise RetryableDeliveryError(f"cannot connect to {self.where}: {type(exc).__name__}") from exc
        self._reader, self._writer = reader, writer
        self.connects += 1
        return writer

    async def _drop(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    async def close(self) -> None:
        async with self._lock:
            await self._drop()


class QRadarSyslogNotifier:
    """``Notifier`` for ``qradar:`` destinations; ``close()`` ends the connections at shutdown."""

    def __init__(self, destinations: Mapping[str, QRadarDestination], *, version: str = __version__) -> None:
        self._destinations, self._version = dict(destinations), version
        self._default_host = socket.gethostname() or "psa-chatops"
        self.connections = {name: SyslogConnection(config, name=name) for name, config in self._destinations.items()}
        self.batchers: dict[str, Batcher[bytes]] = {
            name: Batcher(self._send, max_items=config.batch_size, linger_seconds=config.linger_ms / 1000)
            for name, config in self._destinations.items()
        }

    def frame(self, delivery: Delivery, config: QRadarDestination) -> bytes:
        """The octet-counted syslog frame of one delivery (pure given the config)."""
        record = to_record(delivery)
        leef = leef_event(
            record, vendor=config.vendor, product=config.product, version=self._version, delimiter=config.delimiter
        )
        message = syslog_message(
            leef,
            timestamp=record.occurred_at,
            hostname=config.hostname or self._default_host,
            app_name=config.app_name,
            msgid=record.event_type,
            facility=config.facility,
            severity=SYSLOG_SEVERITY[record.severity],
        )
        return octet_frame(message)

    async def deliver(self, delivery: Delivery) -> None:
        name, config = destination_config(delivery, QRADAR_KIND, self._destinations)
        try:
            await self.batchers[name].submit(name, self.frame(delivery, config))
        except DeliveryError as exc:
            exc.destination = exc.destination or delivery.destination
            raise

    async def _send(self, name: str, frames: Sequence[bytes]) -> Sequence[DeliveryError | None]:
        await self.connections[name].send(b"".join(frames))
        return [None] * len(frames)

    async def close(self) -> None:
        for connection in self.connections.values():
            await connection.close()
