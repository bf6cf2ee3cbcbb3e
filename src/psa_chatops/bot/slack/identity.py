"""Slack user -> actor. The durable link is an ``actor_links`` row (channel ``slack``); ``/psa link`` creates it
from the e-mail address Slack verified (``users.info`` ``profile.email``), which must equal the technician's.

Profiles from ``users.info`` are cached in memory for a few minutes, so a burst of commands costs one API call.
In sandbox mode an unknown user is linked to a demo technician on first use (the demo dispatcher ``t-dispatch``,
else the first dispatcher, else the first admin), so a newcomer can try every command.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import actor_for
from psa_chatops.bot.slack import texts
from psa_chatops.core.directory import Technician
from psa_chatops.core.errors import InvalidError, NotFoundError
from psa_chatops.handlers.ports import Actor, Clock
from psa_chatops.storage import directory as store
from psa_chatops.storage.directory_writer import link_actor
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

CHANNEL = "slack"
SANDBOX_TECHNICIAN = "t-dispatch"


@dataclass
class ProfileCache:
    """``users.info`` answers by user id, for ``ttl`` seconds (monotonic clock)."""

    ttl: float = 300.0
    _entries: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)

    def get(self, user_id: str) -> dict[str, Any] | None:
        entry = self._entries.get(user_id)
        if entry is None or entry[0] < time.monotonic():
            self._entries.pop(user_id, None)
            return None
        return entry[1]

    def put(self, user_id: str, profile: dict[str, Any]) -> None:
        self._entries[user_id] = (time.monotonic() + self.ttl, profile)


@dataclass
class SlackIdentity:
    engine: AsyncEngine
    writer: SqliteWriter | None
    clock: Clock
    sandbox_enabled: bool
    profiles: ProfileCache = field(default_factory=ProfileCache)
    directory_cache: store.DirectoryCache = field(default_factory=store.DirectoryCache)

    async def actor(self, user_id: str) -> Actor:
        """The linked actor, or an unlinked one (commands then explain how to link)."""
        actor = await actor_for(
            self.engine, self.clock, channel=CHANNEL, external_id=user_id, cache=self.directory_cache
        )
        if actor.technician or actor.contact or not self.sandbox_enabled:
            return actor
        tech = await self._sandbox_technician()
        if tech is None:
            return actor
        await self.link(user_id, tech.id)
        return await actor_for(self.engine, self.clock, channel=CHANNEL, external_id=user_id)

    async def link_by_email(self, client: AsyncWebClient, user_id: str) -> Technician:
        """Link this Slack user to the technician whose e-mail Slack verified for them."""
        email = (await self.profile(client, user_id)).get("email")
        if not email:
            raise InvalidError(texts.NO_EMAIL)
        tech = await self._technician_by_email(str(email))
        if tech is None:
            raise NotFoundError(texts.NO_TECHNICIAN, email=email)
        await self.link(user_id, tech.id)
        return tech

    async def profile(self, client: AsyncWebClient, user_id: str) -> dict[str, Any]:
        cached = self.profiles.get(user_id)
        if cached is not None:
            return cached
        try:
            answer = await client.users_info(user=user_id, include_locale=True)
        except SlackApiError as exc:
            raise NotFoundError(texts.UNKNOWN_USER, user=user_id) from exc
        user = answer.get("user") or {}
        profile = {**(user.get("profile") or {}), "locale": user.get("locale"), "tz": user.get("tz")}
        self.profiles.put(user_id, profile)
        return profile

    async def _technician_by_email(self, email: str) -> Technician | None:
        async with read_connection(self.engine) as conn:
            found = await store.page(conn, store.TECHNICIANS, store.Listing(limit=20, text=email))
        return next((t for t in found if t.email.casefold() == email.casefold()), None)

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
        """The durable ``actor_links`` row (replacing an older link of this Slack user)."""
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
