"""Teams user -> actor. The durable link is an ``actor_links`` row (channel ``teams``, external id = the user's
Azure AD object id, ``from.aadObjectId``; the Teams-scoped ``29:...`` id when there is none, e.g. the Emulator).

``link`` looks the user up in the conversation roster (``GET /v3/conversations/{id}/members/{userId}``, core's
connector client) and links the technician whose e-mail equals the member's ``email`` (else its
``userPrincipalName``). In sandbox mode an unknown user is linked to a demo technician on first use, by the same
rule as Slack: ``t-dispatch``, else the first dispatcher, else the first admin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import actor_for
from psa_chatops.bot.slack import texts as slack_texts
from psa_chatops.bot.teams import texts
from psa_chatops.core.directory import Technician
from psa_chatops.core.errors import InvalidError, NotFoundError
from psa_chatops.handlers.ports import Actor, Clock
from psa_chatops.storage import directory as store
from psa_chatops.storage.directory_writer import link_actor
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

CHANNEL = "teams"
SANDBOX_TECHNICIAN = "t-dispatch"


@dataclass
class TeamsIdentity:
    engine: AsyncEngine
    writer: SqliteWriter | None
    clock: Clock
    sandbox_enabled: bool
    directory_cache: store.DirectoryCache = field(default_factory=store.DirectoryCache)

    async def actor(self, user_id: str, *, locale: str | None = None) -> Actor:
        """The linked actor, or an unlinked one (commands then explain how to link)."""
        actor = await actor_for(
            self.engine, self.clock, channel=CHANNEL, external_id=user_id, locale=locale, cache=self.directory_cache
        )
        if actor.technician or actor.contact or not self.sandbox_enabled or not user_id:
            return actor
        tech = await self._sandbox_technician()
        if tech is None:
            return actor
        await self.link(user_id, tech.id)
        return await actor_for(self.engine, self.clock, channel=CHANNEL, external_id=user_id, locale=locale)

    async def link_by_email(self, user_id: str, email: str | None) -> Technician:
        if not email:
            raise InvalidError(texts.NO_EMAIL)
        async with read_connection(self.engine) as conn:
            found = await store.page(conn, store.TECHNICIANS, store.Listing(limit=20, text=email))
        tech = next((t for t in found if t.email.casefold() == email.casefold()), None)
        if tech is None:
            raise NotFoundError(slack_texts.NO_TECHNICIAN, email=email)
        await self.link(user_id, tech.id)
        return tech

    async def _sandbox_technician(self) -> Technician | None:
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
        """The durable ``actor_links`` row (replacing an older link of this Teams user)."""
        now = self.clock.now()

        async def work(conn: SqlConnection) -> None:
            await link_actor(
                conn,  # type: ignore[arg-type]  # the writer's connection speaks the same execute()
                channel=CHANNEL,
                external_id=user_id,
                kind="technician",
                target_id=technician_id,
                now=now,
            )

        await in_transaction(self.engine, self.writer, work)
