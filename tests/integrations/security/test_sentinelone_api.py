"""SentinelOne against its loopback fake: the poller walks cursor pages from the stored watermark and stores it
only after the sink took the alerts; close-back and isolation send SentinelOne's own request bodies; 429 and
outages back off and open the breaker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from psa_chatops.core.alerts import AlertClassification
from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.errors import PermanentDeliveryError, RateLimitedError
from psa_chatops.integrations.resilience import BreakerPolicy, CircuitBreaker, RetryPolicy
from psa_chatops.integrations.security.notifier import SocNotifier, soc_payload
from psa_chatops.integrations.security.poller import AlertPoller
from psa_chatops.integrations.security.sentinelone_api import SentinelOneClient, ThreatFeed
from psa_chatops.integrations.security.watermark import Watermark
from psa_chatops.storage.alert_cursors import AlertCursorStore
from tests.conftest import FrozenClock
from tests.fakes.sentinelone import TOKEN, FakeSentinelOne
from tests.integrations.security.conftest import RecordingSink

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def threat(threat_id: str, minutes: float, *, agent: str = "agent-1", host: str = "WS-CLIENT-042") -> dict[str, Any]:
    updated = (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "id": threat_id,
        "threatInfo": {
            "threatName": f"evil-{threat_id}.exe",
            "classification": "Malware",
            "confidenceLevel": "malicious",
            "identifiedAt": updated,
            "createdAt": updated,
            "updatedAt": updated,
            "incidentStatus": "unresolved",
            "analystVerdict": "undefined",
        },
        "agentRealtimeInfo": {"agentComputerName": host, "agentId": agent, "siteId": "site-7", "siteName": "Müller"},
    }


@pytest.fixture
def client(s1: FakeSentinelOne, http_session: aiohttp.ClientSession) -> SentinelOneClient:
    return SentinelOneClient(http_session, base_url=s1.url, api_token=TOKEN, page_size=2)


def poller_for(
    client: SentinelOneClient, cursors: AlertCursorStore, sink: RecordingSink, clock: FrozenClock
) -> AlertPoller:
    return AlertPoller(
        feed=ThreatFeed(client),
        cursors=cursors,
        sink=sink,
        breaker=CircuitBreaker(
            BreakerPolicy(failure_threshold=2, reset_timeout=300), now=lambda: clock.now().timestamp()
        ),
        now=clock.now,
        policy=RetryPolicy(base_seconds=10, cap_seconds=60, jitter="none"),
        look_back=timedelta(hours=6),
    )


async def stored(cursors: AlertCursorStore) -> Watermark | None:
    text = await cursors.get("sentinelone")
    return None if text is None else Watermark.from_text(text)


# --- polling --------------------------------------------------------------------------------------------------------


async def test_the_poller_walks_every_page_and_stores_the_watermark(
    s1: FakeSentinelOne, client: SentinelOneClient, cursors: AlertCursorStore, alert_sink: RecordingSink,
    clock: FrozenClock,
) -> None:  # fmt: skip
    s1.state.threats = [threat("5", 50), threat("1", 10), threat("2", 20), threat("3", 30), threat("4", 30)]
    poller = poller_for(client, cursors, alert_sink, clock)
    result = await poller.poll()
    assert (result.handed_on, result.error) == (5, None)
    assert [[s.alert_id for s in b] for b in alert_sink.batches] == [["1", "2"], ["3", "4"], ["5"]]
    assert await stored(cursors) == Watermark(T0 + timedelta(minutes=50), frozenset({"5"}))
    first = s1.state.of("/threats")[0]
    assert first.authorization == f"ApiToken {TOKEN}"
    assert first.query == {
        "updatedAt__gte": "2026-11-23T03:00:00.000000Z",  # the clock's now minus the six hours of look-back
        "sortBy": "updatedAt",
        "sortOrder": "asc",
        "limit": "2",
    }
    assert "cursor" in s1.state.of("/threats")[1].query


async def test_the_next_poll_hands_on_only_what_changed_even_in_the_same_microsecond(
    s1: FakeSentinelOne, client: SentinelOneClient, cursors: AlertCursorStore, alert_sink: RecordingSink,
    clock: FrozenClock,
) -> None:  # fmt: skip
    s1.state.threats = [threat("1", 10), threat("2", 20)]
    poller = poller_for(client, cursors, alert_sink, clock)
    await poller.poll()
    assert (await poller.poll()).handed_on == 0  # nothing new: the boundary alert "2" is not repeated
    s1.state.threats += [threat("3", 20), threat("4", 25)]  # "3" changed at the very instant of the watermark
    s1.state.threats[0] = threat("1", 40)  # and "1" changed again
    result = await poller.poll()
    assert alert_sink.ids == ["1", "2", "3", "4", "1"]
    assert result.handed_on == 3
    assert s1.state.of("/threats")[-1].query["updatedAt__gte"] == "2026-11-28T06:20:00.000000Z"


async def test_a_failing_sink_keeps_the_watermark_and_nothing_is_lost(
    s1: FakeSentinelOne, client: SentinelOneClient, cursors: AlertCursorStore, alert_sink: RecordingSink,
    clock: FrozenClock,
) -> None:  # fmt: skip
    s1.state.threats = [threat("1", 10), threat("2", 20), threat("3", 30)]
    poller = poller_for(client, cursors, alert_sink, clock)
    alert_sink.failures = 1
    result = await poller.poll()
    assert (result.handed_on, result.stored, await stored(cursors)) == (0, None, None)
    assert result.error == "RuntimeError: ingest failed"
    assert (await poller.poll()).skipped == "backoff"
    assert poller.breaker.state == "closed"  # our sink failed, not SentinelOne
    clock.advance(seconds=10)
    assert (await poller.poll()).handed_on == 3
    assert alert_sink.ids == ["1", "2", "3"]


async def test_a_sink_failing_on_the_second_page_resumes_there(
    s1: FakeSentinelOne, client: SentinelOneClient, cursors: AlertCursorStore, alert_sink: RecordingSink,
    clock: FrozenClock,
) -> None:  # fmt: skip
    s1.state.threats = [threat("1", 10), threat("2", 20), threat("3", 30)]
    poller = poller_for(client, cursors, alert_sink, clock)

    async def fail_on_second(signals: list[Any]) -> None:
        if signals[0].alert_id == "3" and not getattr(fail_on_second, "failed", False):
            fail_on_second.failed = True  # type: ignore[attr-defined]
            raise RuntimeError("ingest failed")
        await alert_sink(signals)

    poller.sink = fail_on_second
    await poller.poll()
    assert await stored(cursors) == Watermark(T0 + timedelta(minutes=20), frozenset({"2"}))
    clock.advance(seconds=10)
    await poller.poll()
    assert alert_sink.ids == ["1", "2", "3"]  # the first page was not handed on twice


async def test_an_alert_that_does_not_validate_is_skipped_not_blocking(
    s1: FakeSentinelOne, client: SentinelOneClient, cursors: AlertCursorStore, alert_sink: RecordingSink,
    clock: FrozenClock,
) -> None:  # fmt: skip
    broken = threat("2", 20)
    broken["threatInfo"]["confidenceLevel"] = "very"
    s1.state.threats = [threat("1", 10), broken, threat("3", 30)]
    result = await poller_for(client, cursors, alert_sink, clock).poll()
    assert (alert_sink.ids, result.invalid) == (["1", "3"], 1)


async def test_an_unreadable_stored_cursor_starts_from_the_look_back(
    s1: FakeSentinelOne, client: SentinelOneClient, cursors: AlertCursorStore, alert_sink: RecordingSink,
    clock: FrozenClock,
) -> None:  # fmt: skip
    await cursors.put("sentinelone", "not json", now=clock.now())
    s1.state.threats = [threat("1", 10)]
    assert (await poller_for(client, cursors, alert_sink, clock).poll()).handed_on == 1
    assert s1.state.of("/threats")[0].query["updatedAt__gte"] == "2026-11-23T03:00:00.000000Z"
    assert await stored(cursors) == Watermark(T0 + timedelta(minutes=10), frozenset({"1"}))


# --- failures: Retry-After, backoff, breaker ------------------------------------------------------------------------


async def test_429_retry_after_is_honoured(
    s1: FakeSentinelOne, client: SentinelOneClient, cursors: AlertCursorStore, alert_sink: RecordingSink,
    clock: FrozenClock,
) -> None:  # fmt: skip
    s1.state.threats = [threat("1", 10)]
    s1.state.fail_next(1, status=429, retry_after=120)
    poller = poller_for(client, cursors, alert_sink, clock)
    result = await poller.poll()
    assert result.error is not None
    assert result.error.startswith("RateLimitedError: GET /web/api/v2.1/threats answered 429")
    assert poller.not_before == clock.now() + timedelta(seconds=120)  # Retry-After beats the 10 s backoff
    clock.advance(seconds=119)
    calls = len(s1.state.calls)
    assert (await poller.poll()).skipped == "backoff"
    assert len(s1.state.calls) == calls  # no request while waiting
    clock.advance(seconds=1)
    assert (await poller.poll()).handed_on == 1


async def test_the_breaker_opens_during_an_outage_and_closes_after(
    s1: FakeSentinelOne, client: SentinelOneClient, cursors: AlertCursorStore, alert_sink: RecordingSink,
    clock: FrozenClock,
) -> None:  # fmt: skip
    s1.state.threats = [threat("1", 10)]
    s1.state.down()
    poller = poller_for(client, cursors, alert_sink, clock)
    await poller.poll()
    clock.advance(seconds=10)
    second = await poller.poll()
    assert second.error is not None
    assert "answered 503" in second.error
    assert poller.breaker.state == "open"
    clock.advance(seconds=60)  # past the backoff, not past the breaker's 300 s
    calls = len(s1.state.calls)
    assert (await poller.poll()).skipped == "breaker"
    assert len(s1.state.calls) == calls
    s1.state.up()
    clock.advance(seconds=300)
    assert (await poller.poll()).handed_on == 1
    assert (poller.breaker.state, poller.failures) == ("closed", 0)


async def test_a_refused_token_is_permanent_and_does_not_trip_the_breaker(
    s1: FakeSentinelOne, http_session: aiohttp.ClientSession, cursors: AlertCursorStore,
    alert_sink: RecordingSink, clock: FrozenClock,
) -> None:  # fmt: skip
    wrong = SentinelOneClient(http_session, base_url=s1.url, api_token="not-the-token")
    poller = poller_for(wrong, cursors, alert_sink, clock)
    result = await poller.poll()
    assert result.error == (
        "PermanentDeliveryError: GET /web/api/v2.1/threats answered 401: Authentication Failed: None"
    )
    assert poller.breaker.snapshot()["consecutive_failures"] == 0
    assert "not-the-token" not in result.error


# --- close-back and isolation ---------------------------------------------------------------------------------------


def delivery(payload: dict[str, Any], destination: str = "soc:sentinelone") -> Delivery:
    return Delivery(
        id=1, idempotency_key="k-1", destination=destination, event_type="SecurityAlertAction", payload=payload
    )


async def test_resolving_sends_the_verdict_then_the_incident_status(
    s1: FakeSentinelOne, client: SentinelOneClient
) -> None:
    s1.state.threats = [threat("77", 10)]
    notifier = SocNotifier({"sentinelone": client})
    payload = soc_payload("resolve", "sentinelone", "77", classification=AlertClassification.BENIGN)
    await notifier.deliver(delivery(payload))
    verdict, incident = s1.state.of("/threats/analyst-verdict"), s1.state.of("/threats/incident")
    assert [c.body for c in verdict] == [{"filter": {"ids": ["77"]}, "data": {"analystVerdict": "false_positive"}}]
    assert [c.body for c in incident] == [{"filter": {"ids": ["77"]}, "data": {"incidentStatus": "resolved"}}]
    assert s1.state.calls.index(verdict[0]) < s1.state.calls.index(incident[0])
    info = s1.state.threat("77")["threatInfo"]
    assert (info["analystVerdict"], info["incidentStatus"]) == ("false_positive", "resolved")


@pytest.mark.parametrize(
    ("classification", "verdict"),
    [
        (AlertClassification.TRUE_POSITIVE, "true_positive"),
        (AlertClassification.FALSE_POSITIVE, "false_positive"),
        (None, "undefined"),
    ],
)
async def test_each_classification_maps_to_a_sentinelone_verdict(
    s1: FakeSentinelOne, client: SentinelOneClient, classification: AlertClassification | None, verdict: str
) -> None:
    s1.state.threats = [threat("77", 10)]
    await SocNotifier({"sentinelone": client}).deliver(
        delivery(soc_payload("resolve", "sentinelone", "77", classification=classification))
    )
    assert s1.state.threat("77")["threatInfo"]["analystVerdict"] == verdict


async def test_isolating_disconnects_the_agent(s1: FakeSentinelOne, client: SentinelOneClient) -> None:
    s1.state.agents = {"agent-1"}
    notifier = SocNotifier({"sentinelone": client})
    await notifier.deliver(delivery(soc_payload("isolate", "sentinelone", "77", device="agent-1")))
    assert [c.body for c in s1.state.of("/agents/actions/disconnect")] == [{"filter": {"ids": ["agent-1"]}, "data": {}}]
    assert s1.state.disconnected == ["agent-1"]
    with pytest.raises(PermanentDeliveryError) as caught:
        await notifier.deliver(delivery(soc_payload("isolate", "sentinelone", "77", device="agent-gone")))
    assert caught.value.message == "POST /web/api/v2.1/agents/actions/disconnect: SentinelOne knows no agent agent-gone"
    assert caught.value.destination == "soc:sentinelone"


async def test_a_close_back_rate_limited_carries_retry_after(s1: FakeSentinelOne, client: SentinelOneClient) -> None:
    s1.state.threats = [threat("77", 10)]
    s1.state.fail_next(1, status=429, retry_after=30)
    with pytest.raises(RateLimitedError) as caught:
        await SocNotifier({"sentinelone": client}).deliver(delivery(soc_payload("resolve", "sentinelone", "77")))
    assert (caught.value.retry_after, caught.value.status, caught.value.destination) == (30.0, 429, "soc:sentinelone")


@pytest.mark.parametrize(
    ("payload", "destination", "message"),
    [
        ({"action": "delete", "provider": "sentinelone", "alert_id": "1"}, "soc:sentinelone",
         "soc row: action must be resolve or isolate, not 'delete'"),
        ({"action": "resolve", "provider": "sentinelone"}, "soc:sentinelone", "soc row: alert_id is missing"),
        ({"action": "resolve", "provider": "sentinelone", "alert_id": "1", "classification": "maybe"},
         "soc:sentinelone", "soc row: unknown classification 'maybe'"),
        ({"action": "isolate", "provider": "sentinelone", "alert_id": "1"}, "soc:sentinelone",
         "soc row: isolate needs the vendor's device id (device)"),
        ({"action": "resolve", "provider": "defender", "alert_id": "1"}, "soc:sentinelone",
         "soc row for 'defender' sent to 'soc:sentinelone'"),
        ({"action": "resolve", "provider": "defender", "alert_id": "1"}, "soc:defender",
         "no SOC client configured for 'soc:defender'"),
    ],
)  # fmt: skip
async def test_malformed_rows_dead_letter_with_a_reason(
    s1: FakeSentinelOne, client: SentinelOneClient, payload: dict[str, Any], destination: str, message: str
) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        await SocNotifier({"sentinelone": client}).deliver(delivery(payload, destination))
    assert caught.value.message == message
    assert s1.state.calls == []
