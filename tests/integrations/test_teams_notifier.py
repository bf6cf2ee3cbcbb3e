"""TeamsNotifier against the fake Bot Connector over loopback HTTP, with real outbox rows written by the real bus,
the real Dispatcher where retries matter, SQLite for ``chat_threads`` and ``teams_conversations``, and a virtual
clock for the pacing."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.cards.teams.ids import WORKFLOWS_CARD_LIMIT
from psa_chatops.cards.teams.notifications import reply_card, root_card, webhook_message
from psa_chatops.core.tickets_state import Status, Visibility
from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.errors import PermanentDeliveryError, RateLimitedError, RetryableDeliveryError
from psa_chatops.integrations.teams_notifier import TeamsNotifier, TeamsWorkflowsNotifier
from psa_chatops.integrations.teams_queue import SendWindows
from psa_chatops.storage import tables as t
from psa_chatops.storage.chat_threads import ChatThread
from tests.cards.teams_limits import assert_valid_card
from tests.conftest import FrozenClock
from tests.fakes.bot_connector import ConnectorCall, ConnectorState, FakeConnector, start_fake_connector
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
from tests.integrations.slack_support import HelpDesk, VirtualTime, help_desk

PUBLIC_URL = "https://psa.example.com"
OPS = "19:ops@thread.tacv2"  # an internal team channel
ACME = "19:acme@thread.tacv2"  # a channel shared with the customer
CHAT = "a:1personal-chat"  # a personal chat with a technician
NOBODY = "19:nobody@thread.tacv2"  # routed to, but the bot was never added there
OPS_DEST, ACME_DEST, CHAT_DEST, NOBODY_DEST = (f"teams:{c}" for c in (OPS, ACME, CHAT, NOBODY))
CONVERSATIONS = t.table_of(t.TeamsConversationRow)
MakeNotifier = Callable[..., TeamsNotifier]


def root_of(delivery: Delivery) -> dict[str, Any]:
    return root_card(delivery.payload, locale="en", public_url=PUBLIC_URL)


def line_of(delivery: Delivery) -> dict[str, Any] | None:
    return reply_card(delivery.payload, locale="en", public_url=PUBLIC_URL)


def card_of(body: dict[str, Any]) -> dict[str, Any]:
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    return card


def assert_every_card_valid(state: ConnectorState) -> None:
    for call in state.calls:
        if call.kind in ("send", "update"):
            assert call.cards(), f"a {call.kind} without an Adaptive Card"
            for card in call.cards():
                assert_valid_card(card)


async def seed_conversation(
    engine: AsyncEngine,
    conversation_id: str,
    service_url: str,
    *,
    conversation_type: str = "channel",
    customer_facing: bool = False,
    installed: bool = True,
) -> None:
    reference = {
        "conversation": {"id": conversation_id, "conversationType": conversation_type},
        "serviceUrl": service_url,
        "channelId": "msteams",
    }
    async with engine.begin() as conn:
        await conn.execute(
            insert(CONVERSATIONS).values(
                conversation_id=conversation_id,
                service_url=service_url,
                tenant_id="tenant-1",
                conversation_type=conversation_type,
                team_id="19:team@thread.tacv2" if conversation_type == "channel" else None,
                name=conversation_id,
                customer_facing=customer_facing,
                reference=reference,
                installed=installed,
                updated_at=datetime.now(UTC),
            )
        )


@pytest.fixture
async def fake(aiohttp_server: AiohttpServer) -> FakeConnector:
    return await start_fake_connector(aiohttp_server)


@pytest.fixture
def vt(fake: FakeConnector) -> VirtualTime:
    time = VirtualTime()
    fake.state.clock = time.now  # the fake stamps calls with virtual seconds
    return time


@pytest.fixture
async def make_notifier(
    sqlite_engine: AsyncEngine, fake: FakeConnector, vt: VirtualTime
) -> AsyncIterator[MakeNotifier]:
    async with notifier_factory(
        functools.partial(TeamsNotifier, sqlite_engine),
        public_url=PUBLIC_URL,
        locale_for=lambda _destination: "en",
        now=vt.now,
        sleep=vt.sleep,
    ) as make:
        yield make


@pytest.fixture
async def desk(sqlite_engine: AsyncEngine, clock: FrozenClock, fake: FakeConnector) -> HelpDesk:
    for conversation, customer_facing in ((OPS, False), (ACME, True)):
        await seed_conversation(sqlite_engine, conversation, fake.service_url, customer_facing=customer_facing)
    await seed_conversation(sqlite_engine, CHAT, fake.service_url, conversation_type="personal")
    return await help_desk(sqlite_engine, clock, OPS_DEST, ACME_DEST, CHAT_DEST, NOBODY_DEST)


make_dispatcher = functools.partial(chat_support.make_dispatcher, "teams")


def root_body(state: ConnectorState, root: ConnectorCall) -> dict[str, Any]:
    """The root card as Teams shows it now (after the updates)."""
    return card_of(state.messages[state.activity_id(root)])


# --- roots, reply chains and updates ----------------------------------------------------------------------------------


async def test_first_event_posts_a_root_card_and_records_it(
    desk: HelpDesk, fake: FakeConnector, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    opened = (await desk.deliveries(OPS_DEST))[0]
    assert opened.event_type == "TicketOpened"
    notifier = make_notifier()

    await vt.run(notifier.deliver(opened))

    [post] = fake.state.calls
    assert (post.kind, post.method, post.conversation_id) == ("send", "POST", OPS)
    assert post.path == f"/v3/conversations/{OPS}/activities"
    assert post.authorization is None  # no credentials: anonymous, as against the emulator
    assert post.body["type"] == "message"
    assert "replyToId" not in post.body
    assert post.cards() == [root_of(opened)]
    thread = await notifier.threads.get(OPS_DEST, number)
    assert thread == ChatThread(OPS_DEST, number, fake.state.activity_id(post), OPS, version_of(opened))
    assert_every_card_valid(fake.state)


async def test_a_later_event_replies_in_the_reply_chain_and_updates_the_root(
    desk: HelpDesk, fake: FakeConnector, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.status(number, Status.OPEN)
    opened, changed = await desk.deliveries(OPS_DEST)
    notifier = make_notifier()

    await deliver_all(vt, notifier, [opened, changed])

    root, reply, update = fake.state.calls
    root_id = fake.state.activity_id(root)
    assert reply.kind == "send"
    assert reply.conversation_id == f"{OPS};messageid={root_id}"  # the channel thread's own conversation id
    assert reply.body["replyToId"] == root_id
    assert reply.cards() == [line_of(changed)]
    assert (update.kind, update.method, update.conversation_id, update.activity_id) == ("update", "PUT", OPS, root_id)
    assert update.cards() == [root_of(changed)]
    assert root_body(fake.state, root) == root_of(changed)
    thread = await notifier.threads.get(OPS_DEST, number)
    assert thread is not None
    assert thread.rendered_version == version_of(changed) > version_of(opened)
    assert_every_card_valid(fake.state)


async def test_in_a_personal_chat_replies_are_plain_messages_of_the_chat(
    desk: HelpDesk, fake: FakeConnector, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.status(number, Status.OPEN)
    notifier = make_notifier()

    await deliver_all(vt, notifier, await desk.deliveries(CHAT_DEST))

    root, reply, update = fake.state.calls
    assert reply.conversation_id == CHAT  # chats have no threads
    assert reply.body["replyToId"] == fake.state.activity_id(root)
    assert (update.kind, update.conversation_id) == ("update", CHAT)


async def test_a_burst_posts_every_reply_and_coalesces_the_root_updates(
    desk: HelpDesk, fake: FakeConnector, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    flips = (Status.OPEN, Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.IN_PROGRESS, Status.WAITING_CUSTOMER)
    await desk.status(number, *flips)
    deliveries = await desk.deliveries(OPS_DEST)
    assert len(deliveries) == 6
    notifier = make_notifier()

    # as the Dispatcher hands over a batch: concurrently, in outbox order
    await vt.run(asyncio.gather(*(notifier.deliver(d) for d in deliveries)))
    await vt.run(notifier.wait_idle())

    [root] = fake.state.roots(OPS)
    replies = fake.state.thread(OPS, fake.state.activity_id(root))
    assert [r.cards() for r in replies] == [[line_of(d)] for d in deliveries[1:]]
    updates = fake.state.of("update")
    assert 1 <= len(updates) <= 2
    assert root_body(fake.state, root) == root_of(deliveries[-1])  # the newest state won
    thread = await notifier.threads.get(OPS_DEST, number)
    assert thread is not None
    assert thread.rendered_version == version_of(deliveries[-1])
    assert_every_card_valid(fake.state)


async def test_an_older_event_never_overwrites_a_newer_root(
    desk: HelpDesk, fake: FakeConnector, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.status(number, Status.OPEN, Status.IN_PROGRESS)
    opened, older, newer = await desk.deliveries(OPS_DEST)
    notifier = make_notifier()

    await deliver_all(vt, notifier, [opened, newer, older])  # the older row was retried late

    [root] = fake.state.roots(OPS)
    assert len(fake.state.thread(OPS, fake.state.activity_id(root))) == 2  # both lines are posted
    [update] = fake.state.of("update")
    assert update.cards() == [root_of(newer)]
    assert root_body(fake.state, root) == root_of(newer)
    thread = await notifier.threads.get(OPS_DEST, number)
    assert thread is not None
    assert thread.rendered_version == version_of(newer)


async def test_a_restarted_notifier_continues_the_same_reply_chain(
    desk: HelpDesk, fake: FakeConnector, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.status(number, Status.OPEN)
    opened, changed = await desk.deliveries(OPS_DEST)
    first = make_notifier()
    await deliver_all(vt, first, [opened])
    await first.close()

    second = make_notifier()  # a new process: only chat_threads remembers the root
    await deliver_all(vt, second, [changed])

    [root] = fake.state.roots(OPS)
    [reply] = fake.state.thread(OPS, fake.state.activity_id(root))
    assert reply.cards() == [line_of(changed)]
    assert root_body(fake.state, root) == root_of(changed)


async def test_a_root_deleted_in_teams_is_posted_anew(
    desk: HelpDesk, fake: FakeConnector, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.status(number, Status.OPEN)
    opened, changed = await desk.deliveries(OPS_DEST)
    notifier = make_notifier()
    await deliver_all(vt, notifier, [opened])
    [old_root] = fake.state.roots(OPS)
    fake.state.delete_message(fake.state.activity_id(old_root))

    await deliver_all(vt, notifier, [changed])

    _, new_root = fake.state.roots(OPS)
    assert new_root.cards() == [root_of(changed)]
    thread = await notifier.threads.get(OPS_DEST, number)
    assert thread is not None
    assert (thread.root_id, thread.rendered_version) == (fake.state.activity_id(new_root), version_of(changed))


# --- customer-facing conversations ------------------------------------------------------------------------------------


async def test_internal_notes_never_reach_customer_facing_or_unknown_conversations(
    desk: HelpDesk, fake: FakeConnector, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.note(number, "Customer is difficult, escalate quietly", Visibility.INTERNAL)
    await desk.note(number, "We are on it", Visibility.PUBLIC)
    notifier = make_notifier()

    for destination in (ACME_DEST, OPS_DEST):
        await deliver_all(vt, notifier, await desk.deliveries(destination))
    _opened, internal, public = await desk.deliveries(NOBODY_DEST)
    await vt.run(notifier.deliver(internal))  # unknown: treated as customer-facing, skipped without an error
    with pytest.raises(PermanentDeliveryError, match="not added"):
        await vt.run(notifier.deliver(public))  # nowhere to send a public event either

    def texts(conversation: str) -> str:
        root = fake.state.roots(conversation)[0]
        return repr([c.body for c in [root, *fake.state.thread(conversation, fake.state.activity_id(root))]])

    assert len(fake.state.thread(ACME, fake.state.activity_id(fake.state.roots(ACME)[0]))) == 1  # the public note
    assert "escalate quietly" not in texts(ACME)
    assert "We are on it" in texts(ACME)
    assert len(fake.state.thread(OPS, fake.state.activity_id(fake.state.roots(OPS)[0]))) == 2  # both notes
    assert "escalate quietly" in texts(OPS)
    assert not [c for c in fake.state.calls if c.channel == NOBODY]
    assert_every_card_valid(fake.state)


async def test_a_conversation_the_bot_was_removed_from_is_a_permanent_error(
    sqlite_engine: AsyncEngine, desk: HelpDesk, fake: FakeConnector, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    await seed_conversation(sqlite_engine, NOBODY, fake.service_url, installed=False)
    await desk.open()
    [opened] = await desk.deliveries(NOBODY_DEST)

    with pytest.raises(PermanentDeliveryError, match="removed"):
        await vt.run(make_notifier().deliver(opened))
    assert fake.state.calls == []


# --- errors -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 412, 502, 504])
async def test_throttling_and_transient_answers_are_retryable(
    status: int, desk: HelpDesk, fake: FakeConnector, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    await desk.open()
    [opened] = await desk.deliveries(OPS_DEST)
    notifier = make_notifier()
    fake.state.fail_next(1, status=status, retry_after=7)

    with pytest.raises(RetryableDeliveryError) as raised:
        await vt.run(notifier.deliver(opened))

    assert raised.value.status == status
    if status == 429:
        assert isinstance(raised.value, RateLimitedError)
        assert raised.value.retry_after == 7.0
        assert notifier.paused_for(OPS_DEST) == 7.0  # the conversation's lane waits as long
    else:
        assert not isinstance(raised.value, RateLimitedError)
    await vt.run(notifier.deliver(opened))  # the outbox's retry posts it
    assert len(fake.state.roots(OPS)) == 1


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_a_conversation_gone_or_a_bot_removed_is_permanent(
    status: int, desk: HelpDesk, fake: FakeConnector, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    [opened] = await desk.deliveries(OPS_DEST)
    notifier = make_notifier()
    fake.state.fail_next(1, status=status, retry_after=None)

    with pytest.raises(PermanentDeliveryError) as raised:
        await vt.run(notifier.deliver(opened))

    assert raised.value.status == status
    assert await notifier.threads.get(OPS_DEST, number) is None


async def test_a_connector_outage_trips_the_breaker_and_everything_arrives_once_and_in_order(
    sqlite_engine: AsyncEngine,
    clock: FrozenClock,
    fake: FakeConnector,
    vt: VirtualTime,
    make_notifier: MakeNotifier,
) -> None:
    await seed_conversation(sqlite_engine, OPS, fake.service_url)
    desk = await help_desk(sqlite_engine, clock, OPS_DEST)
    printer, mail = await two_tickets(desk)
    notifier = make_notifier()
    dispatcher = make_dispatcher(sqlite_engine, notifier, clock, vt)
    fake.state.fail_next(1000, status=502, retry_after=None)

    await through_outage(dispatcher, clock, vt)
    assert dispatcher.breakers.state(OPS_DEST) in ("open", "half_open")
    assert dispatcher.stats.deferred > 0
    assert fake.state.roots(OPS) == []
    assert await statuses_of(desk) == {"pending"}

    fake.state.recover()
    await after_recovery(dispatcher, notifier, clock, vt)

    outcome = await desk.statuses()
    assert {status for _, status, _, _ in outcome} == {"delivered"}
    assert max(attempts for _, _, attempts, _ in outcome) > 1
    deliveries = await desk.deliveries()
    roots = fake.state.roots(OPS)
    assert len(roots) == 2
    for number in (printer, mail):
        mine = [d for d in deliveries if d.payload["number"] == number]
        [root] = [r for r in roots if root_body(fake.state, r) == root_of(mine[-1])]
        replies = fake.state.thread(OPS, fake.state.activity_id(root))
        assert [r.cards() for r in replies] == [[line_of(d)] for d in mine[1:]]  # each once, in order
    assert_every_card_valid(fake.state)


# --- pacing -----------------------------------------------------------------------------------------------------------


async def test_sends_to_one_conversation_stay_within_teams_rate_limits(
    desk: HelpDesk, fake: FakeConnector, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.status(number, Status.OPEN)
    opened, changed = await desk.deliveries(OPS_DEST)
    notifier = make_notifier(max_queue_wait=3600.0)
    await deliver_all(vt, notifier, [opened])
    burst = [dataclasses.replace(changed, idempotency_key=f"burst-{i}") for i in range(90)]

    for delivery in burst:  # one after the other, as fast as the lane admits them
        await vt.run(notifier.deliver(delivery))
    await vt.run(notifier.wait_idle())

    times = sorted(c.at for c in fake.state.calls)
    assert len(fake.state.of("send")) == 91
    for start in times:
        assert sum(1 for at in times if start <= at < start + 1.0) <= 7
        assert sum(1 for at in times if start <= at < start + 30.0) <= 60
    assert times[-1] - times[0] >= 30.0  # 90 messages cannot go out within one 30 s window


async def test_a_long_queue_is_handed_back_to_the_outbox(
    desk: HelpDesk, fake: FakeConnector, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    number = await desk.open()
    await desk.status(number, Status.OPEN)
    opened, changed = await desk.deliveries(OPS_DEST)
    notifier = make_notifier(max_queue_wait=10.0)
    await deliver_all(vt, notifier, [opened])

    posted: list[int] = []

    async def flood() -> None:
        for i in range(100):
            await vt.run(notifier.deliver(dataclasses.replace(changed, idempotency_key=f"k{i}")))
            posted.append(i)

    with pytest.raises(RateLimitedError) as raised:  # instead of holding the dispatcher's batch for 15 s or more
        await flood()
    assert len(posted) >= 50  # the 60-per-30-s window is what fills up
    assert raised.value.retry_after is not None
    assert raised.value.retry_after > 10.0
    assert len(fake.state.of("send")) == len(posted) + 1


# --- Workflows webhook mode -------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Hook:
    url: str
    posts: list[dict[str, Any]]
    answers: list[tuple[int, dict[str, str]]]


@pytest.fixture
async def hook(aiohttp_server: AiohttpServer) -> Hook:
    posts: list[dict[str, Any]] = []
    answers: list[tuple[int, dict[str, str]]] = []

    async def receive(request: web.Request) -> web.Response:
        posts.append(await request.json())
        status, headers = answers.pop(0) if answers else (202, {})
        return web.Response(status=status, headers=headers, text="")

    app = web.Application()
    app.router.add_post("/workflows/hook", receive)
    server = await aiohttp_server(app)
    return Hook(str(server.make_url("/workflows/hook")), posts, answers)


async def test_workflows_mode_posts_one_card_per_event_and_never_internal_notes(
    desk: HelpDesk, hook: Hook, vt: VirtualTime
) -> None:
    number = await desk.open()
    await desk.note(number, "internal only", Visibility.INTERNAL)
    await desk.status(number, Status.OPEN)
    opened, internal, changed = await desk.deliveries(OPS_DEST)
    notifier = TeamsWorkflowsNotifier(
        hook.url, public_url=PUBLIC_URL, locale_for=lambda _d: "en", now=vt.now, sleep=vt.sleep
    )
    try:
        for delivery in (opened, internal, changed, changed):  # the repeat is an outbox retry: posted once
            await vt.run(notifier.deliver(delivery))

        assert hook.posts == [webhook_message(d.payload, locale="en", public_url=PUBLIC_URL) for d in (opened, changed)]
        for post in hook.posts:
            assert post["type"] == "message"
            assert_valid_card(card_of(post), limit=WORKFLOWS_CARD_LIMIT)

        hook.answers.extend([(429, {"Retry-After": "5"}), (503, {}), (400, {})])
        with pytest.raises(RateLimitedError) as limited:
            await vt.run(notifier.deliver(dataclasses.replace(opened, idempotency_key="again-1")))
        assert limited.value.retry_after == 5.0
        with pytest.raises(RetryableDeliveryError) as unavailable:
            await vt.run(notifier.deliver(dataclasses.replace(opened, idempotency_key="again-2")))
        assert unavailable.value.status == 503
        with pytest.raises(PermanentDeliveryError) as bad:
            await vt.run(notifier.deliver(dataclasses.replace(opened, idempotency_key="again-3")))
        assert bad.value.status == 400
    finally:
        await notifier.close()


async def test_malformed_teams_destinations_are_permanent(make_notifier: MakeNotifier, vt: VirtualTime) -> None:
    delivery = Delivery(1, "k", "teams:", "TicketOpened", {"number": 1}, 0)
    with pytest.raises(PermanentDeliveryError):
        await vt.run(make_notifier().deliver(delivery))
    with pytest.raises(PermanentDeliveryError):
        await vt.run(make_notifier().deliver(dataclasses.replace(delivery, destination="teams:19:a/b")))


def test_send_windows_admit_at_most_n_in_any_window() -> None:
    windows = SendWindows(((1.0, 7), (30.0, 60)))
    for i in range(7):
        assert windows.wait(100.0) == 0.0
        windows.take(100.0 + i * 0.01)
    assert windows.wait(100.1) == pytest.approx(0.9)
    assert windows.wait(100.1, ahead=7) == pytest.approx(1.9)


async def test_an_alert_without_a_ticket_is_posted_once_as_its_own_message(
    desk: HelpDesk, fake: FakeConnector, vt: VirtualTime, make_notifier: MakeNotifier
) -> None:
    from tests.cards.test_alert_cards import notify_only_envelope

    row = Delivery(1, "alert-key", OPS_DEST, "AlertReceived", notify_only_envelope(), 0)
    notifier = make_notifier()

    await deliver_all(vt, notifier, [row, row])  # a redelivery posts nothing more

    [post] = fake.state.calls
    assert (post.kind, post.conversation_id) == ("send", OPS)
    assert "replyToId" not in post.body
    assert post.cards() == [root_of(row)]
    assert "alert.create_ticket" in str(post.cards())
    assert_every_card_valid(fake.state)
