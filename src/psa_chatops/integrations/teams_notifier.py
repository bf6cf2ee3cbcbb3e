"""Ticket notifications in Microsoft Teams: ``teams:<conversation id>`` outbox rows.

Bot mode (``TeamsNotifier``)
    Proactive messages through the Bot Connector REST API (v3) with the Agents SDK's ``TeamsConnectorClient``,
    pointed at the conversation's ``serviceUrl`` from ``teams_conversations`` (written by the inbound adapter when
    the bot is added). The first card about a ticket in a conversation is its root (``send_to_conversation``:
    ``POST /v3/conversations/{id}/activities``), recorded in ``chat_threads`` under ``teams:<conversation id>``;
    later events post a reply line in its reply chain, and the root card is updated in place (``update_activity``:
    ``PUT /v3/conversations/{id}/activities/{root id}``) only when the event's ticket version is newer than the
    version the root shows: an older, replayed event never overwrites a newer root.

    Reply chains: in a channel, the Bot Connector threads a message under a post when it is sent to the thread's
    own conversation id, ``{channel conversation id};messageid={root activity id}`` (what Teams itself puts in
    ``conversation.id`` for messages inside a channel thread, and what the Teams SDKs' ``ReplyAsync`` builds).
    ``reply_to_activity`` (``POST .../activities/{id}``) is not used: Teams is documented to post such a message as
    a new top-level post in channels (botframework-sdk#6626). Chats (personal, groupChat) have no threads; there a
    reply is a plain message in the chat (with ``replyToId`` set, which Teams shows as the chat's order anyway).

    Pacing: one ``ConversationLane`` per conversation (``teams_queue``): FIFO, within Teams' per-conversation
    limits (7/s, 8/2 s, 60/30 s, 1800/h), paused for a 429's ``Retry-After``; a queue longer than
    ``max_queue_wait`` is handed back to the outbox as ``RateLimitedError``. Root updates are coalesced by
    ``EditCoalescer`` (the newest wanted state per root, one update per lane turn, after the waiting replies) in
    owned background tasks; an update lost on a crash or shutdown is repaired by the next event. A root that is
    gone (404 on the update) is forgotten and posted anew.

Auth: with ``TEAMS_APP_ID``/``TEAMS_APP_PASSWORD`` every call carries a Bot Framework token from msal client
    credentials (``MsalAuth``; msal caches and refreshes it), and a stored ``serviceUrl`` must pass
    ``allow_service_url`` (the SDK's ``OutboundHostValidator``: Microsoft hosts only) before the token goes there.
    Without credentials (tests, the local fake connector) the client is anonymous: no ``Authorization`` header.
    The SDK's connector client does not retry; the outbox owns retries, backoff and breakers.

Errors (``integrations.errors``): 429 -> ``RateLimitedError`` with ``Retry-After`` (and the lane pauses); 412
    (Teams' transient precondition failure), 408, 425 and 5xx (502, 504, ...), timeouts and connection errors ->
    retryable, so an outage opens the destination's breaker and the rows wait; 401/403 (bot removed, blocked, or
    bad credentials), 404 (conversation gone), other 4xx, a conversation the bot was never added to or was removed
    from (``installed`` false), and a malformed destination -> permanent (dead-lettered, replayable).

Customer-facing conversations: internal notes are never posted where ``teams_conversations.customer_facing`` is
    set, nor to a conversation that is not in that table (fail closed: nothing says it is internal-only). Public
    notes and every other event are posted.

Idempotency: as the Slack notifier, the keys of rows already posted are remembered (bounded) so a retry never
    reposts within a process; a root in ``chat_threads`` always means "reply". A process that dies between the
    connector's answer and the outbox settle posts that message once more when the row is redelivered.

Workflows mode (``TeamsWorkflowsNotifier``): with only ``TEAMS_WORKFLOWS_URL``, every ``teams:`` row is POSTed to
    that Workflows (Power Automate) webhook as an Adaptive Card message (the renderer's wrapper, at most 28 KB). A
    webhook cannot thread, update or tell who reads along: one message per event, never internal notes. 429/5xx
    retryable, other 4xx permanent. Office 365 connectors (retired) are not supported.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from microsoft_agents.activity import Activity, ResourceResponse
from microsoft_agents.authentication.msal import MsalAuth
from microsoft_agents.hosting.core import AgentAuthConfiguration, TeamsConnectorClient
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.cards.teams.ids import BOT_CARD_LIMIT, WORKFLOWS_CARD_LIMIT
from psa_chatops.cards.teams.messages import card_size, message_activity
from psa_chatops.cards.teams.notifications import reply_card, root_card, webhook_message
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
from psa_chatops.integrations.slack_queue import Now, Sleep
from psa_chatops.integrations.teams_queue import TEAMS_WINDOWS, ConversationLane, ConversationLanes
from psa_chatops.storage.chat_threads import ChatThreadStore
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.teams_conversations import TeamsConversation, TeamsConversationStore

logger = logging.getLogger(__name__)

TEAMS_KIND = "teams"
BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"
TEAMS_RETRYABLE_STATUSES = frozenset({412})
"""Teams-specific transient answers beyond ``errors.RETRYABLE_STATUSES``: 412 is a conflicting concurrent
operation on the conversation ("PreconditionFailed"), documented as retryable."""

TokenFor = Callable[[str], Awaitable[str]]
"""Bearer token for a serviceUrl; ``""`` means anonymous (no ``Authorization`` header)."""
LocaleFor = Callable[[str], str]


async def anonymous(service_url: str) -> str:
    return ""


def msal_tokens(app_id: str, password: str, tenant_id: str | None) -> TokenFor:
    """Bot Framework tokens by client credentials through the Agents SDK's ``MsalAuth`` (msal caches them).

    Without a tenant the app is a multi-tenant bot registration, whose tokens come from ``botframework.com``."""
    config = AgentAuthConfiguration(client_id=app_id, client_secret=password, tenant_id=tenant_id or "botframework.com")
    auth = MsalAuth(config)
    warmed = asyncio.Lock()
    ready = False

    async def token_for(service_url: str) -> str:
        nonlocal ready
        if not ready:
            async with warmed:
                if not ready:  # msal's client fetches the authority's metadata (blocking HTTP) when it is built
                    await asyncio.to_thread(auth._get_client)  # private: build it off the event loop, once
                    ready = True
        return await auth.get_access_token(service_url, [BOT_FRAMEWORK_SCOPE])

    return token_for


def parse_teams_destination(destination: str) -> str:
    """``teams:<conversation id>`` (conversation ids contain colons: ``19:...@thread.tacv2``, ``a:...``)."""
    kind, conversation_id = parse_destination(destination)
    if kind != TEAMS_KIND or any(c.isspace() or c in "/?#" for c in conversation_id):
        raise PermanentDeliveryError("not a teams:<conversation id> destination", destination=destination)
    return conversation_id


def thread_conversation_id(conversation: TeamsConversation, root_id: str) -> str:
    """Where a reply to ``root_id`` goes: the channel thread's conversation id, or the chat itself."""
    if conversation.conversation_type == "channel":
        base = conversation.conversation_id.split(";", 1)[0]
        return f"{base};messageid={root_id}"
    return conversation.conversation_id


def teams_error(exc: BaseException, *, operation: str, destination: str, now: float) -> DeliveryError:
    """Translate what the connector client (aiohttp underneath) or msal raised into the outbox's error classes."""
    if isinstance(exc, aiohttp.ClientResponseError):
        status = exc.status
        retry_after = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None, now=now)
        message = f"Teams {operation} answered HTTP {status}"
        if status in TEAMS_RETRYABLE_STATUSES:
            return RetryableDeliveryError(message, destination=destination, status=status)
        error = error_for_status(status, retry_after=retry_after, message=message, destination=destination)
        return error or RetryableDeliveryError(message, destination=destination, status=status)
    if isinstance(exc, aiohttp.ClientError | TimeoutError | ValidationError):
        return RetryableDeliveryError(f"Teams {operation} failed: {type(exc).__name__}", destination=destination)
    return PermanentDeliveryError(f"Teams {operation} failed: {type(exc).__name__}: {exc}", destination=destination)


class RootGoneError(PermanentDeliveryError):
    """``update_activity`` on a root that was deleted in Teams (404)."""


def card_activity(rendered: Mapping[str, Any], *, limit: int = BOT_CARD_LIMIT, destination: str) -> Activity:
    """A message activity from what the renderer returned: an Adaptive Card, or a message activity (dict)."""
    message = message_activity(dict(rendered)) if rendered.get("type") == "AdaptiveCard" else dict(rendered)
    size = card_size(message)
    if size > limit:
        raise PermanentDeliveryError(f"Teams message of {size} bytes exceeds {limit}", destination=destination)
    return Activity.model_validate({**message, "channelId": "msteams"})


class ConnectorClients:
    """One ``TeamsConnectorClient`` per serviceUrl on one owned aiohttp session each (the SDK's client resolves
    relative paths against its session's ``base_url`` and keeps the bearer token in the session's headers)."""

    def __init__(self, *, timeout: float) -> None:
        self._timeout = timeout
        self._clients: dict[str, tuple[str, TeamsConnectorClient]] = {}
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    async def client(self, service_url: str, token: str) -> TeamsConnectorClient:
        endpoint = service_url if service_url.endswith("/") else service_url + "/"
        found = self._clients.get(endpoint)
        if found is not None and found[0] == token:
            return found[1]
        session = self._sessions.get(endpoint)
        if session is None or session.closed:
            timeout = aiohttp.ClientTimeout(total=self._timeout)
            session = self._sessions[endpoint] = aiohttp.ClientSession(base_url=endpoint, timeout=timeout)
        # A new token replaces the session's Authorization header. The constructor reads the SDK's package metadata
        # (file I/O, for its User-Agent), so it runs in a worker thread; that happens once per serviceUrl and token.
        client = await asyncio.to_thread(functools.partial(TeamsConnectorClient, endpoint, token, session=session))
        self._clients[endpoint] = (token, client)
        return client

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
        self._clients.clear()


class TeamsNotifier:
    """``Notifier`` for ``teams:`` destinations through the Bot Connector (see the module docstring)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        public_url: str,
        locale_for: LocaleFor,
        token_for: TokenFor = anonymous,
        writer: SqliteWriter | None = None,
        connector_url: str | None = None,
        allow_service_url: Callable[[str], bool] | None = None,
        timeout: float = 10.0,
        windows: tuple[tuple[float, int], ...] = TEAMS_WINDOWS,
        rate_limit_pause: float = 1.0,
        max_queue_wait: float = 20.0,
        max_edit_defer: float = 10.0,
        remembered_keys: int = 10_000,
        now: Now = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.threads = ChatThreadStore(engine, writer=writer)
        self.conversations = TeamsConversationStore(engine, writer=writer)
        self.lanes = ConversationLanes(
            windows=windows, interval=rate_limit_pause, max_wait=max_queue_wait, now=now, sleep=sleep
        )
        self.chat: ThreadedDelivery[TeamsConversation] = ThreadedDelivery(
            self.threads,
            self.lanes,
            lane_key=lambda conversation: conversation.conversation_id,
            channel_id=lambda conversation: conversation.conversation_id,
            post_root=self._repost_root,
            update_root=self._update_root,
            max_edit_defer=max_edit_defer,
            remembered_keys=remembered_keys,
        )
        self.edits = self.chat.edits
        self._clients = ConnectorClients(timeout=timeout)
        self._token_for, self._locale_for, self._public_url = token_for, locale_for, public_url
        self._connector_url = connector_url
        self._allow_service_url = allow_service_url
        self._wall_clock = wall_clock

    async def deliver(self, delivery: Delivery) -> None:
        conversation_id = parse_teams_destination(delivery.destination)
        lane = self.lanes.lane(conversation_id)
        with lane.active():
            envelope = delivery.payload
            if without_ticket(delivery):  # an alert without a ticket: one card, no thread (see slack_notifier)
                found = await self.conversations.get(conversation_id)
                alone = self._usable(found, conversation_id, delivery.destination)
                post = lambda: self._post_root(alone, delivery.destination, lane, envelope)  # noqa: E731
                await self.chat.deliver_alone(delivery.idempotency_key, post)
                return
            number = ticket_number(delivery)
            # The ticket's lock is taken before any I/O: a batch delivers a ticket's rows concurrently, and the
            # lock's FIFO order is what keeps their replies in the order the dispatcher started them.
            async with self.chat.ticket_lock(delivery.destination, number):
                found = await self.conversations.get(conversation_id)
                if is_internal_note(envelope) and (found is None or found.customer_facing):
                    why = "customer-facing" if found is not None else "unknown (treated as customer-facing)"
                    logger.info("internal note on ticket %s not posted to %s %s", number, why, delivery.destination)
                    return
                conversation = self._usable(found, conversation_id, delivery.destination)
                destination = delivery.destination
                await self.chat.deliver(
                    conversation,
                    destination,
                    number,
                    envelope,
                    key=delivery.idempotency_key,
                    post_root=lambda: self._post_root(conversation, destination, lane, envelope),
                    post_reply=lambda root_id: self._post_reply(conversation, destination, lane, envelope, root_id),
                )

    def paused_for(self, destination: str) -> float:
        """Seconds the destination's conversation stays paused by a rate limit."""
        return self.lanes.lane(parse_teams_destination(destination)).paused_for()

    async def wait_idle(self) -> None:
        """Until the pending root updates are done."""
        await self.edits.wait_idle()

    async def close(self, *, grace: float = 0.0) -> None:
        """Give pending root updates up to ``grace`` seconds, cancel the rest, and close the HTTP sessions."""
        await self.chat.close(grace=grace)
        await self._clients.close()

    # -- posting -----------------------------------------------------------------------------------------------------

    def _usable(self, found: TeamsConversation | None, conversation_id: str, destination: str) -> TeamsConversation:
        if found is None:
            if self._connector_url is None:
                raise PermanentDeliveryError(
                    "no conversation reference: the bot was not added to this conversation", destination=destination
                )
            kind = "channel" if conversation_id.endswith(("@thread.tacv2", "@thread.skype")) else "personal"
            return TeamsConversation(conversation_id, self._connector_url, conversation_type=kind)
        if not found.installed:
            raise PermanentDeliveryError("the bot was removed from this conversation", destination=destination)
        if self._allow_service_url is not None and not self._allow_service_url(found.service_url):
            raise PermanentDeliveryError(  # our token must never go to a host that is not Microsoft's
                f"serviceUrl {found.service_url!r} is not an allowed Bot Connector host", destination=destination
            )
        return found

    async def _post_root(
        self, conversation: TeamsConversation, destination: str, lane: ConversationLane, envelope: Mapping[str, Any]
    ) -> str:
        card = await self._render(root_card, envelope, destination)
        activity = card_activity(card, destination=destination)
        return await self._send(conversation, destination, lane, conversation.conversation_id, activity)

    async def _post_reply(
        self,
        conversation: TeamsConversation,
        destination: str,
        lane: ConversationLane,
        envelope: Mapping[str, Any],
        root_id: str,
    ) -> str | None:
        line = await self._render(reply_card, envelope, destination)
        if line is None:
            return None
        activity = card_activity(line, destination=destination)
        activity.reply_to_id = root_id
        target = thread_conversation_id(conversation, root_id)
        return await self._send(conversation, destination, lane, target, activity)

    async def _send(
        self,
        conversation: TeamsConversation,
        destination: str,
        lane: ConversationLane,
        target: str,
        activity: Activity,
    ) -> str:
        async with lane.turn():
            client = await self._client(conversation, destination)
            response = await self._call(
                "send_to_conversation",
                destination,
                lane,
                lambda: client.conversations.send_to_conversation(target, activity),
            )
        if not response.id:
            raise RetryableDeliveryError("Teams answered without an activity id", destination=destination)
        return response.id

    async def _call(
        self,
        operation: str,
        destination: str,
        lane: ConversationLane | None,
        call: Callable[[], Awaitable[ResourceResponse]],
    ) -> ResourceResponse:
        """One connector call; failures become delivery errors, and a rate limit also pauses the lane."""
        try:
            return await call()
        except (aiohttp.ClientError, TimeoutError, ValidationError, ValueError) as exc:
            error = teams_error(exc, operation=operation, destination=destination, now=self._wall_clock())
            if lane is not None:
                lane.pause_for_rate_limit(error)
            raise error from exc

    # -- root updates (run by the coalescer's flush task, inside the conversation's lane turn) ------------------------

    async def _update_root(self, edit: RootEdit[TeamsConversation]) -> bool:
        """``update_activity``; False when the root is gone (404)."""
        card = await self._render(root_card, edit.envelope, edit.destination)
        activity = card_activity(card, destination=edit.destination)
        activity.id = edit.root_id
        conversation_id = edit.where.conversation_id
        lane = self.lanes.lane(conversation_id)
        client = await self._client(edit.where, edit.destination)
        try:
            await self._call(
                "update_activity",
                edit.destination,
                lane,
                lambda: client.conversations.update_activity(conversation_id, edit.root_id, activity),
            )
        except PermanentDeliveryError as exc:
            if exc.status != 404:
                raise
            return False
        return True

    async def _repost_root(self, edit: RootEdit[TeamsConversation]) -> str:
        lane = self.lanes.lane(edit.where.conversation_id)
        return await self._post_root(edit.where, edit.destination, lane, edit.envelope)

    # -- helpers -----------------------------------------------------------------------------------------------------

    async def _client(self, conversation: TeamsConversation, destination: str) -> TeamsConnectorClient:
        try:
            token = await self._token_for(conversation.service_url)
        except Exception as exc:  # msal: network errors, or an error answer (raised as ValueError)
            message = f"no Bot Framework token: {type(exc).__name__}"
            raise RetryableDeliveryError(message, destination=destination) from exc
        return await self._clients.client(conversation.service_url, token)

    async def _render(self, render: Render[Any], envelope: Mapping[str, Any], destination: str) -> Any:
        return await render_off_loop(render, envelope, locale=self._locale_for(destination), url=self._public_url)


class TeamsWorkflowsNotifier(ChatWebhookNotifier[bytes]):
    """``Notifier`` for ``teams:`` destinations through one Workflows webhook (see the module docstring)."""

    LANE = "workflows-webhook"
    LABEL = "Teams Workflows webhook"
    VIA = "the Workflows webhook"

    def _new_lanes(self, *, max_wait: float, now: Now, sleep: Sleep) -> ConversationLanes:
        return ConversationLanes(windows=TEAMS_WINDOWS, max_wait=max_wait, now=now, sleep=sleep)

    def _check(self, destination: str) -> None:
        parse_teams_destination(destination)

    async def _body(self, payload: dict[str, Any], *, locale: str, destination: str) -> bytes:
        body = await render_off_loop(webhook_message, payload, locale=locale, url=self._public_url)
        data = json.dumps(body).encode("ascii")  # non-ASCII escaped: the size the renderer measured (card_size)
        if len(data) > WORKFLOWS_CARD_LIMIT:
            raise PermanentDeliveryError(
                f"Workflows message of {len(data)} bytes exceeds {WORKFLOWS_CARD_LIMIT}", destination=destination
            )
        return data

    async def _post(self, body: bytes) -> Answer:
        headers = {"Content-Type": "application/json"}
        async with self._http().post(self._url, data=body, headers=headers) as response:
            return response.status, (await response.text())[:200], response.headers.get("Retry-After")
