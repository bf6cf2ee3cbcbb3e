"""What every chat handler needs, injected once, the same for Slack and Teams (one copy, so they cannot drift):
the bus, the database, the identity resolver and the dedupe store. Nothing is global.

Dedupe: chats redeliver (Slack's retries, Teams' activities without a timely answer) and users double click; the
first request reserves its key in ``idempotency_keys`` (under the channel's ``scope``), does the work and stores
its small result; later ones get that result and do nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Self, TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot import keys
from psa_chatops.bot.bootstrap import new_context
from psa_chatops.bot.chat_identity import ChatIdentity
from psa_chatops.bot.settings import Settings
from psa_chatops.core.commands import Command
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import Actor, Clock, CommandContext, UnitOfWork
from psa_chatops.i18n import pick_locale
from psa_chatops.storage.commit_watch import CommittedCache, CommitWatch
from psa_chatops.storage.idempotency import IdempotencyStore
from psa_chatops.storage.sqlite_writer import SqliteWriter

Result = dict[str, Any]
I = TypeVar("I", bound=ChatIdentity)  # noqa: E741 - the identity type, as in ChatRuntime[SlackIdentity]
NewIdentity = Callable[[AsyncEngine, SqliteWriter | None, Clock, bool], I]
"""An identity class: ``(engine, writer, clock, sandbox)``."""


@dataclass
class ChatRuntime(Generic[I]):
    """The part ``SlackRuntime`` and ``TeamsRuntime`` share; ``SCOPE`` keeps each channel's dedupe keys apart."""

    SCOPE: ClassVar[str] = ""

    settings: Settings
    bus: MessageBus
    engine: AsyncEngine
    writer: SqliteWriter | None
    clock: Clock
    identity: I
    dedupe: IdempotencyStore
    reads: CommittedCache = field(default_factory=lambda: CommittedCache(CommitWatch()), kw_only=True)
    """Answers that only change with a commit (a ticket's card for one viewer): see ``storage.commit_watch``."""

    @classmethod
    def from_app(cls, app: web.Application, identity: NewIdentity[I], **extra: Any) -> Self:
        """A runtime from the aiohttp app's state; ``identity(engine, writer, clock, sandbox)``, ``extra`` fields."""
        settings, engine, writer, clock = app[keys.SETTINGS], app[keys.ENGINE], app[keys.WRITER], app[keys.CLOCK]
        reads = CommittedCache(app[keys.COMMITS])
        who = identity(engine, writer, clock, settings.sandbox)
        who.reads = reads
        return cls(
            settings=settings,
            bus=app[keys.BUS],
            engine=engine,
            writer=writer,
            clock=clock,
            identity=who,
            dedupe=IdempotencyStore(engine, writer=writer),
            reads=reads,
            **extra,
        )

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
        reservation = await self.dedupe.reserve(self.SCOPE, short, digest, now=self.now())
        if reservation.outcome == "replay":
            return reservation.response
        if reservation.outcome != "reserved":
            return None
        try:
            result = await work()
        except BaseException:
            await self.dedupe.release(self.SCOPE, short)
            raise
        await self.dedupe.complete(self.SCOPE, short, result)
        return result

    async def recall(self, key: str) -> Result | None:
        """The stored result of finished work under this key, or None (never starts any work)."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        reservation = await self.dedupe.reserve(self.SCOPE, key[:255], digest, now=self.now())
        if reservation.outcome == "reserved":
            await self.dedupe.release(self.SCOPE, key[:255])
        return reservation.response if reservation.outcome == "replay" else None
