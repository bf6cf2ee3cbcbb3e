"""What every Slack listener needs, injected once (cosmicpython's bootstrap): the bus, the database, the identity
resolver and the dedupe store. Listeners are closures over one ``SlackRuntime``; nothing is global.

Dedupe: Slack retries (``X-Slack-Retry-Num``) and double clicks carry the same key (``event_id``, the modal's
``view.id``, a command's ``trigger_id``, or user + action + card version); the first request reserves the key in
``idempotency_keys``, does the work and stores its small result; later ones get that result and do nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import new_context
from psa_chatops.bot.settings import Settings
from psa_chatops.bot.slack.identity import SlackIdentity
from psa_chatops.core.commands import Command
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import Actor, Clock, CommandContext, UnitOfWork
from psa_chatops.i18n import pick_locale
from psa_chatops.storage.idempotency import IdempotencyStore
from psa_chatops.storage.sqlite_writer import SqliteWriter

SCOPE = "slack"
Result = dict[str, Any]


@dataclass
class SlackRuntime:
    settings: Settings
    bus: MessageBus
    engine: AsyncEngine
    writer: SqliteWriter | None
    clock: Clock
    identity: SlackIdentity
    dedupe: IdempotencyStore

    @property
    def public_url(self) -> str:
        return self.settings.public_url

    def now(self) -> datetime:
        return self.clock.now()

    def locale(self, actor: Actor) -> str:
        linked = actor.technician or actor.contact
        return pick_locale(actor.locale if linked else None, default=self.settings.default_locale)

    async def context(self, user_id: str, *, correlation_id: str | None = None) -> CommandContext:
        return new_context(await self.identity.actor(user_id), correlation_id=correlation_id)

    async def handle(self, command: Command, context: CommandContext) -> Any:
        return await self.bus.handle(command, context)

    async def read(self, query: Callable[[UnitOfWork], Awaitable[Any]], context: CommandContext) -> Any:
        async def run(uow: UnitOfWork) -> Any:
            return await query(uow)

        return await self.bus.read(run, context)

    async def once(self, key: str, work: Callable[[], Awaitable[Result]]) -> Result | None:
        """Run ``work`` once per key; a repeat gets the first result (or None while the first still runs)."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        reservation = await self.dedupe.reserve(SCOPE, key[:255], digest, now=self.now())
        if reservation.outcome == "replay":
            return reservation.response
        if reservation.outcome != "reserved":
            return None
        try:
            result = await work()
        except BaseException:
            await self.dedupe.release(SCOPE, key[:255])
            raise
        await self.dedupe.complete(SCOPE, key[:255], result)
        return result

    async def recall(self, key: str) -> Result | None:
        """The stored result of finished work under this key, or None (never starts any work)."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        reservation = await self.dedupe.reserve(SCOPE, key[:255], digest, now=self.now())
        if reservation.outcome == "reserved":
            await self.dedupe.release(SCOPE, key[:255])
        return reservation.response if reservation.outcome == "replay" else None
