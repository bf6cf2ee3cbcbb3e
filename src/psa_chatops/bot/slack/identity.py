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

from psa_chatops.bot.chat_identity import SANDBOX_TECHNICIAN, ChatIdentity
from psa_chatops.bot.slack import texts
from psa_chatops.core.directory import Technician
from psa_chatops.core.errors import NotFoundError

CHANNEL = "slack"
__all__ = ["CHANNEL", "SANDBOX_TECHNICIAN", "ProfileCache", "SlackIdentity"]


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
class SlackIdentity(ChatIdentity):
    channel: str = CHANNEL
    profiles: ProfileCache = field(default_factory=ProfileCache)

    async def link_by_email(self, client: AsyncWebClient, user_id: str) -> Technician:
        """Link this Slack user to the technician whose e-mail Slack verified for them."""
        email = (await self.profile(client, user_id)).get("email")
        return await self.link_email(user_id, str(email) if email else None, missing=texts.NO_EMAIL)

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
