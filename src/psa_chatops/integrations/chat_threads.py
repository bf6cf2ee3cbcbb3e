"""Ticket threads in a chat destination, the same for Slack and Teams (one copy, so the two cannot drift apart).

The first message about a ticket in a destination is its root, recorded in ``chat_threads``; later events reply
under it, and the root is edited to show the ticket as it is now only when the event's ticket version is newer
than the version the root shows. Root edits are coalesced (``EditCoalescer``); a root gone in the chat is
forgotten and posted anew. Idempotency keys of rows already posted are remembered per process (bounded), so a
retry never reposts, and a root already in ``chat_threads`` always means "reply". Channels supply the few calls
that differ: how to post a root or a reply, and how to update a root (``False`` when it is gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.errors import PermanentDeliveryError
from psa_chatops.integrations.slack_queue import ChannelLanes, EditCoalescer, FollowUp, Memory
from psa_chatops.storage.chat_threads import ChatThread, ChatThreadStore

logger = logging.getLogger(__name__)

C = TypeVar("C")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Render(Protocol[R_co]):
    def __call__(self, envelope: Mapping[str, Any], *, locale: str, public_url: str) -> R_co: ...


async def render_off_loop(render: Render[R], envelope: Mapping[str, Any], *, locale: str, url: str) -> R:
    """Renders in a worker thread: the first use of a locale or a timezone reads files (Babel's locale data, the
    tz database, catalogs), which must not block the event loop; a thread hop per message is cheap at ~1/s."""
    return await asyncio.to_thread(functools.partial(render, envelope, locale=locale, public_url=url))


def is_internal_note(envelope: Mapping[str, Any]) -> bool:
    """Any note not explicitly public counts as internal (fail closed)."""
    data = envelope.get("data")
    return envelope.get("type") == "NoteAdded" and not (isinstance(data, dict) and data.get("visibility") == "public")


def without_ticket(delivery: Delivery) -> bool:
    """An alert announced without a ticket (``storage.security_alerts``: ``number`` and ``ticket`` are null)."""
    payload = delivery.payload
    return payload.get("number") is None and payload.get("ticket") is None and isinstance(payload.get("alert"), dict)


def ticket_number(delivery: Delivery) -> int:
    number = delivery.payload.get("number")
    if not isinstance(number, int):
        raise PermanentDeliveryError("payload has no ticket number", destination=delivery.destination)
    return number


def ticket_version(envelope: Mapping[str, Any]) -> int:
    """The version of the ticket as the envelope shows it (its summary), else the event's stream version."""
    ticket = envelope.get("ticket")
    version = ticket.get("version") if isinstance(ticket, dict) else None
    if not isinstance(version, int):
        version = envelope.get("version")
    return version if isinstance(version, int) else 0


@dataclass(frozen=True)
class RootEdit(Generic[C]):
    """A root that should show ``envelope`` (at ``version``); ``where`` is the channel's own address of it."""

    where: C
    destination: str
    number: int
    root_id: str
    version: int
    envelope: Mapping[str, Any]


class ThreadedDelivery(Generic[C]):
    """The thread bookkeeping of one chat notifier; ``C`` is what the channel needs to reach a destination.

    ``lane_key(where)`` names the edits' lane, ``channel_id(where)`` is stored in ``chat_threads``,
    ``post_root(edit)`` posts a root anew after the old one is gone, ``update_root(edit)`` edits it in place.
    """

    def __init__(
        self,
        threads: ChatThreadStore,
        lanes: ChannelLanes,
        *,
        lane_key: Callable[[C], str],
        channel_id: Callable[[C], str],
        post_root: Callable[[RootEdit[C]], Awaitable[str]],
        update_root: Callable[[RootEdit[C]], Awaitable[bool]],
        max_edit_defer: float,
        remembered_keys: int,
    ) -> None:
        self.threads = threads
        self.edits: EditCoalescer[RootEdit[C]] = EditCoalescer(lanes, self._apply_edit, max_defer=max_edit_defer)
        self.posted: Memory[str] = Memory(remembered_keys)  # idempotency key -> id of the message it posted
        self._lane_key, self._channel_id = lane_key, channel_id
        self._post_root, self._update_root = post_root, update_root
        self._locks: weakref.WeakValueDictionary[tuple[str, int], asyncio.Lock] = weakref.WeakValueDictionary()

    def ticket_lock(self, destination: str, number: int) -> asyncio.Lock:
        """One lock per (destination, ticket): its FIFO order keeps a ticket's replies in dispatch order."""
        key = (destination, number)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def close(self, *, grace: float = 0.0) -> None:
        """Give pending root edits up to ``grace`` seconds and cancel the rest (the next event re-renders them)."""
        if grace > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self.edits.wait_idle()
        await self.edits.close()

    async def deliver_alone(self, key: str, post: Callable[[], Awaitable[str]]) -> None:
        """A message about no ticket (an alert recorded without one, ``notify_only``): posted once, unthreaded.
        There is no root to key a thread by; the alert's later events are about its ticket, once it has one."""
        if key in self.posted:
            return
        self.posted.put(key, await post())

    async def deliver(
        self,
        where: C,
        destination: str,
        number: int,
        envelope: Mapping[str, Any],
        *,
        key: str,
        post_root: Callable[[], Awaitable[str]],
        post_reply: Callable[[str], Awaitable[str | None]],
    ) -> None:
        """Post the root or a reply (``post_reply(root_id)``, None when there is nothing to say); call it under
        ``ticket_lock``."""
        thread = await self.threads.get(destination, number)
        if thread is None:
            root_id = self.posted.get(key)  # posted by an earlier attempt whose chat_threads write failed
            if root_id is None:
                root_id = await post_root()
                self.posted.put(key, root_id)
            version = ticket_version(envelope)
            await self.threads.put(ChatThread(destination, number, root_id, self._channel_id(where), version))
            return
        if key not in self.posted:
            reply_id = await post_reply(thread.root_id)
            if reply_id is not None:
                self.posted.put(key, reply_id)
        version = ticket_version(envelope)
        if version > thread.rendered_version:
            edit = RootEdit(where, destination, thread.ticket_number, thread.root_id, version, envelope)
            self.edits.request(self._lane_key(where), thread.root_id, version, edit)

    async def _apply_edit(self, edit: RootEdit[C]) -> FollowUp | None:
        """Run by the coalescer's flush task, inside the lane turn."""
        thread = await self.threads.get(edit.destination, edit.number)
        if thread is None or thread.root_id != edit.root_id or thread.rendered_version >= edit.version:
            return None  # re-rooted meanwhile, or the root already shows this version or a newer one
        if not await self._update_root(edit):
            logger.info("root of ticket %s in %s is gone; posting a new one", edit.number, edit.destination)
            await self.threads.forget(edit.destination, edit.number, root_id=edit.root_id)
            return functools.partial(self._repost_root, edit)
        await self.threads.mark_rendered(edit.destination, edit.number, root_id=edit.root_id, version=edit.version)
        return None

    async def _repost_root(self, edit: RootEdit[C]) -> None:
        async with self.ticket_lock(edit.destination, edit.number):
            if await self.threads.get(edit.destination, edit.number) is not None:
                return  # a delivery re-rooted the ticket first
            root_id = await self._post_root(edit)
            thread = ChatThread(edit.destination, edit.number, root_id, self._channel_id(edit.where), edit.version)
            await self.threads.put(thread)
