"""Shared set-up: a seeded database whose routing rules mail contacts and technicians, a bus and a dispatcher
whose e-mail notifier talks to the loopback SMTP server."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import actor_for, build_bus, new_context
from psa_chatops.bot.lifecycle import build_dispatcher
from psa_chatops.bot.settings import Settings
from psa_chatops.bot.worker import Dispatcher
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import CommandContext
from psa_chatops.storage import tables as t
from psa_chatops.storage.outbox import OutboxStore
from tests.conftest import FrozenClock
from tests.fixtures_directory import seed_directory
from tests.integrations.smtp.server import PASSWORD, SmtpServer

CONTACTS = RoutingRule(1, "email:contacts", frozenset(Category))
TECHNICIANS = RoutingRule(2, "email:technicians", frozenset(Category))
OUTBOX = t.table_of(t.OutboxRow)
SENT = t.table_of(t.MailSentRow)
SENDER = "Service Desk <desk@msp.example>"


async def seed(engine: AsyncEngine, *rules: RoutingRule) -> None:
    await seed_directory(engine, rules=rules or (CONTACTS, TECHNICIANS))


def mail_settings(server: SmtpServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "smtp_url": server.url,
        "smtp_password": PASSWORD,
        "smtp_ca_file": str(server.ca_file),
        "mail_from": SENDER,
        "mail_reply_to": "support@msp.example",
        "public_url": "https://psa.msp.example",
        "breaker_failure_threshold": 2,
        "outbox_max_attempts": 5,
    }
    return Settings(**{**values, **overrides})


def dispatcher_for(
    settings: Settings, engine: AsyncEngine, session: aiohttp.ClientSession, clock: FrozenClock
) -> Dispatcher:
    return build_dispatcher(settings, OutboxStore(engine), session, clock, engine=engine)


class Desk:
    """The bus and the people who act on it."""

    def __init__(self, engine: AsyncEngine, clock: FrozenClock) -> None:
        self.engine, self.clock = engine, clock
        self.bus: MessageBus = build_bus(engine, clock)

    async def as_(self, external_id: str) -> CommandContext:
        return new_context(await actor_for(self.engine, self.clock, channel="test", external_id=external_id))


async def outbox_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(OUTBOX).order_by(OUTBOX.c.id))).all())


async def sent_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(SENT).order_by(SENT.c.sent_at, SENT.c.message_id))).all())
