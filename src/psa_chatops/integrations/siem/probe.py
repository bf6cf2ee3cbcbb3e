"""``psa doctor``'s SIEM checks: is each named destination configured safely, and does it answer?

Splunk: ``GET /services/collector/health`` (HEC's own health endpoint, no token needed). Elastic: ``GET /`` with
the configured credentials (401 says they are wrong). QRadar: a TCP connection, with the TLS handshake when TLS is
on. Nothing is sent to any index. Each probe returns ``Probe`` results and never raises; secrets never appear.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from psa_chatops.integrations.siem.config import ElasticDestination, QRadarDestination, SplunkDestination
from psa_chatops.integrations.siem.elastic import authorization
from psa_chatops.integrations.siem.http_batch import tls_context
from psa_chatops.integrations.siem.qradar import tls_client_context

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class Probe:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    warning: bool = False


def _clear_text(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname not in _LOOPBACK


async def probe_all(
    *,
    splunk: Mapping[str, SplunkDestination],
    elastic: Mapping[str, ElasticDestination],
    qradar: Mapping[str, QRadarDestination],
    timeout: float = 5.0,  # noqa: ASYNC109 - one budget per probe, passed on to each request
) -> list[Probe]:
    results: list[Probe] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        for name, hec in splunk.items():
            results += await _splunk(session, f"siem splunk:{name}", hec)
        for name, cluster in elastic.items():
            results += await _elastic(session, f"siem elastic:{name}", cluster)
    for name, collector in qradar.items():
        results += await _qradar(f"siem qradar:{name}", collector, timeout)
    return results


def _transport_warnings(name: str, *, url: str, verify: bool) -> list[Probe]:
    warnings = []
    if _clear_text(url):
        warnings.append(Probe(name, False, "credentials go in clear text (http://)", "use https://", warning=True))
    if not verify:
        warnings.append(Probe(name, False, "TLS certificates are not verified", "set ca_file instead", warning=True))
    return warnings


async def _get(session: aiohttp.ClientSession, url: URL, headers: dict[str, str], tls: ssl.SSLContext | bool) -> int:
    async with session.get(url, headers=headers, ssl=tls, allow_redirects=False) as response:
        return response.status


async def _splunk(session: aiohttp.ClientSession, name: str, config: SplunkDestination) -> list[Probe]:
    results = _transport_warnings(name, url=config.url, verify=config.verify)
    url = URL(config.url).with_path("/services/collector/health")
    try:
        tls = await asyncio.to_thread(tls_context, ca_file=config.ca_file, verify=config.verify)
        status = await _get(session, url, {}, tls)
    except (aiohttp.ClientError, TimeoutError, OSError, ssl.SSLError) as exc:
        return [*results, Probe(name, False, f"{url.origin()} unreachable ({type(exc).__name__})", _REACH)]
    if status == 200:
        return [*results, Probe(name, True, f"HEC at {url.origin()} is healthy")]
    return [*results, Probe(name, False, f"HEC health at {url.origin()} answered {status}", _REACH)]


async def _elastic(session: aiohttp.ClientSession, name: str, config: ElasticDestination) -> list[Probe]:
    results = _transport_warnings(name, url=config.url, verify=config.verify)
    auth = authorization(config)
    url = URL(config.url)
    try:
        tls = await asyncio.to_thread(tls_context, ca_file=config.ca_file, verify=config.verify)
        status = await _get(session, url, {"Authorization": auth} if auth else {}, tls)
    except (aiohttp.ClientError, TimeoutError, OSError, ssl.SSLError) as exc:
        return [*results, Probe(name, False, f"{url.origin()} unreachable ({type(exc).__name__})", _REACH)]
    if status in (401, 403):
        fix = "check api_key (the encoded key) or username/password, and the key's index privileges"
        return [*results, Probe(name, False, f"{url.origin()} refused the credentials ({status})", fix)]
    if status != 200:
        return [*results, Probe(name, False, f"{url.origin()} answered {status}", _REACH)]
    return [*results, Probe(name, True, f"{url.origin()} reachable, writing to {config.index}")]


async def _qradar(name: str, config: QRadarDestination, timeout: float) -> list[Probe]:  # noqa: ASYNC109
    where = f"{config.host}:{config.effective_port}"
    results = []
    if not config.tls:
        results.append(Probe(name, False, "LEEF events go in clear text (TCP)", "set tls: true", warning=True))
    elif not config.verify:
        results.append(Probe(name, False, "TLS certificates are not verified", "set ca_file", warning=True))
    try:
        context = await asyncio.to_thread(tls_client_context, config)
        server_name = (config.server_name or config.host) if context is not None else None
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(
                config.host, config.effective_port, ssl=context, server_hostname=server_name
            )
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    except (OSError, TimeoutError) as exc:  # ssl errors are OSErrors
        return [*results, Probe(name, False, f"{where} unreachable ({type(exc).__name__})", _REACH)]
    return [*results, Probe(name, True, f"{where} accepts {'TLS' if config.tls else 'TCP'} connections")]


_REACH = "check the URL/host and port in PSA_SIEM_*, the firewall, and that the service runs"
