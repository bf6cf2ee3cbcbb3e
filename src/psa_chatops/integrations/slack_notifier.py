"""Ticket notifications in Slack channels: ``slack:<channel>`` or ``slack:<team>/<channel>`` outbox rows.

Bot-token mode (``SlackNotifier``)
    The first message about a ticket in a channel is its root (``chat.postMessage``), recorded in
    ``chat_threads``; later events reply in its thread (``thread_ts``) and the root is edited in place
    (``chat.update``) to show the ticket as it is now, only when the event's ticket version is newer than the
    version the root shows (``rendered_version``): an older, replayed event never overwrites a newer root.
    ``deliver`` returns once its own message is posted (the outbox then marks the row delivered). Posts go
    through the channel's ``ChannelLane`` (``slack_queue``): FIFO, about one message per second per channel,
    paused for a 429's ``Retry-After``; a queue longer than ``max_queue_wait`` (20 s, well inside the outbox
    lease) is handed back to the outbox as ``RateLimitedError`` instead of holding the batch. Root edits are
    not waited on: the newest wanted state per root is handed to an ``EditCoalescer`` that edits each root at
    most once per lane turn, after the replies waiting in that channel; edits are idempotent re-renders, so one
    lost on a crash or shutdown is repaired by the next event (or a replay). A root deleted in Slack
    (``message_not_found``/``cant_update_message`` on ``chat.update``) is forgotten and posted anew with the
    current state.

Errors (``integrations.errors``; the outbox dispatcher owns retries, so slack-sdk's retry handlers are off):
    HTTP 429 -> ``RateLimitedError`` with the ``Retry-After`` seconds, and the channel's lane pauses as long;
    5xx, timeouts, connection errors and Slack's transient ``ok: false`` errors (``internal_error``,
    ``fatal_error``, ``service_unavailable``, ``request_timeout``) -> retryable, so a Slack outage opens the
    destination's breaker and the rows wait; every other ``ok: false`` error (``channel_not_found``,
    ``not_in_channel``, ``is_archived``, ``invalid_auth``, ``token_revoked``, ``missing_scope``,
    ``msg_too_long``, ``invalid_blocks``, ...) -> permanent: Slack answered, the request is wrong, so the row is
    dead-lettered with the error name in ``last_error`` and can be replayed after the fix.

Customer-facing channels
    Internal notes never go to a channel Slack reports as shared with another organisation (Slack Connect:
    ``is_ext_shared``, ``is_pending_ext_shared`` or ``is_shared``; ``conversations.info``, cached per channel
    for ``shared_cache_seconds``). Such a delivery returns without posting (logged at info). When the check
    fails (e.g. ``missing_scope`` for ``channels:read``) the note is not posted either: the row fails.

Idempotency (the outbox is at-least-once)
    A row redelivered after a crash between Slack's answer and the outbox's settle could post twice. Within a
    process, the idempotency keys of rows already posted are remembered (bounded), so a retry never reposts
    (and a root whose ``chat_threads`` write failed is recorded without posting again). A root already in
    ``chat_threads`` always means "reply", never a second root. What remains: a process that dies after
    Slack accepted a message and before the settle posts that message again when the row is redelivered by
    the next process (one duplicate reply; a duplicate root only if it also died before the ``chat_threads``
    write).

Incoming-webhook mode (``SlackWebhookNotifier``)
    With ``SLACK_WEBHOOK_URL`` and no bot token, every ``slack:`` row is POSTed to that one webhook (it is
    bound to the channel chosen when it was created; the channel in the destination is not used) with
    ``webhook_message``. A webhook cannot thread, edit, or tell whether its channel is shared, so there are no
    roots or threads, each event is one message, and internal notes are never sent. 429/5xx are retryable,
    other 4xx permanent.

Alerts without a ticket (``notify_only``)
    Their rows carry no ticket number, so there is no thread to key: the alert card is posted on its own (once per
    row, through the same idempotency memory) and is not edited later. Creating its ticket from the card starts
    the ticket's own thread with the next event.

Locale: the channel's language is not known yet; ``locale_for(destination)`` answers ``default_locale`` today
and is the place for a per-destination locale later. Tokens: ``token_for(team_id)`` (the settings' bot token
now; the installation store of multi-workspace installs later).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.cards.slack.messages import Message
from psa_chatops.cards.slack.notifications import root_message, thread_line, webhook_message
from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.chat_threads import (
    Render,
    RootEdit,
    ThreadedDelivery,
    is_internal_note,
    render_off_loop,
    ticket_number,
    without_ticket,
)
from psa_chatops.integrations.chat_webhooks import Answer, ChatWebhookNotifier
from psa_chatops.integrations.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    error_for_status,
)
from psa_chatops.integrations.recorder import parse_destination
from psa_chatops.integrations.resilience import parse_retry_after
from psa_chatops.integrations.slack_queue import ChannelLane, ChannelLanes, Now, Sleep
from psa_chatops.storage.chat_threads import ChatThreadStore
from psa_chatops.storage.sqlite_writer import SqliteWriter

logger = logging.getLogger(__name__)

SLACK_KIND = "slack"
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"})
ROOT_GONE_ERRORS = frozenset({"message_not_found", "cant_update_message"})
SHARED_FLAGS = ("is_ext_shared", "is_pending_ext_shared", "is_shared")
_TEAM = re.compile(r"[ET][A-Z0-9]+")
_CHANNEL = re.compile(r"[A-Z0-9]+")

TokenFor = Callable[[str | None], Awaitable[str | None]]
LocaleFor = Callable[[str], str]
R = TypeVar("R")


@dataclass(frozen=True)
class SlackTarget:
    destination: str
    team_id: str | None
    channel: str

    @property
    def lane_key(self) -> str:
        return f"{self.team_id}/{self.channel}" if self.team_id else self.channel


def parse_slack_destination(destination: str) -> SlackTarget:
    """``slack:C0123ABC`` or ``slack:T0123/C0123ABC``; anything else is a permanent error."""
    kind, target = parse_destination(destination)
    team, _, channel = target.rpartition("/")
    valid = kind == SLACK_KIND and _CHANNEL.fullmatch(channel) and (not team or _TEAM.fullmatch(team))
    if not valid:
        raise PermanentDeliveryError(
            "not a slack:<channel> or slack:<team>/<channel> destination", destination=destination
        )
    return SlackTarget(destination, team or None, channel)


class RootGoneError(PermanentDeliveryError):
    """``chat.update`` on a root that was deleted (or can no longer be edited) in Slack."""


def slack_error(exc: Exception, *, method: str, destination: str, now: float) -> DeliveryError:
    """Translate what slack-sdk or aiohttp raised into the outbox's error classes."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = response.status_code
        if status != 200:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now)
            message = f"Slack {method} answered HTTP {status}"
            error = error_for_status(status, retry_after=retry_after, message=message, destination=destination)
            return error or RetryableDeliveryError(message, destination=destination, status=status)
        name = str(response.get("error") or "unknown_error")
        message = f"Slack {method} failed: {name}"
        if name in ROOT_GONE_ERRORS and method == "chat.update":
            return RootGoneError(message, destination=destination)
        if name in TRANSIENT_ERRORS:
            return RetryableDeliveryError(message, destination=destination)
        return PermanentDeliveryError(message, destination=destination)
    if isinstance(exc, aiohttp.ClientError | TimeoutError):
        return RetryableDeliveryError(f"Slack {method} failed: {type(exc).__name__}", destination=destination)
    return PermanentDeliveryError(f"Slack {method} failed: {type(exc).__name__}: {exc}", destination=destination)


class SlackClients:
    """One ``AsyncWebClient`` per token on one owned aiohttp session (created on first use, closed by ``close``)."""

    def __init__(self, *, base_url: str | None, timeout: float) -> None:
        self._base_url = base_url or AsyncWebClient.BASE_URL
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._clients: dict[str, AsyncWebClient] = {}

    def client(self, token: str) -> AsyncWebClient:
        found = self._clients.get(token)
        if found is None:
            found = self._clients[token] = AsyncWebClient(
                token=token,
                base_url=self._base_url,
                session=self.session(),
                timeout=math.ceil(self._timeout),  # informational: requests use the session's timeout
                retry_handlers=[],  # the outbox retries, with backoff, breakers and Retry-After
            )
        return found

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None
        self._clients.clear()


class SlackNotifier:
    """``Notifier`` for ``slack:`` destinations with a bot token (see the module docstring)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        token_for: TokenFor,
        writer: SqliteWriter | None = None,
        public_url: str,
        locale_for: LocaleFor,
        base_url: str | None = None,
        timeout: float = 10.0,
        interval: float = 1.0,
        max_queue_wait: float = 20.0,
        max_edit_defer: float = 10.0,
        shared_cache_seconds: float = 600.0,
        remembered_keys: int = 10_000,
        now: Now = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.threads = ChatThreadStore(engine, writer=writer)
        self.lanes = ChannelLanes(interval=interval, max_wait=max_queue_wait, now=now, sleep=sleep)
        self.chat: ThreadedDelivery[SlackTarget] = ThreadedDelivery(
            self.threads,
            self.lanes,
            lane_key=lambda target: target.lane_key,
            channel_id=lambda target: target.channel,
            post_root=self._repost_root,
            update_root=self._update_root,
            max_edit_defer=max_edit_defer,
            remembered_keys=remembered_keys,
        )
        self.edits = self.chat.edits
        self._clients = SlackClients(base_url=base_url, timeout=timeout)
        self._token_for, self._locale_for, self._public_url = token_for, locale_for, public_url
        self._shared_ttl = shared_cache_seconds
        self._shared: dict[str, tuple[float, bool]] = {}
        self._now, self._wall_clock = now, wall_clock

    async def deliver(self, delivery: Delivery) -> None:
        target = parse_slack_destination(delivery.destination)
        lane = self.lanes.lane(target.lane_key)
        with lane.active():
            envelope = delivery.payload
            if without_ticket(delivery):
                token = await self._token(target)
                post = lambda: self._post_root(target, token, lane, envelope)  # noqa: E731
                await self.chat.deliver_alone(delivery.idempotency_key, post)
                return
            number = ticket_number(delivery)
            token = await self._token(target)
            if is_internal_note(envelope) and await self.customer_facing(target, token):
                logger.info("internal note on ticket %s not posted to customer-facing %s", number, target.destination)
                return
            async with self.chat.ticket_lock(target.destination, number):
                await self.chat.deliver(
                    target,
                    target.destination,
                    number,
                    envelope,
                    key=delivery.idempotency_key,
                    post_root=lambda: self._post_root(target, token, lane, envelope),
                    post_reply=lambda root_id: self._post_reply(target, token, lane, envelope, root_id),
                )

    def paused_for(self, destination: str) -> float:
        """Seconds the destination's channel stays paused by a rate limit."""
        return self.lanes.lane(parse_slack_destination(destination).lane_key).paused_for()

    async def wait_idle(self) -> None:
        """Until the pending root edits are done."""
        await self.edits.wait_idle()

    async def close(self, *, grace: float = 0.0) -> None:
        """Give pending root edits up to ``grace`` seconds, cancel the rest (the next event re-renders those
        roots), and close the HTTP session."""
        await self.chat.close(grace=grace)
        await self._clients.close()

    async def customer_facing(self, target: SlackTarget, token: str) -> bool:
        cached = self._shared.get(target.lane_key)
        if cached is not None and cached[0] > self._now():
            return cached[1]
        client = self._clients.client(token)
        response = await self._call(
            "conversations.info", target, None, lambda: client.conversations_info(channel=target.channel)
        )
        channel = response.get("channel") or {}
        shared = any(bool(channel.get(flag)) for flag in SHARED_FLAGS)
        self._shared[target.lane_key] = (self._now() + self._shared_ttl, shared)
        return shared

    # -- posting -----------------------------------------------------------------------------------------------------

    async def _post_root(self, target: SlackTarget, token: str, lane: ChannelLane, envelope: Mapping[str, Any]) -> str:
        message = await self._render(root_message, envelope, target)
        return await self._post(target, token, lane, message, thread_ts=None)

    async def _post_reply(
        self, target: SlackTarget, token: str, lane: ChannelLane, envelope: Mapping[str, Any], root_id: str
    ) -> str | None:
        line = await self._render(thread_line, envelope, target)
        return None if line is None else await self._post(target, token, lane, line, thread_ts=root_id)

    async def _post(
        self, target: SlackTarget, token: str, lane: ChannelLane, message: Message, *, thread_ts: str | None
    ) -> str:
        client = self._clients.client(token)
        args: dict[str, Any] = {**message.as_dict(), "channel": target.channel}
        if thread_ts is not None:
            args["thread_ts"] = thread_ts
        async with lane.turn():
            response = await self._call("chat.postMessage", target, lane, lambda: client.chat_postMessage(**args))
        ts = response.get("ts")
        if not isinstance(ts, str) or not ts:
            raise RetryableDeliveryError("Slack chat.postMessage answered without a ts", destination=target.destination)
        return ts

    async def _call(
        self,
        method: str,
        target: SlackTarget,
        lane: ChannelLane | None,
        call: Callable[[], Awaitable[AsyncSlackResponse]],
    ) -> AsyncSlackResponse:
        """One Web API call; failures become delivery errors, and a rate limit also pauses the channel's lane."""
        try:
            return await call()
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            error = slack_error(exc, method=method, destination=target.destination, now=self._wall_clock())
            if lane is not None:
                lane.pause_for_rate_limit(error)
            raise error from exc

    # -- root edits (run by the coalescer's flush task, inside the channel's lane turn) ----------------------------

    async def _update_root(self, edit: RootEdit[SlackTarget]) -> bool:
        """``chat.update``; False when the root is gone in Slack."""
        target = edit.where
        token = await self._token(target)
        message = await self._render(root_message, edit.envelope, target)
        client = self._clients.client(token)
        args = {**message.as_dict(), "channel": target.channel, "ts": edit.root_id}
        lane = self.lanes.lane(target.lane_key)
        try:
            await self._call("chat.update", target, lane, lambda: client.chat_update(**args))
        except RootGoneError:
            return False
        return True

    async def _repost_root(self, edit: RootEdit[SlackTarget]) -> str:
        target = edit.where
        token = await self._token(target)
        return await self._post_root(target, token, self.lanes.lane(target.lane_key), edit.envelope)

    # -- helpers -----------------------------------------------------------------------------------------------------

    async def _token(self, target: SlackTarget) -> str:
        token = await self._token_for(target.team_id)
        if not token:
            team = target.team_id or "the default workspace"
            raise PermanentDeliveryError(f"no Slack bot token for {team}", destination=target.destination)
        return token

    async def _render(self, render: Render[R], envelope: Mapping[str, Any], target: SlackTarget) -> R:
        return await render_off_loop(
            render, envelope, locale=self._locale_for(target.destination), url=self._public_url
        )


class SlackWebhookNotifier(ChatWebhookNotifier[dict[str, Any]]):
    """``Notifier`` for ``slack:`` destinations through one incoming webhook (see the module docstring)."""

    LANE = "incoming-webhook"
    LABEL = "Slack incoming webhook"
    VIA = "the incoming webhook"
    INTERVAL = 1.0  # seconds between posts: Slack's one message per second per channel

    _client: AsyncWebhookClient | None = None

    def _new_lanes(self, *, max_wait: float, now: Now, sleep: Sleep) -> ChannelLanes:
        return ChannelLanes(interval=self.INTERVAL, max_wait=max_wait, now=now, sleep=sleep)

    def _check(self, destination: str) -> None:
        parse_slack_destination(destination)

    async def _body(self, payload: dict[str, Any], *, locale: str, destination: str) -> dict[str, Any]:
        return await render_off_loop(webhook_message, payload, locale=locale, url=self._public_url)

    async def _post(self, body: dict[str, Any]) -> Answer:
        response = await self._webhook().send_dict(body)
        return response.status_code, response.body or "", response.headers.get("Retry-After")

    async def close(self, *, grace: float = 0.0) -> None:
        await super().close(grace=grace)
        self._client = None

    def _webhook(self) -> AsyncWebhookClient:
        if self._client is None or self._session is None or self._session.closed:
            self._client = AsyncWebhookClient(
                self._url, session=self._http(), timeout=math.ceil(self._timeout), retry_handlers=[]
            )
        return self._client
