"""ElasticBulkNotifier against the loopback bulk API fake: auth, NDJSON, per-item outcomes, exactly-once ids."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError
from pytest_aiohttp import AiohttpServer

from psa_chatops.integrations.errors import PermanentDeliveryError, RateLimitedError, RetryableDeliveryError
from psa_chatops.integrations.siem.config import ElasticDestination
from psa_chatops.integrations.siem.elastic import ElasticBulkNotifier
from tests.fakes.elastic import API_KEY, PASSWORD, USERNAME, RunningElastic, start_fake_elastic
from tests.integrations.siem.siem_support import deliveries, delivery_for, opened_event

DEST = "elastic:main"
INDEX = "logs-psa_chatops.events-default"


@pytest.fixture
async def elastic(aiohttp_server: AiohttpServer) -> RunningElastic:
    return await start_fake_elastic(aiohttp_server)


def notifier(session: aiohttp.ClientSession, elastic: RunningElastic, **overrides: Any) -> ElasticBulkNotifier:
    config = ElasticDestination(**{"url": elastic.url, "api_key": API_KEY, **overrides})
    return ElasticBulkNotifier(session, {"main": config}, user_agent="psa-test/1")


async def test_one_bulk_request_per_batch_with_api_key(
    elastic: RunningElastic, http_session: aiohttp.ClientSession
) -> None:
    batch = deliveries(DEST, 4)
    await asyncio.gather(*(notifier(http_session, elastic).deliver(d) for d in batch[:1]))
    bulk = notifier(http_session, elastic)
    await asyncio.gather(*(bulk.deliver(d) for d in batch[1:]))

    _first, second = elastic.state.requests
    assert second.headers["Authorization"] == f"ApiKey {API_KEY}"
    assert second.headers["Content-Type"] == "application/x-ndjson"
    lines = second.lines()
    assert [line["create"]["_id"] for line in lines[::2]] == [d.idempotency_key for d in batch[1:]]
    documents = elastic.state.documents(INDEX)
    assert set(documents) == {d.idempotency_key for d in batch}
    assert documents[batch[0].idempotency_key]["event"]["id"] == batch[0].payload["event_id"]


async def test_basic_auth(elastic: RunningElastic, http_session: aiohttp.ClientSession) -> None:
    bulk = notifier(http_session, elastic, api_key=None, username=USERNAME, password=PASSWORD)
    await bulk.deliver(delivery_for(opened_event(), DEST))
    expected = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    assert elastic.state.requests[0].headers["Authorization"] == f"Basic {expected}"


async def test_partial_failure_settles_each_item_on_its_own(
    elastic: RunningElastic, http_session: aiohttp.ClientSession
) -> None:
    batch = deliveries(DEST, 4)
    rejected, broken = batch[1].payload["event_id"], batch[2].payload["event_id"]
    elastic.state.fail_items(lambda doc: doc["event"]["id"] == rejected, status=429)
    elastic.state.fail_items(lambda doc: doc["event"]["id"] == broken, status=400)
    bulk = notifier(http_session, elastic)

    results = await asyncio.gather(*(bulk.deliver(d) for d in batch), return_exceptions=True)

    assert results[0] is None
    assert results[3] is None
    assert isinstance(results[1], RateLimitedError)
    assert "es_rejected_execution_exception" in str(results[1])
    assert isinstance(results[2], PermanentDeliveryError)
    assert "mapper_parsing_exception" in str(results[2])
    assert results[2].destination == DEST
    assert len(elastic.state.requests) == 1
    assert set(elastic.state.documents(INDEX)) == {batch[0].idempotency_key, batch[3].idempotency_key}

    elastic.state.heal()  # the dispatcher retries only the rejected row: all four are there, none twice
    await bulk.deliver(batch[1])
    assert len(elastic.state.documents(INDEX)) == 3


async def test_a_resent_row_is_a_409_and_counts_as_delivered(
    elastic: RunningElastic, http_session: aiohttp.ClientSession
) -> None:
    bulk = notifier(http_session, elastic)
    delivery = delivery_for(opened_event(), DEST)
    await bulk.deliver(delivery)
    await bulk.deliver(delivery)  # its first answer was "lost": Elastic has it already
    assert len(elastic.state.documents(INDEX)) == 1
    assert elastic.state.requests[1].lines()[0]["create"]["_id"] == delivery.idempotency_key


async def test_request_level_failures(elastic: RunningElastic, http_session: aiohttp.ClientSession) -> None:
    bulk = notifier(http_session, elastic)
    elastic.state.fail_next(1, status=503, retry_after=9)
    with pytest.raises(RateLimitedError) as raised:
        await bulk.deliver(delivery_for(opened_event(), DEST))
    assert raised.value.retry_after == 9
    elastic.state.fail_next(1, status=502)
    with pytest.raises(RetryableDeliveryError):
        await bulk.deliver(delivery_for(opened_event(), DEST))
    with pytest.raises(PermanentDeliveryError, match=r"401: .*security_exception") as refused:
        await notifier(http_session, elastic, api_key="d3Jvbmc=").deliver(delivery_for(opened_event(), DEST))
    assert "d3Jvbmc=" not in str(refused.value)


def test_settings_refuse_ambiguous_auth_and_bad_index_names() -> None:
    with pytest.raises(ValidationError, match="not both"):
        ElasticDestination(url="https://es:9200", api_key="k", username="u", password="p")
    with pytest.raises(ValidationError, match="needs both username and password"):
        ElasticDestination(url="https://es:9200", username="u")
    with pytest.raises(ValidationError, match="lowercase"):
        ElasticDestination(url="https://es:9200", index="PSA Events")
    with pytest.raises(ValidationError, match="absolute http"):
        ElasticDestination(url="es:9200")
