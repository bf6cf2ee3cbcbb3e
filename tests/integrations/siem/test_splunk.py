"""SplunkHecNotifier against the loopback HEC fake: token auth, batching, partial refusal, rate limits."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer

from psa_chatops.integrations.errors import PermanentDeliveryError, RateLimitedError, RetryableDeliveryError
from psa_chatops.integrations.siem.config import SplunkDestination
from psa_chatops.integrations.siem.splunk import SplunkHecNotifier, collector_url
from tests.fakes.splunk_hec import TOKEN, RunningHec, start_fake_hec
from tests.integrations.siem.siem_support import deliveries, delivery_for, opened_event

DEST = "splunk:main"


@pytest.fixture
async def hec(aiohttp_server: AiohttpServer) -> RunningHec:
    return await start_fake_hec(aiohttp_server)


def notifier(session: aiohttp.ClientSession, hec: RunningHec, **overrides: Any) -> SplunkHecNotifier:
    config = SplunkDestination(**{"url": hec.url, "token": TOKEN, "index": "security", "host": "psa01", **overrides})
    return SplunkHecNotifier(session, {"main": config}, user_agent="psa-test/1")


async def test_a_claimed_batch_goes_out_in_one_request(hec: RunningHec, http_session: aiohttp.ClientSession) -> None:
    splunk = notifier(http_session, hec)
    batch = deliveries(DEST, 5)

    await asyncio.gather(*(splunk.deliver(d) for d in batch))

    [request] = hec.state.requests
    assert request.headers["Authorization"] == f"Splunk {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert [e["event"]["event_id"] for e in hec.state.events] == [d.payload["event_id"] for d in batch]
    assert {e["index"] for e in hec.state.events} == {"security"}
    assert splunk.batchers["main"].batches_sent == 1


async def test_batches_are_cut_at_batch_size(hec: RunningHec, http_session: aiohttp.ClientSession) -> None:
    splunk = notifier(http_session, hec, batch_size=2)
    await asyncio.gather(*(splunk.deliver(d) for d in deliveries(DEST, 5)))
    # Two full batches and the rest after the linger; concurrent requests may reach the collector in any order.
    assert sorted(len(r.body.splitlines()) for r in hec.state.requests) == [1, 2, 2]
    assert len(hec.state.events) == 5


async def test_an_invalid_event_is_refused_alone_the_rest_retry(
    hec: RunningHec, http_session: aiohttp.ClientSession
) -> None:
    splunk = notifier(http_session, hec)
    batch = deliveries(DEST, 3)
    bad = batch[1].payload["event_id"]
    hec.state.refuse(lambda event: event["event"]["event_id"] == bad)

    results = await asyncio.gather(*(splunk.deliver(d) for d in batch), return_exceptions=True)

    assert results[0] is None
    assert isinstance(results[1], PermanentDeliveryError)
    assert "event 1 of the batch" in str(results[1])
    assert isinstance(results[2], RetryableDeliveryError)
    assert not isinstance(results[2], PermanentDeliveryError)
    assert results[1].destination == DEST
    assert [e["event"]["event_id"] for e in hec.state.events] == [batch[0].payload["event_id"]]


@pytest.mark.parametrize(("status", "retry_after"), [(429, 7), (503, 12)])
async def test_busy_collector_is_rate_limited_with_retry_after(
    hec: RunningHec, http_session: aiohttp.ClientSession, status: int, retry_after: int
) -> None:
    hec.state.fail_next(1, status=status, retry_after=retry_after)
    with pytest.raises(RateLimitedError) as raised:
        await notifier(http_session, hec).deliver(delivery_for(opened_event(), DEST))
    assert (raised.value.retry_after, raised.value.status) == (retry_after, status)


async def test_a_wrong_token_is_permanent_and_never_in_the_message(
    hec: RunningHec, http_session: aiohttp.ClientSession
) -> None:
    with pytest.raises(PermanentDeliveryError) as raised:
        await notifier(http_session, hec, token="not-the-token").deliver(delivery_for(opened_event(), DEST))
    assert raised.value.status == 403
    assert "Invalid token (code 4)" in str(raised.value)
    assert "not-the-token" not in str(raised.value)


async def test_an_outage_is_retryable(hec: RunningHec, http_session: aiohttp.ClientSession) -> None:
    splunk = notifier(http_session, hec)
    hec.state.down()
    with pytest.raises(RetryableDeliveryError) as raised:
        await splunk.deliver(delivery_for(opened_event(), DEST))
    assert not isinstance(raised.value, RateLimitedError)  # 503 without Retry-After
    await hec.server.close()
    with pytest.raises(RetryableDeliveryError, match="failed: ClientConnectorError"):
        await splunk.deliver(delivery_for(opened_event(), DEST))


async def test_an_unknown_destination_name_dead_letters(hec: RunningHec, http_session: aiohttp.ClientSession) -> None:
    with pytest.raises(
        PermanentDeliveryError, match=r"no splunk destination named 'other' is configured \(configured: main\)"
    ):
        await notifier(http_session, hec).deliver(delivery_for(opened_event(), "splunk:other"))


def test_collector_url_takes_a_base_or_a_full_endpoint() -> None:
    assert str(collector_url("https://splunk.example:8088")) == "https://splunk.example:8088/services/collector/event"
    assert str(collector_url("https://hec.example/services/collector")) == "https://hec.example/services/collector"
