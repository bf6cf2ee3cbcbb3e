"""Chat user -> actor, the same for every chat channel: the durable link is an ``actor_links`` row (channel, the
platform's user id); a link is made by verified e-mail; in sandbox mode an unknown user is linked to a demo
technician on first use (the demo dispatcher ``t-dispatch``, else the first dispatcher, else the first admin), so a
newcomer can try every command. Slack and Teams differ only in how they learn a user's e-mail."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import actor_for
from psa_chatops.core.directory import Technician
from psa_chatops.core.errors import N_, InvalidError, NotFoundError
from psa_chatops.handlers.ports import Actor, Clock
from psa_chatops.storage import directory as store
from psa_chatops.storage.commit_watch import CommittedCache, CommitWatch
from psa_chatops.storage.directory_writer import link_actor
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

SANDBOX_TECHNICIAN = "t-dispatch"
NO_TECHNICIAN = N_("No technician has the e-mail address {email}.")


@dataclass
class ChatIdentity:
    engine: AsyncEngine
    writer: SqliteWriter | None
    clock: Clock
    sandbox_enabled: bool
    channel: str = ""
    directory_cache: store.DirectoryCache = field(default_factory=store.DirectoryCache)
    reads: CommittedCache = field(default_factory=lambda: CommittedCache(CommitWatch()))
    """Resolved actors, trusted until the next commit anywhere (a link, a technician's new role)."""

    async def actor(self, user_id: str, *, locale: str | None = None) -> Actor:
        """The linked actor, or an unlinked one (commands then explain how to link)."""
        return await self.reads.get(("actor", self.channel, user_id, locale), lambda: self._actor(user_id, locale))

    async def _actor(self, user_id: str, locale: str | None) -> Actor:
        actor = await self._resolve(user_id, locale)
        if actor.technician or actor.contact or not self.sandbox_enabled or not user_id:
            return actor
        tech = await self.sandbox_technician()
        if tech is None:
            return actor
        await self.link(user_id, tech.id)
        return await self._resolve(user_id, locale)

    async def _resolve(self, user_id: str, locale: str | None) -> Actor:
        cache = self.directory_cache
        return await actor_for(
            self.engine, self.clock, channel=self.channel, external_id=user_id, locale=locale, cache=cache
        )

    async def link_email(self, user_id: str, email: str | None, *, missing: str) -> Technician:
        """Link the user to the technician with this (platform-verified) e-mail; ``missing`` explains a user
        without one in the platform's words."""
        if not email:
            raise InvalidError(missing)
        tech = await self.technician_by_email(email)
        if tech is None:
            raise NotFoundError(NO_TECHNICIAN, email=email)
        await self.link(user_id, tech.id)
        return tech

    async def technician_by_email(self, email: str) -> Technician | None:
        async with read_connection(self.engine) as conn:
            found = await store.page(conn, store.TECHNICIANS, store.Listing(limit=20, text=email))
        return next((t for t in found if t.email.casefold() == email.casefold()), None)

    async def sandbox_technician(self) -> Technician | None:
        async with read_connection(self.engine) as conn:
            tech = await store.find(conn, store.TECHNICIANS, SANDBOX_TECHNICIAN)
            if tech is not None:
                return tech
            for role in ("dispatcher", "admin"):
                found = await store.every(conn, store.TECHNICIANS, role=role)
                if found:
                    return found[0]
        return None

    async def link(self, user_id: str, technician_id: str) -> None:
        """The durable ``actor_links`` row (replacing an older link of this user on this channel)."""
        now = self.clock.now()

        async def work(conn: SqlConnection) -> None:
            await link_actor(
                conn,  # type: ignore[arg-type]  # the writer's connection speaks the same execute()
                channel=self.channel,
                external_id=user_id,
                kind="technician",
                target_id=technician_id,
                now=now,
            )

        await in_transaction(self.engine, self.writer, work)
