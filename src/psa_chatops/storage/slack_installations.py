"""Slack workspaces that installed the app (OAuth v2, multi-workspace mode), as slack-sdk's
``AsyncInstallationStore`` over our ``slack_installations`` table, and the OAuth ``state`` store.

Bot tokens are stored encrypted (Fernet, ``PSA_ENCRYPTION_KEY``), never in clear. Only bot installations are
kept (the app asks for no user scopes). The state store is in memory with a short expiry: the install round trip
takes seconds, and Bolt also binds the state to a browser cookie; with several web replicas behind a balancer
without sticky sessions, use a shared store instead.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

INSTALLATIONS = t.table_of(t.SlackInstallationRow)


class SqlInstallationStore(AsyncInstallationStore):
    def __init__(self, engine: AsyncEngine, *, key: bytes, writer: SqliteWriter | None = None) -> None:
        self._engine, self._writer, self._fernet = engine, writer, Fernet(key)

    async def async_save(self, installation: Installation) -> None:
        await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        values = {
            "team_id": bot.team_id or bot.enterprise_id or "",
            "enterprise_id": bot.enterprise_id,
            "team_name": bot.team_name,
            "app_id": bot.app_id,
            "bot_user_id": bot.bot_user_id,
            "bot_id": bot.bot_id,
            "bot_token_encrypted": self._fernet.encrypt(bot.bot_token.encode()).decode(),
            "bot_scopes": list(bot.bot_scopes),
            "installer_user_id": getattr(bot, "installer_user_id", None),
            "installed_at": datetime.fromtimestamp(bot.installed_at, UTC),
        }

        async def work(conn: SqlConnection) -> None:
            await conn.execute(delete(INSTALLATIONS).where(INSTALLATIONS.c.team_id == values["team_id"]))
            await conn.execute(insert(INSTALLATIONS).values(**values))

        await in_transaction(self._engine, self._writer, work)

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        row = await self._row(enterprise_id, team_id)
        return None if row is None else self._bot(row)

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        row = await self._row(enterprise_id, team_id)
        if row is None:
            return None
        bot = self._bot(row)
        return Installation(
            app_id=bot.app_id,
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            team_name=bot.team_name,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            user_id=row.installer_user_id or "",
            installed_at=bot.installed_at,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        async def work(conn: SqlConnection) -> None:
            await conn.execute(delete(INSTALLATIONS).where(INSTALLATIONS.c.team_id == (team_id or enterprise_id)))

        await in_transaction(self._engine, self._writer, work)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def _row(self, enterprise_id: str | None, team_id: str | None) -> Any:
        query = select(INSTALLATIONS).where(INSTALLATIONS.c.team_id == (team_id or enterprise_id or ""))
        async with read_connection(self._engine) as conn:
            return (await conn.execute(query)).first()

    def _bot(self, row: Any) -> Bot:
        return Bot(
            app_id=row.app_id,
            enterprise_id=row.enterprise_id,
            team_id=row.team_id,
            team_name=row.team_name,
            bot_token=self._fernet.decrypt(row.bot_token_encrypted.encode()).decode(),
            bot_id=row.bot_id or "",
            bot_user_id=row.bot_user_id,
            bot_scopes=list(row.bot_scopes or []),
            installed_at=row.installed_at.timestamp(),
        )


class MemoryStateStore(AsyncOAuthStateStore):
    """One-time OAuth ``state`` values that expire (default ten minutes)."""

    def __init__(self, *, expiration_seconds: float = 600.0) -> None:
        self._expiration = expiration_seconds
        self._issued: dict[str, float] = {}

    @property
    def logger(self) -> Any:
        import logging

        return logging.getLogger(__name__)

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        now = time.monotonic()
        self._issued = {s: exp for s, exp in self._issued.items() if exp > now}
        state = secrets.token_urlsafe(24)
        self._issued[state] = now + self._expiration
        return state

    async def async_consume(self, state: str) -> bool:
        expires = self._issued.pop(state, None)
        return expires is not None and expires > time.monotonic()
