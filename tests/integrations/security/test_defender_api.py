"""Microsoft Defender against its loopback fake (Graph alerts_v2, the Defender for Endpoint API, Entra tokens
through msal): the poller follows nextLink pages and stores the watermark only after the last one; close-back
PATCHes status and classification; isolation tolerates one already pending; a 401 refreshes the token once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from psa_chatops.core.alerts import AlertClassification, AlertSeverity
from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.calendar_graph import GRAPH_SCOPE, MsalTokenProvider
from psa_chatops.integrations.errors import PermanentDeliveryError, RateLimitedError
from psa_chatops.integrations.resilience import BreakerPolicy, CircuitBreaker, RetryPolicy
from psa_chatops.integrations.security.defender_api import ENDPOINT_SCOPE, DefenderClient, GraphAlertFeed
from psa_chatops.integrations.security.notifier import SocNotifier, soc_payload
from psa_chatops.integrations.security.poller import AlertPoller
from psa_chatops.integrations.security.watermark import Watermark
from psa_chatops.storage.alert_cursors import AlertCursorStore
from tests.conftest import FrozenClock
from tests.fakes.defender import FakeDefender
from tests.fakes.graph import CLIENT_ID, CLIENT_SECRET, TENANT
from tests.integrations.security.conftest import RecordingSink

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def alert(alert_id: str, minutes: float, *, severity: str = "high", device: str = "mde-1") -> dict[str, Any]:
    moment = T0 + timedelta(minutes=minutes)
    return {
        "@odata.type": "#microsoft.graph.security.alert",
        "id": alert_id,
        "title": f"Suspicious PowerShell {alert_id}",
        "severity": severity,
        "status": "new",
        "category": "Execution",
        "tenantId": "tenant-muller",
        "createdDateTime": iso(moment),
        "lastUpdateDateTime": iso(moment),
        "evidence": [
            {
                "@odata.type": "#microsoft.graph.security.deviceEvidence",
                "deviceDnsName": "ws-042",
                "mdeDeviceId": device,
            }
        ],
    }


def tokens(mde: FakeDefender, scope: str) -> MsalTokenProvider:
    return MsalTokenProvider(
        authority_url=mde.authority_url, tenant_id=TENANT, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, scope=scope
    )


@pytest.fixture
def client(mde: FakeDefender, tls_session: aiohttp.ClientSession) -> DefenderClient:
    return DefenderClient(
        tls_session,
        graph_url=mde.graph_url,
        tokens=tokens(mde, GRAPH_SCOPE),
        endpoint_url=mde.endpoint_url,
        endpoint_tokens=tokens(mde, ENDPOINT_SCOPE),
        page_size=2,
    )


def poller_for(client: DefenderClient, cursors: AlertCursorStore, sink: Any, clock: FrozenClock) -> AlertPoller:
    return AlertPoller(
        feed=GraphAlertFeed(client),
        cursors=cursors,
        sink=sink,
        breaker=CircuitBreaker(
            BreakerPolicy(failure_threshold=2, reset_timeout=300), now=lambda: clock.now().timestamp()
        ),
        now=clock.now,
        policy=RetryPolicy(base_seconds=10, cap_seconds=60, jitter="none"),
        look_back=timedelta(days=7),
    )


async def stored(cursors: AlertCursorStore) -> Watermark | None:
    text = await cursors.get("defender")
    return None if text is None else Watermark.from_text(text)


async def test_the_poller_follows_next_links_and_stores_the_watermark_after_the_last_page(
    mde: FakeDefender, client: DefenderClient, cursors: AlertCursorStore, alert_sink: RecordingSink,
    clock: FrozenClock,
) -> None:  # fmt: skip
    mde.state.alerts = [alert("a1", 10), alert("a2", 30), alert("a3", 20, severity="low")]
    poller = poller_for(client, cursors, alert_sink, clock)
    result = await poller.poll()
    assert (result.handed_on, result.error) == (3, None)
    assert [[s.alert_id for s in b] for b in alert_sink.batches] == [["a2", "a3"], ["a1"]]  # Graph's order
    first = alert_sink.batches[0][0]
    assert (first.severity, first.affected_asset, first.device_id, first.vendor_account) == (
        AlertSeverity.HIGH, "ws-042", "mde-1", "tenant-muller",
    )  # fmt: skip
    assert await stored(cursors) == Watermark(T0 + timedelta(minutes=30), frozenset({"a2"}))
    lists = mde.state.of("GET", "/v1.0/security/alerts_v2")
    assert lists[0].query == {"$filter": "lastUpdateDateTime ge 2026-11-16T09:00:00.000000Z", "$top": "2"}
    assert lists[1].query["$skiptoken"] == "2"
    assert (await poller.poll()).handed_on == 0
    assert mde.state.of("GET", "/v1.0/security/alerts_v2")[-1].query["$filter"] == (
        "lastUpdateDateTime ge 2026-11-28T06:30:00.000000Z"
    )


async def test_a_sink_failing_on_a_later_page_stores_nothing(
    mde: FakeDefender, client: DefenderClient, cursors: AlertCursorStore, alert_sink: RecordingSink,
    clock: FrozenClock,
) -> None:  # fmt: skip
    mde.state.alerts = [alert("a1", 10), alert("a2", 30), alert("a3", 20)]
    calls: list[list[str]] = []

    async def fails_second(signals: list[Any]) -> None:
        calls.append([s.alert_id for s in signals])
        if len(calls) == 2:
            raise RuntimeError("ingest failed")

    poller = poller_for(client, cursors, fails_second, clock)
    result = await poller.poll()
    assert (result.error, await stored(cursors)) == ("RuntimeError: ingest failed", None)
    clock.advance(seconds=10)
    await poller.poll()
    assert calls == [["a2", "a3"], ["a1"], ["a2", "a3"], ["a1"]]  # unordered pages: all again, nothing lost
    assert await stored(cursors) == Watermark(T0 + timedelta(minutes=30), frozenset({"a2"}))


async def test_a_next_link_to_another_host_is_refused(
    mde: FakeDefender, client: DefenderClient, cursors: AlertCursorStore, alert_sink: RecordingSink,
    clock: FrozenClock,
) -> None:  # fmt: skip
    mde.state.alerts = [alert("a1", 10), alert("a2", 30), alert("a3", 20)]
    mde.state.foreign_next_link = True
    result = await poller_for(client, cursors, alert_sink, clock).poll()
    assert result.error == (
        "PermanentDeliveryError: Graph's @odata.nextLink points away from the configured Graph host"
    )
    assert await stored(cursors) is None


async def test_graph_429_backs_off_for_retry_after(
    mde: FakeDefender, client: DefenderClient, cursors: AlertCursorStore, alert_sink: RecordingSink,
    clock: FrozenClock,
) -> None:  # fmt: skip
    mde.state.alerts = [alert("a1", 10)]
    mde.state.fail_next(1, status=429, retry_after=90)
    poller = poller_for(client, cursors, alert_sink, clock)
    assert (await poller.poll()).error is not None
    assert poller.not_before == clock.now() + timedelta(seconds=90)
    clock.advance(seconds=90)
    assert (await poller.poll()).handed_on == 1


async def test_an_expired_token_is_refreshed_once(
    mde: FakeDefender, client: DefenderClient, cursors: AlertCursorStore, alert_sink: RecordingSink,
    clock: FrozenClock,
) -> None:  # fmt: skip
    mde.state.alerts = [alert("a1", 10)]
    poller = poller_for(client, cursors, alert_sink, clock)
    await poller.poll()
    mde.graph.expire_tokens()
    mde.state.alerts.append(alert("a2", 40))
    assert (await poller.poll()).handed_on == 1
    assert len(mde.graph.of("token")) == 2


# --- close-back and isolation ---------------------------------------------------------------------------------------


def delivery(payload: dict[str, Any]) -> Delivery:
    return Delivery(
        id=1, idempotency_key="k", destination="soc:defender", event_type="SecurityAlertAction", payload=payload
    )


@pytest.mark.parametrize(
    ("classification", "expected"),
    [
        (AlertClassification.TRUE_POSITIVE, ("truePositive", "other")),
        (AlertClassification.FALSE_POSITIVE, ("falsePositive", "notMalicious")),
        (AlertClassification.BENIGN, ("informationalExpectedActivity", "other")),
        (AlertClassification.UNDETERMINED, ("unknown", "unknown")),
    ],
)
async def test_resolving_patches_the_graph_alert(
    mde: FakeDefender, client: DefenderClient, classification: AlertClassification, expected: tuple[str, str]
) -> None:
    mde.state.alerts = [alert("da_1/x", 10)]
    payload = soc_payload("resolve", "defender", "da_1/x", classification=classification)
    await SocNotifier({"defender": client}).deliver(delivery(payload))
    (patch,) = mde.state.of("PATCH", "/v1.0/security/alerts_v2/")
    assert patch.body == {"status": "resolved", "classification": expected[0], "determination": expected[1]}
    stored_alert = mde.state.alert("da_1/x")
    assert (stored_alert["status"], stored_alert["classification"]) == ("resolved", expected[0])


async def test_resolving_an_unknown_alert_is_permanent(mde: FakeDefender, client: DefenderClient) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        await SocNotifier({"defender": client}).deliver(delivery(soc_payload("resolve", "defender", "gone")))
    assert (caught.value.status, caught.value.destination) == (404, "soc:defender")


async def test_close_back_rate_limited_by_graph(mde: FakeDefender, client: DefenderClient) -> None:
    mde.state.alerts = [alert("a1", 10)]
    mde.state.fail_next(1, status=503, retry_after=45)
    with pytest.raises(RateLimitedError) as caught:
        await SocNotifier({"defender": client}).deliver(delivery(soc_payload("resolve", "defender", "a1")))
    assert (caught.value.status, caught.value.retry_after) == (503, 45.0)


async def test_isolating_a_machine_and_again_while_it_is_pending(mde: FakeDefender, client: DefenderClient) -> None:
    mde.state.machines = {"mde-1"}
    notifier = SocNotifier({"defender": client})
    payload = soc_payload("isolate", "defender", "a1", device="mde-1")
    await notifier.deliver(delivery(payload))
    await notifier.deliver(delivery(payload))  # a redelivery: Defender says one is pending, which is what we want
    posts = mde.state.of("POST", "/mde/api/machines/")
    assert [c.path for c in posts] == ["/mde/api/machines/mde-1/isolate"] * 2
    assert posts[0].body == {"Comment": "psa-chatops: alert a1", "IsolationType": "Full"}
    assert len(mde.state.isolations) == 1
    with pytest.raises(PermanentDeliveryError) as caught:
        await notifier.deliver(delivery(soc_payload("isolate", "defender", "a1", device="unknown")))
    assert caught.value.status == 404
