"""WebhookNotifier against the loopback sink: real HTTP on a random port, failures injected in the sink."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest

from psa_chatops.handlers.ports import Delivery, Notifier
from psa_chatops.integrations.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RateLimitedError,
    RetryableDeliveryError,
)
from psa_chatops.integrations.webhooks import WebhookNotifier
from tests.fakes.sink import RunningSink

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
PAYLOAD: dict[str, Any] = {"ticket": 12345, "status": "open", "title": "Drucker im 2. OG streikt"}


def make_delivery(destination: str, *, payload: dict[str, Any] | None = None, attempts: int = 0) -> Delivery:
    return Delivery(
        id=17,
        idempotency_key="outbox-17-webhook",
        destination=destination,
        event_type="TicketOpened",
        payload=PAYLOAD if payload is None else payload,
        attempts=attempts,
    )


def make_notifier(session: aiohttp.ClientSession, **options: Any) -> WebhookNotifier:
    return WebhookNotifier(session, user_agent="psa-chatops-test/1", now=NOW.timestamp, **options)


async def deliver_expecting(notifier: Notifier, delivery: Delivery, error_type: type[DeliveryError]) -> DeliveryError:
    with pytest.raises(error_type) as caught:
        await notifier.deliver(delivery)
    return caught.value


async def test_posts_the_payload_as_json_with_delivery_headers(
    sink: RunningSink, http_session: aiohttp.ClientSession
) -> None:
    await make_notifier(http_session).deliver(make_delivery(sink.destination()))

    [received] = await sink.state.wait_for(1)
    assert received.method == "POST"
    assert received.path == "/hook"
    assert received.json() == PAYLOAD
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["User-Agent"] == "psa-chatops-test/1"
    assert received.headers["Idempotency-Key"] == "outbox-17-webhook"
    assert received.headers["X-PSA-Event"] == "TicketOpened"
    assert received.headers["X-PSA-Delivery"] == "17"
    assert "X-PSA-Signature" not in received.headers
    assert "X-PSA-Timestamp" not in received.headers


async def test_idempotency_key_is_stable_across_retries(sink: RunningSink, http_session: aiohttp.ClientSession) -> None:
    notifier = make_notifier(http_session)
    sink.state.fail_next(2, status=503)

    await deliver_expecting(notifier, make_delivery(sink.destination()), RetryableDeliveryError)
    await deliver_expecting(notifier, make_delivery(sink.destination(), attempts=1), RetryableDeliveryError)
    await notifier.deliver(make_delivery(sink.destination(), attempts=2))

    await sink.state.wait_for(3)
    assert sink.state.unique_keys() == {"outbox-17-webhook"}
    assert sink.state.duplicates() == {"outbox-17-webhook": 3}


async def test_signature_is_verifiable_by_recomputing_the_hmac(
    sink: RunningSink, http_session: aiohttp.ClientSession
) -> None:
    secret = b"whsec-test-secret"
    await make_notifier(http_session, signing_secret=secret).deliver(make_delivery(sink.destination()))

    [received] = await sink.state.wait_for(1)
    timestamp = received.headers["X-PSA-Timestamp"]
    expected = hmac.new(secret, f"{timestamp}.".encode() + received.body, hashlib.sha256).hexdigest()
    assert timestamp == str(int(NOW.timestamp()))
    assert hmac.compare_digest(received.headers["X-PSA-Signature"], f"v1={expected}")


async def test_signature_does_not_verify_with_another_secret(
    sink: RunningSink, http_session: aiohttp.ClientSession
) -> None:
    await make_notifier(http_session, signing_secret=b"right").deliver(make_delivery(sink.destination()))

    [received] = await sink.state.wait_for(1)
    forged = hmac.new(b"wrong", received.headers["X-PSA-Timestamp"].encode() + b"." + received.body, "sha256")
    assert received.headers["X-PSA-Signature"] != f"v1={forged.hexdigest()}"


async def test_429_with_retry_after_seconds_is_rate_limited(
    sink: RunningSink, http_session: aiohttp.ClientSession
) -> None:
    sink.state.fail_next(1, status=429, retry_after=7)

    error = await deliver_expecting(make_notifier(http_session), make_delivery(sink.destination()), RateLimitedError)

    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 7.0
    assert error.status == 429


async def test_429_with_retry_after_http_date_is_rate_limited(
    sink: RunningSink, http_session: aiohttp.ClientSession
) -> None:
    sink.state.fail_next(1, status=429, retry_after=format_datetime(NOW + timedelta(seconds=30), usegmt=True))

    error = await deliver_expecting(make_notifier(http_session), make_delivery(sink.destination()), RateLimitedError)

    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 30.0


async def test_429_without_retry_after_is_rate_limited_without_a_hint(
    sink: RunningSink, http_session: aiohttp.ClientSession
) -> None:
    sink.state.fail_next(1, status=429)

    error = await deliver_expecting(make_notifier(http_session), make_delivery(sink.destination()), RateLimitedError)

    assert isinstance(error, RateLimitedError)
    assert error.retry_after is None


async def test_503_with_retry_after_is_rate_limited(sink: RunningSink, http_session: aiohttp.ClientSession) -> None:
    sink.state.fail_next(1, status=503, retry_after=120)

    error = await deliver_expecting(make_notifier(http_session), make_delivery(sink.destination()), RateLimitedError)

    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 120.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 425])
async def test_server_errors_and_transient_4xx_are_retryable(
    sink: RunningSink, http_session: aiohttp.ClientSession, status: int
) -> None:
    sink.state.fail_next(1, status=status)

    error = await deliver_expecting(
        make_notifier(http_session), make_delivery(sink.destination()), RetryableDeliveryError
    )

    assert not isinstance(error, RateLimitedError)
    assert error.status == status
    assert "injected failure" in error.message


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422, 302])
async def test_other_statuses_are_permanent(
    sink: RunningSink, http_session: aiohttp.ClientSession, status: int
) -> None:
    sink.state.fail_next(1, status=status)

    error = await deliver_expecting(
        make_notifier(http_session), make_delivery(sink.destination()), PermanentDeliveryError
    )

    assert error.status == status
    assert len(sink.state.requests) == 1


async def test_timeout_is_retryable(sink: RunningSink, http_session: aiohttp.ClientSession) -> None:
    sink.state.slow(5.0)

    error = await deliver_expecting(
        make_notifier(http_session, timeout=0.2), make_delivery(sink.destination()), RetryableDeliveryError
    )

    assert isinstance(error.__cause__, TimeoutError)


async def test_dropped_connection_is_retryable(sink: RunningSink, http_session: aiohttp.ClientSession) -> None:
    sink.state.down()

    error = await deliver_expecting(
        make_notifier(http_session), make_delivery(sink.destination()), RetryableDeliveryError
    )

    assert isinstance(error.__cause__, aiohttp.ClientError)
    sink.state.up()
    await make_notifier(http_session).deliver(make_delivery(sink.destination()))


async def test_connection_refused_is_retryable(sink: RunningSink, http_session: aiohttp.ClientSession) -> None:
    destination = sink.destination()
    await sink.server.close()

    error = await deliver_expecting(make_notifier(http_session), make_delivery(destination), RetryableDeliveryError)

    assert isinstance(error.__cause__, aiohttp.ClientConnectionError)


@pytest.mark.parametrize(
    "destination",
    [
        "webhook:ftp://127.0.0.1/hook",
        "webhook:file:///etc/passwd",
        "webhook:/relative/path",
        "webhook:http://",
        "slack:C0123",
        "webhook",
    ],
)
async def test_bad_destinations_are_permanent_and_send_nothing(
    sink: RunningSink, http_session: aiohttp.ClientSession, destination: str
) -> None:
    await deliver_expecting(make_notifier(http_session), make_delivery(destination), PermanentDeliveryError)

    assert sink.state.requests == []


async def test_unserialisable_payload_is_permanent(sink: RunningSink, http_session: aiohttp.ClientSession) -> None:
    delivery = make_delivery(sink.destination(), payload={"when": NOW})

    await deliver_expecting(make_notifier(http_session), delivery, PermanentDeliveryError)

    assert sink.state.requests == []


async def test_error_messages_do_not_leak_the_url_path(sink: RunningSink, http_session: aiohttp.ClientSession) -> None:
    sink.state.fail_next(1, status=500)
    delivery = make_delivery(sink.destination("/services/T000/B000/s3cr3t-token"))

    error = await deliver_expecting(make_notifier(http_session), delivery, RetryableDeliveryError)

    assert "s3cr3t-token" not in str(error)


async def test_sink_wait_for_fails_readably_instead_of_hanging(sink: RunningSink) -> None:
    with pytest.raises(AssertionError, match="received 0 requests, expected 1"):
        await sink.state.wait_for(1, timeout=0.05)
