"""``psa doctor``'s SIEM checks against the loopback fakes and a closed port: reachability, credentials, warnings."""

from __future__ import annotations

from pytest_aiohttp import AiohttpServer

from psa_chatops.bot.doctor import Check, siem_checks
from psa_chatops.bot.settings import Settings
from tests.fakes.elastic import API_KEY, start_fake_elastic
from tests.fakes.splunk_hec import TOKEN, start_fake_hec
from tests.integrations.siem.rsyslog import free_port


async def test_doctor_probes_every_siem_destination(aiohttp_server: AiohttpServer) -> None:
    hec, elastic = await start_fake_hec(aiohttp_server), await start_fake_elastic(aiohttp_server)
    closed = free_port()
    settings = Settings(
        siem_splunk={"main": {"url": hec.url, "token": TOKEN}},
        siem_elastic={"good": {"url": elastic.url, "api_key": API_KEY}, "bad": {"url": elastic.url, "api_key": "eA=="}},
        siem_qradar={"soc": {"host": "127.0.0.1", "port": closed}},
    )

    checks = {(c.name, c.detail): c for c in await siem_checks(settings)}

    by_name: dict[str, list[Check]] = {}
    for (name, _), check in checks.items():
        by_name.setdefault(name, []).append(check)
    [splunk] = by_name["siem splunk:main"]
    assert splunk.ok
    assert "is healthy" in splunk.detail
    [good] = by_name["siem elastic:good"]
    assert good.ok
    assert "logs-psa_chatops.events-default" in good.detail
    [bad] = by_name["siem elastic:bad"]
    assert not bad.ok
    assert "refused the credentials (401)" in bad.detail
    assert "eA==" not in bad.detail
    clear, unreachable = by_name["siem qradar:soc"]
    assert clear.warning
    assert "clear text" in clear.detail
    assert not unreachable.ok
    assert not unreachable.warning
    assert f"127.0.0.1:{closed} unreachable" in unreachable.detail
    assert all(TOKEN not in c.detail and API_KEY not in c.detail for c in checks.values())


async def test_no_siem_destination_no_check() -> None:
    assert await siem_checks(Settings()) == []
