"""What every Teams handler needs, injected once: the bus, the database, identity, the dedupe store and the
conversation store. Handlers are plain functions over one ``TeamsRuntime``; nothing is global.

Dedupe: Teams redelivers an activity it got no timely answer for (same activity id), and a double click sends
two invokes with the same (user, verb, ticket, card version). The first reserves the key in
``idempotency_keys`` (scope ``teams``), does the work and stores its small result; a repeat gets that result and
writes nothing.
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
from psa_chatops.bot.teams.identity import TeamsIdentity
from psa_chatops.core.commands import Command
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import Actor, Clock, CommandContext, UnitOfWork
from psa_chatops.i18n import pick_locale
from psa_chatops.storage.idempotency import IdempotencyStore
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.teams_conversations import TeamsConversationStore

SCOPE = "teams"
Result = dict[str, Any]


@dataclass
class TeamsRuntime:
    settings: Settings
    bus: MessageBus
    engine: AsyncEngine
    writer: SqliteWriter | None
    clock: Clock
    identity: TeamsIdentity
    dedupe: IdempotencyStore
    conversations: TeamsConversationStore

    @property
    def public_url(self) -> str:
        return self.settings.public_url

    def now(self) -> datetime:
        return self.clock.now()

    def locale(self, actor: Actor, client_locale: str | None = None) -> str:
        linked = actor.technician or actor.contact
        return pick_locale(actor.locale if linked else None, client_locale, default=self.settings.default_locale)

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
        short = key[:255]
        reservation = await self.dedupe.reserve(SCOPE, short, digest, now=self.now())
        if reservation.outcome == "replay":
            return reservation.response
        if reservation.outcome != "reserved":
            return None
        try:
            result = await work()
        except BaseException:
            await self.dedupe.release(SCOPE, short)
            raise
        await self.dedupe.complete(SCOPE, short, result)
        return result
