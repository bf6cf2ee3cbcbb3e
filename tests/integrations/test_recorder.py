"""Sandbox recording and destination routing; the last test checks that sandbox mode really sends nothing."""

from __future__ import annotations

import aiohttp
import pytest

from psa_chatops.handlers.ports import Delivery, Notifier
from psa_chatops.integrations.errors import PermanentDeliveryError
from psa_chatops.integrations.recorder import NotifierRegistry, RecordingNotifier, parse_destination
from psa_chatops.integrations.webhooks import WebhookNotifier
from tests.fakes.sink import RunningSink


def make_delivery(number: int, destination: str = "slack:C0123") -> Delivery:
    return Delivery(
        id=number,
        idempotency_key=f"outbox-{number}",
        destination=destination,
        event_type="TicketOpened",
        payload={"ticket": number},
    )


async def test_recording_notifier_records_in_order_with_a_timestamp() -> None:
    recorder = RecordingNotifier(now=lambda: 42.0)

    await recorder.deliver(make_delivery(1))
    await recorder.deliver(make_delivery(2, "teams:19:abc@thread.tacv2"))

    assert [d.id for d in recorder.deliveries()] == [1, 2]
    assert [d.id for d in recorder.deliveries("slack:C0123")] == [1]
    assert [r.recorded_at for r in recorder.records()] == [42.0, 42.0]
    assert len(recorder) == 2


async def test_recording_notifier_is_bounded_and_forgets_the_oldest() -> None:
    recorder = RecordingNotifier(capacity=2)

    for number in (1, 2, 3):
        await recorder.deliver(make_delivery(number))

    assert [d.id for d in recorder.deliveries()] == [2, 3]


async def test_recording_notifier_clear() -> None:
    recorder = RecordingNotifier()
    await recorder.deliver(make_delivery(1))

    recorder.clear()

    assert recorder.deliveries() == []


def test_parse_destination_splits_at_the_first_colon() -> None:
    assert parse_destination("webhook:http://127.0.0.1:8123/hook") == ("webhook", "http://127.0.0.1:8123/hook")
    assert parse_destination("teams:19:abc@thread.tacv2") == ("teams", "19:abc@thread.tacv2")


@pytest.mark.parametrize("destination", ["", "webhook", "webhook:", ":http://x"])
def test_parse_destination_rejects_malformed(destination: str) -> None:
    with pytest.raises(PermanentDeliveryError):
        parse_destination(destination)


def test_registry_routes_by_kind() -> None:
    slack, email = RecordingNotifier(), RecordingNotifier()
    registry = NotifierRegistry({"slack": slack})
    registry.register("email", email)

    assert registry.for_destination("slack:C0123") is slack
    assert registry.for_destination("email:ops@example.com") is email
    assert registry.kinds() == {"slack", "email"}


@pytest.mark.parametrize("destination", ["pager:42", "webhook"])
def test_registry_rejects_unknown_kinds_and_malformed_destinations(destination: str) -> None:
    registry = NotifierRegistry({"slack": RecordingNotifier()})

    with pytest.raises(PermanentDeliveryError):
        registry.for_destination(destination)


def test_sandbox_routes_every_kind_to_the_recorder() -> None:
    recorder = RecordingNotifier()
    registry = NotifierRegistry({"slack": RecordingNotifier()}, sandbox_enabled=True, recorder=recorder)

    routed: list[Notifier] = [registry.for_destination(d) for d in ("slack:C1", "pager:42", "webhook:http://x")]

    assert all(notifier is recorder for notifier in routed)
    with pytest.raises(PermanentDeliveryError):
        registry.for_destination("no-kind")


async def test_sandbox_records_instead_of_sending(sink: RunningSink, http_session: aiohttp.ClientSession) -> None:
    webhook = WebhookNotifier(http_session, user_agent="psa-chatops-test/1")
    sandbox = NotifierRegistry({"webhook": webhook}, sandbox_enabled=True)
    live = NotifierRegistry({"webhook": webhook})
    delivery = make_delivery(7, sink.destination())

    await sandbox.for_destination(delivery.destination).deliver(delivery)
    assert sandbox.recorder.deliveries() == [delivery]
    assert sink.state.requests == []

    await live.for_destination(delivery.destination).deliver(delivery)
    assert [r.idempotency_key for r in await sink.state.wait_for(1)] == ["outbox-7"]
