"""SlackNotifier against the fake Slack Web API over loopback HTTP, with real outbox rows written by the real bus,
the real Dispatcher where retries matter, SQLite for ``chat_threads``, and a virtual clock for the pacing."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.cards.slack.notifications import root_message, thread_line, webhook_message
from psa_chatops.core.tickets_state import Status, Visibility
from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.errors import PermanentDeliveryError, RateLimitedError, RetryableDeliveryError
from psa_chatops.integrations.slack_notifier import SlackNotifier, SlackWebhookNotifier
from psa_chatops.storage.chat_threads import ChatThread
from psa_chatops.storage.sqlite_writer import SqliteWriter
from tests.conftest import FrozenClock
from tests.fakes.slack_api import FakeSlack, start_fake_slack
from tests.integrations import chat_support
from tests.integrations.chat_support import (
    after_recovery,
    deliver_all,
    notifier_factory,
    statuses_of,
    through_outage,
    two_tickets,
    version_of,
)
from tests.integrations.slack_support import (
    CONNECT_CHANNEL,
    OTHER_CHANNEL,
    TEAM_CHANNEL,
    HelpDesk,
    VirtualTime,
    assert_every_payload_valid,
    eventually,
    help_desk,
)

PUBLIC_URL = "https://psa.example.com"
TOKEN = "xoxb-test"
MakeNotifier = Callable[..., SlackNotifier]


async def bot_token(team_id: str | None) -> str | None:
    return TOKEN


def root_of(delivery: Delivery) -> Any:
    return root_message(delivery.payload, locale="en", public_url=PUBLIC_URL)


def lines_of(deliveries: list[Delivery]) -> list[str]:
    """The thread replies these deliveries should post, in order (a renderer may skip an event)."""
    lines = (thread_line(d.payload, locale="en", public_url=PUBLIC_URL) for d in deliveries)
    return [line.text for line in lines if line is not None]


@pytest.fixture
async def fake(aiohttp_server: AiohttpServer) -> FakeSlack:
    return await start_fake_slack(aiohttp_server)


@pytest.fixture
def vt(fake: FakeSlack) -> VirtualTime:
    time = VirtualTime()
    fake.state.clock = time.now  # the fake stamps calls with virtual seconds
    return time


@pytest.fixture
async def make_notifier(sqlite_engine: AsyncEngine, fake: FakeSlack, vt: VirtualTime) -> AsyncIterator[MakeNotifier]:
    async with notifier_factory(
        functools.partial(SlackNotifier, sqlite_engine),
        token_for=bot_token,
        public_url=PUBLIC_URL,
        locale_for=lambda _destination: "en",
        base_url=fake.base_url,
        now=vt.now,
        sleep=vt.sleep,
    ) as make:
        yield make


@pytest.fixture
async def desk(sqlite_engine: AsyncEngine, clock: FrozenClock) -> HelpDesk:
    return await help_desk(sqlite_engine, clock, TEAM_CHANNEL, OTHER_CHANNEL, CONNECT_CHANNEL)


make_dispatcher = functools.partial(chat_support.make_dispatcher, "slack")


# --- roots, threads and edits ---------------------------------------------------------------------------------------


async def test_first_event_posts_a_root_and_records_it(
    desk: HelpDesk, fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    opened = (await desk.deliveries(TEAM_CHANNEL))[0]
    assert opened.event_type == "TicketOpened"
    notifier = make_notifier()

    await vt.run(notifier.deliver(opened))

    [post] = fake.state.of("chat.postMessage")
    assert post.token == TOKEN
    assert post.args["channel"] == "C0123"
    assert "thread_ts" not in post.args
    assert post.args["text"] == root_of(opened).text
    assert post.blocks() == root_of(opened).blocks
    [root] = fake.state.posted("C0123")
    thread = await notifier.threads.get(TEAM_CHANNEL, number)
    assert thread == ChatThread(TEAM_CHANNEL, number, root["ts"], "C0123", version_of(opened))
    assert fake.state.of("chat.update") == []
    assert_every_payload_valid(fake.state)


async def test_a_later_event_replies_in_the_thread_and_edits_the_root(
    desk: HelpDesk, fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.status(number, Status.OPEN)
    opened, changed = await desk.deliveries(TEAM_CHANNEL)
    notifier = make_notifier()

    await deliver_all(vt, notifier, [opened, changed])

    root, reply = fake.state.posted("C0123")
    assert reply["thread_ts"] == root["ts"]
    assert [reply["text"]] == lines_of([changed])
    [edit] = fake.state.of("chat.update")
    assert (edit.args["channel"], edit.args["ts"]) == ("C0123", root["ts"])
    assert edit.blocks() == root_of(changed).blocks
    assert root["blocks"] == root_of(changed).blocks
    thread = await notifier.threads.get(TEAM_CHANNEL, number)
    assert thread is not None
    assert thread.rendered_version == version_of(changed) > version_of(opened)
    assert_every_payload_valid(fake.state)


async def test_a_burst_of_updates_posts_every_reply_and_coalesces_the_root_edits(
    desk: HelpDesk, fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    flips = (Status.OPEN, Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.IN_PROGRESS, Status.WAITING_CUSTOMER)
    await desk.status(number, *flips)
    deliveries = await desk.deliveries(TEAM_CHANNEL)
    assert len(deliveries) == 6
    notifier = make_notifier()

    await deliver_all(vt, notifier, deliveries)

    root, *replies = fake.state.posted("C0123")
    assert [r["text"] for r in replies] == lines_of(deliveries[1:])
    assert len(replies) == 5
    assert {r["thread_ts"] for r in replies} == {root["ts"]}
    edits = fake.state.of("chat.update")
    assert 1 <= len(edits) <= 2
    assert root["blocks"] == root_of(deliveries[-1]).blocks  # the newest state won
    thread = await notifier.threads.get(TEAM_CHANNEL, number)
    assert thread is not None
    assert thread.rendered_version == version_of(deliveries[-1])
    sends = [c.at for c in fake.state.calls if c.method in ("chat.postMessage", "chat.update")]
    assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(sends))
    assert_every_payload_valid(fake.state)


async def test_an_older_version_never_overwrites_a_newer_root(
    desk: HelpDesk, fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.status(number, Status.OPEN, Status.IN_PROGRESS)
    opened, reopened, started = await desk.deliveries(TEAM_CHANNEL)
    await deliver_all(vt, make_notifier(), [opened, reopened, started])
    edits = len(fake.state.of("chat.update"))

    # another process replays the older row: it may repeat the reply (at-least-once), never the older root
    await deliver_all(vt, make_notifier(), [reopened])

    assert len(fake.state.of("chat.update")) == edits
    root = fake.state.posted("C0123")[0]
    assert root["blocks"] == root_of(started).blocks
    thread = await make_notifier().threads.get(TEAM_CHANNEL, number)
    assert thread is not None
    assert thread.rendered_version == version_of(started)


async def test_a_redelivered_row_is_not_posted_twice_by_the_same_process(
    desk: HelpDesk, fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.status(number, Status.OPEN)
    opened, changed = await desk.deliveries(TEAM_CHANNEL)
    notifier = make_notifier()

    await deliver_all(vt, notifier, [opened, opened, changed, changed])

    assert len(fake.state.of("chat.postMessage")) == 2
    assert len(fake.state.posted("C0123")) == 2


async def test_a_root_deleted_in_slack_is_posted_anew(
    desk: HelpDesk, fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.status(number, Status.OPEN, Status.IN_PROGRESS)
    opened, reopened, started = await desk.deliveries(TEAM_CHANNEL)
    notifier = make_notifier()
    await deliver_all(vt, notifier, [opened])
    old_root = fake.state.posted("C0123")[0]["ts"]
    fake.state.delete_message("C0123", old_root)  # someone deleted the root in Slack

    await deliver_all(vt, notifier, [reopened])

    thread = await notifier.threads.get(TEAM_CHANNEL, number)
    assert thread is not None
    assert thread.root_id != old_root
    assert thread.rendered_version == version_of(reopened)
    new_root = fake.state.messages[("C0123", thread.root_id)]
    assert new_root["thread_ts"] is None
    assert new_root["blocks"] == root_of(reopened).blocks

    await deliver_all(vt, notifier, [started])
    last = fake.state.posted("C0123")[-1]
    assert last["thread_ts"] == thread.root_id
    assert fake.state.messages[("C0123", thread.root_id)]["blocks"] == root_of(started).blocks
    assert_every_payload_valid(fake.state)


async def test_a_restarted_notifier_continues_the_thread_from_chat_threads(
    desk: HelpDesk, fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.status(number, Status.OPEN, Status.IN_PROGRESS)
    opened, reopened, started = await desk.deliveries(TEAM_CHANNEL)
    before = make_notifier()
    await deliver_all(vt, before, [opened, reopened])
    await before.close()

    after = make_notifier()  # a new process: no memory, only the database
    await deliver_all(vt, after, [started])

    roots = [m for m in fake.state.posted("C0123") if m["thread_ts"] is None]
    assert len(roots) == 1
    assert fake.state.posted("C0123")[-1]["thread_ts"] == roots[0]["ts"]
    assert roots[0]["blocks"] == root_of(started).blocks
    thread = await after.threads.get(TEAM_CHANNEL, number)
    assert thread is not None
    assert (thread.root_id, thread.rendered_version) == (roots[0]["ts"], version_of(started))


# --- pacing and rate limits -----------------------------------------------------------------------------------------


async def test_each_channel_is_paced_to_one_message_per_second_without_blocking_the_others(
    desk: HelpDesk, fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    for title in ("Printer", "Mail", "VPN"):
        await desk.open(title)
    team = [d for d in await desk.deliveries(TEAM_CHANNEL) if d.event_type == "TicketOpened"]
    other = [d for d in await desk.deliveries(OTHER_CHANNEL) if d.event_type == "TicketOpened"]
    notifier = make_notifier()
    start = vt.now()

    queued = [asyncio.create_task(notifier.deliver(d)) for d in team]
    await eventually(lambda: len(fake.state.posted("C0123")) == 1 and vt.sleeping == 1)
    await asyncio.wait_for(notifier.deliver(other[0]), timeout=5)  # another channel goes out at once
    assert [c.at for c in fake.state.of("chat.postMessage") if c.args["channel"] == "C0999"] == [start]
    assert sum(t.done() for t in queued) == 1

    for expected in (2, 3):
        vt.advance(1.0)
        await eventually(lambda n=expected: len(fake.state.posted("C0123")) == n)
    await asyncio.gather(*queued)
    sends = [c.at for c in fake.state.of("chat.postMessage") if c.args["channel"] == "C0123"]
    assert sends == [start, start + 1.0, start + 2.0]
    assert_every_payload_valid(fake.state)


async def test_a_429_raises_with_retry_after_and_pauses_only_that_channel(
    desk: HelpDesk, fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.status(number, Status.OPEN)
    opened, changed = await desk.deliveries(TEAM_CHANNEL)
    notifier = make_notifier()
    await vt.run(notifier.deliver(opened))
    fake.state.rate_limit_next(1, retry_after=7)

    with pytest.raises(RateLimitedError) as limited:
        await vt.run(notifier.deliver(changed))
    assert limited.value.retry_after == 7.0
    assert "429" in str(limited.value)
    limited_at = vt.now()
    assert notifier.paused_for(TEAM_CHANNEL) == pytest.approx(7.0)
    assert notifier.paused_for(OTHER_CHANNEL) == 0.0
    await asyncio.wait_for(notifier.deliver((await desk.deliveries(OTHER_CHANNEL))[0]), timeout=5)

    retry = asyncio.create_task(notifier.deliver(changed))  # the outbox's retry: waits out the pause
    await eventually(lambda: vt.sleeping == 1)
    assert not retry.done()
    vt.advance(7.0)
    await retry
    limited_call, reply = [c for c in fake.state.of("chat.postMessage") if c.args.get("thread_ts")]
    assert reply.at >= limited_call.at + 7.0 == limited_at + 7.0
    assert len(fake.state.posted("C0123")) == 2


async def test_a_long_queue_is_handed_back_to_the_outbox_instead_of_waiting(
    desk: HelpDesk, fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    await desk.open()
    opened = (await desk.deliveries(TEAM_CHANNEL))[0]
    notifier = make_notifier()
    await vt.run(notifier.deliver(opened))
    fake.state.rate_limit_next(1, retry_after=120)
    await desk.open("Second")
    second = (await desk.deliveries(TEAM_CHANNEL))[-1]
    with pytest.raises(RateLimitedError):
        await vt.run(notifier.deliver(second))

    with pytest.raises(RateLimitedError) as queued:  # paused for two minutes: no waiting, no call
        await asyncio.wait_for(notifier.deliver(second), timeout=5)
    assert queued.value.retry_after == pytest.approx(120.0)
    assert len(fake.state.of("chat.postMessage")) == 2


# --- failures through the real dispatcher ---------------------------------------------------------------------------


async def test_a_slack_outage_trips_the_breaker_and_everything_arrives_once_and_in_order(
    sqlite_engine: AsyncEngine, clock: FrozenClock, fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    desk = await help_desk(sqlite_engine, clock, TEAM_CHANNEL)
    printer, mail = await two_tickets(desk)
    notifier = make_notifier()
    dispatcher = make_dispatcher(sqlite_engine, notifier, clock, vt)
    fake.state.fail_next(1000, status=503)

    await through_outage(dispatcher, clock, vt)
    assert dispatcher.breakers.state(TEAM_CHANNEL) in ("open", "half_open")
    assert dispatcher.stats.deferred > 0
    assert fake.state.posted() == []
    assert await statuses_of(desk) == {"pending"}

    fake.state.recover()
    await after_recovery(dispatcher, notifier, clock, vt)

    outcome = await desk.statuses()
    assert {status for _, status, _, _ in outcome} == {"delivered"}
    assert max(attempts for _, _, attempts, _ in outcome) > 1
    deliveries = await desk.deliveries()
    for number in (printer, mail):
        mine = [d for d in deliveries if d.payload["number"] == number]
        [root] = [
            m for m in fake.state.posted("C0123") if m["thread_ts"] is None and m["blocks"] == root_of(mine[-1]).blocks
        ]
        replies = [m["text"] for m in fake.state.posted("C0123") if m["thread_ts"] == root["ts"]]
        assert replies == lines_of(mine[1:])  # each once, in order
    assert len([m for m in fake.state.posted("C0123") if m["thread_ts"] is None]) == 2
    assert_every_payload_valid(fake.state)


@pytest.mark.parametrize(
    "error",
    [
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "msg_too_long",
        "invalid_blocks",
    ],
)
async def test_permanent_slack_errors_dead_letter_with_their_name(
    error: str,
    sqlite_engine: AsyncEngine,
    clock: FrozenClock,
    fake: FakeSlack,
    vt: VirtualTime,
    make_notifier: MakeNotifier,
) -> None:
    desk = await help_desk(sqlite_engine, clock, TEAM_CHANNEL)
    await desk.open()
    dispatcher = make_dispatcher(sqlite_engine, make_notifier(), clock, vt)
    fake.state.error_next("chat.postMessage", error)

    await vt.run(dispatcher.run_once())

    [(event_type, status, attempts, last_error)] = await desk.statuses()
    assert (event_type, status, attempts) == ("TicketOpened", "dead", 1)
    assert last_error is not None
    assert error in last_error
    assert dispatcher.breakers.state(TEAM_CHANNEL) == "closed"  # Slack answered: not an outage


async def test_connection_refused_and_timeouts_are_retryable(
    desk: HelpDesk, fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier, unused_tcp_port: int
) -> None:
    await desk.open()
    opened = (await desk.deliveries(TEAM_CHANNEL))[0]

    refused = make_notifier(base_url=f"http://127.0.0.1:{unused_tcp_port}/api/")
    with pytest.raises(RetryableDeliveryError, match="ClientConnectorError"):
        await vt.run(refused.deliver(opened))

    fake.state.slow(0.5)
    with pytest.raises(RetryableDeliveryError, match="Timeout"):
        await vt.run(make_notifier(timeout=0.1).deliver(opened))
    fake.state.slow(0)

    fake.state.fail_next(1, status=502)
    with pytest.raises(RetryableDeliveryError, match="502"):
        await vt.run(make_notifier().deliver(opened))
    fake.state.error_next("chat.postMessage", "internal_error")
    with pytest.raises(RetryableDeliveryError, match="internal_error"):
        await vt.run(make_notifier().deliver(opened))

    await vt.run(make_notifier().deliver(opened))  # nothing was lost: the same row goes out once Slack is back
    assert len(fake.state.posted("C0123")) == 1


async def test_a_missing_token_or_a_malformed_destination_is_permanent(
    desk: HelpDesk, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    await desk.open()
    opened = (await desk.deliveries(TEAM_CHANNEL))[0]

    async def no_token(team_id: str | None) -> str | None:
        return None

    with pytest.raises(PermanentDeliveryError, match="no Slack bot token"):
        await vt.run(make_notifier(token_for=no_token).deliver(opened))
    for destination in ("slack:#general", "slack:T1/", "teams:C0123"):
        with pytest.raises(PermanentDeliveryError):
            await vt.run(make_notifier().deliver(dataclasses.replace(opened, destination=destination)))


# --- customer-facing channels ---------------------------------------------------------------------------------------


async def test_internal_notes_skip_slack_connect_channels_and_public_replies_go_out(
    desk: HelpDesk, fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.note(number, "Customer's firewall is a mess", Visibility.INTERNAL)
    await desk.note(number, "We are on it and will call you at 3 pm.", Visibility.PUBLIC)
    await desk.note(number, "Called, no answer", Visibility.INTERNAL)
    notifier = make_notifier()
    shared = await desk.deliveries(CONNECT_CHANNEL)
    internal = await desk.deliveries(TEAM_CHANNEL)

    await deliver_all(vt, notifier, shared)
    await deliver_all(vt, notifier, internal)

    _, _, public, _ = shared
    root, *replies = fake.state.posted("CX0456")
    assert root["blocks"] == root_of(public).blocks  # the skipped notes touch nothing, not even the root
    assert [r["text"] for r in replies] == lines_of([public])
    assert len(fake.state.posted("C0123")) == 1 + len(lines_of(internal[1:]))  # not shared: every note
    checked = [c.args["channel"] for c in fake.state.of("conversations.info")]
    assert sorted(checked) == ["C0123", "CX0456"]  # once per channel, then cached
    assert_every_payload_valid(fake.state)


# --- incoming-webhook mode ------------------------------------------------------------------------------------------


async def test_webhook_mode_posts_each_event_without_threads(desk: HelpDesk, fake: FakeSlack, vt: VirtualTime) -> None:
    number = await desk.open()
    await desk.status(number, Status.OPEN)
    await desk.note(number, "internal only", Visibility.INTERNAL)
    await desk.note(number, "Fixed the VPN profile.", Visibility.PUBLIC)
    opened, changed, internal, public = await desk.deliveries(TEAM_CHANNEL)
    notifier = SlackWebhookNotifier(
        fake.webhook_url, public_url=PUBLIC_URL, locale_for=lambda _d: "en", now=vt.now, sleep=vt.sleep
    )
    try:
        for delivery in (opened, changed, internal, public, public):
            await vt.run(notifier.deliver(delivery))

        bodies = [c.args for c in fake.webhook_calls()]
        expected = [webhook_message(d.payload, locale="en", public_url=PUBLIC_URL) for d in (opened, changed, public)]
        assert bodies == expected  # no internal note, no duplicate
        assert fake.state.of("chat.postMessage") == []
        assert_every_payload_valid(fake.state)
        at = [c.at for c in fake.webhook_calls()]
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(at))

        fake.state.rate_limit_next(1, retry_after=30)
        with pytest.raises(RateLimitedError) as limited:
            await vt.run(notifier.deliver(dataclasses.replace(changed, idempotency_key="again-1")))
        assert limited.value.retry_after == 30.0
        assert notifier.paused_for() == pytest.approx(30.0)
        vt.advance(30)
        fake.state.fail_next(1, status=500)
        with pytest.raises(RetryableDeliveryError):
            await vt.run(notifier.deliver(dataclasses.replace(changed, idempotency_key="again-2")))
        fake.state.fail_next(1, status=404)
        with pytest.raises(PermanentDeliveryError, match="no_service"):
            await vt.run(notifier.deliver(dataclasses.replace(changed, idempotency_key="again-3")))
    finally:
        await notifier.close()


# --- end to end -----------------------------------------------------------------------------------------------------


async def test_bus_command_to_outbox_to_dispatcher_to_slack(
    sqlite_engine: AsyncEngine, clock: FrozenClock, fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    writer = SqliteWriter(sqlite_engine.url.render_as_string(hide_password=False))
    try:
        desk = await help_desk(sqlite_engine, clock, "slack:C0123", writer=writer)
        number = await desk.open("Server room too hot")
        await desk.assign(number, "tom")
        await desk.status(number, Status.IN_PROGRESS)
        await desk.note(number, "Facility management informed", Visibility.PUBLIC)
        notifier = make_notifier(writer=writer)
        dispatcher = make_dispatcher(sqlite_engine, notifier, clock, vt, writer=writer)

        delivered = await vt.run(dispatcher.drain())
        await vt.run(notifier.wait_idle())

        deliveries = await desk.deliveries()
        assert delivered == len(deliveries) >= 4
        assert await statuses_of(desk) == {"delivered"}
        root, *replies = fake.state.posted("C0123")
        assert [r["text"] for r in replies] == lines_of(deliveries[1:])
        assert {r["thread_ts"] for r in replies} == {root["ts"]}
        assert root["blocks"] == root_of(deliveries[-1]).blocks
        thread = await notifier.threads.get("slack:C0123", number)
        assert thread is not None
        assert thread.rendered_version == version_of(deliveries[-1])
        assert_every_payload_valid(fake.state)
    finally:
        await asyncio.to_thread(writer.close)


async def test_an_alert_without_a_ticket_is_posted_once_without_a_thread(
    fake: FakeSlack, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    from tests.cards.test_alert_cards import notify_only_envelope

    row = Delivery(1, "alert-key", TEAM_CHANNEL, "AlertReceived", notify_only_envelope(), 0)
    notifier = make_notifier()

    await deliver_all(vt, notifier, [row, row])  # a redelivery posts nothing more

    [post] = fake.state.of("chat.postMessage")
    assert "thread_ts" not in post.args
    assert post.args["text"] == root_of(row).text
    assert "alert.create_ticket" in str(post.blocks())
    assert fake.state.of("chat.update") == []
    assert_every_payload_valid(fake.state)
