"""The Teams harness: the real service (``create_app``) with activities whose ``serviceUrl`` is the loopback fake
Bot Connector, shaped like the recorded corpora (``../shared/corpora/teams``).

Teams users (AAD object ids): AAD-ALICE (admin alice), AAD-DORA (dispatcher dora), AAD-TOM (technician tom) are
linked; AAD-NEW is not. Default mode: sandbox off, no app id... except that anonymous requests then fail, so the
default harness runs the anonymous sandbox (no app id) with the link-on-first-use rule switched off by linking
everyone it needs; the JWT tests build their own settings.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient, AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot import keys
from psa_chatops.bot.app import create_app
from psa_chatops.bot.bootstrap import actor_for, new_context
from psa_chatops.bot.settings import Settings
from psa_chatops.core import commands as c
from psa_chatops.handlers.views import TicketView
from psa_chatops.storage import directory_writer as w
from tests.conftest import SHARED_CORPORA, FrozenClock
from tests.fakes.bot_connector import FakeConnector, start_fake_connector
from tests.fixtures_directory import seed_directory

CORPUS = SHARED_CORPORA / "teams"
USERS = {"AAD-ALICE": "alice", "AAD-DORA": "dora", "AAD-TOM": "tom"}
BOT_ID = "28:psa-bot"
CHANNEL = "19:general@thread.tacv2"
PERSONAL = "a:personal-chat"
_ids = itertools.count(1)


def corpus(name: str) -> dict[str, Any]:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"the Teams corpus is not here: {path} (../shared/corpora/teams)")
    found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return found


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}",
        "run_background": False,
        "public_url": "https://psa.example.com",
        "sandbox": True,
        **overrides,
    }
    return Settings(**values)


async def link_users(engine: AsyncEngine, clock: FrozenClock) -> None:
    async with engine.begin() as conn:
        for user, tech in USERS.items():
            await w.link_actor(
                conn, channel="teams", external_id=user, kind="technician", target_id=tech, now=clock.now()
            )


def activity(
    connector: FakeConnector,
    *,
    kind: str = "message",
    user: str = "AAD-ALICE",
    conversation: str = PERSONAL,
    conversation_type: str = "personal",
    **extra: Any,
) -> dict[str, Any]:
    """A Teams activity shaped like the recorded ones (personal chat from the Sentry corpus)."""
    base = deepcopy(corpus("sentry_msteams/message_personal_command.json"))
    base.update(
        type=kind,
        id=f"act-{next(_ids)}",
        serviceUrl=connector.service_url,
        recipient={"id": BOT_ID, "name": "PSA"},
        conversation={"id": conversation, "conversationType": conversation_type, "tenantId": "tenant-1"},
        channelData={"tenant": {"id": "tenant-1"}},
    )
    base["from"] = {"id": f"29:{user}", "aadObjectId": user, "name": user}
    base.pop("text", None)
    base.pop("value", None)
    base.update(extra)
    return base


@dataclass
class Teams:
    client: TestClient[Any, Any]
    connector: FakeConnector
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def engine(self) -> AsyncEngine:
        return self.client.app[keys.ENGINE]

    async def post(self, body: Any, *, headers: dict[str, str] | None = None) -> ClientResponse:
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        all_headers = {"Content-Type": "application/json", **self.headers, **(headers or {})}
        return await self.client.post("/api/messages", data=data, headers=all_headers)

    async def say(self, text: str, **kwargs: Any) -> dict[str, Any]:
        """Send a chat message; the one card the bot replied with."""
        before = len(self.connector.state.calls)
        body = activity(self.connector, text=text, **kwargs)
        response = await self.post(body)
        assert response.status in (200, 202), await response.text()
        replies = [call for call in self.connector.state.calls[before:] if call.kind in ("reply", "send")]
        assert replies, "the bot did not answer"
        cards = replies[-1].cards()
        assert cards, replies[-1].body
        return cards[0]

    async def invoke(self, name: str, value: Any, **kwargs: Any) -> tuple[int, Any]:
        body = activity(self.connector, kind="invoke", name=name, value=value, **kwargs)
        response = await self.post(body)
        return response.status, (await response.json() if response.content_length else None)

    async def execute(self, verb: str, data: dict[str, Any], **kwargs: Any) -> tuple[int, Any]:
        value = {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}
        return await self.invoke("adaptiveCard/action", value, **kwargs)

    async def open_ticket(self, title: str = "Printer on fire") -> TicketView:
        clock = self.client.app[keys.CLOCK]
        actor = await actor_for(self.engine, clock, channel="teams", external_id="AAD-ALICE")
        command = c.OpenTicket(title=title, customer_id="CUST-789", description="It burns.")
        view: TicketView = await self.client.app[keys.BUS].handle(command, new_context(actor))
        return view


@pytest.fixture
async def connector(aiohttp_server: AiohttpServer) -> FakeConnector:
    return await start_fake_connector(aiohttp_server)


@pytest.fixture
def make_teams(
    aiohttp_client: AiohttpClient, tmp_path: Path, clock: FrozenClock, connector: FakeConnector
) -> Callable[..., Any]:
    async def make(*, link: bool = True, **overrides: Any) -> Teams:
        client = await aiohttp_client(create_app(settings_for(tmp_path, **overrides), clock=clock))
        await seed_directory(client.app[keys.ENGINE])
        if link:
            await link_users(client.app[keys.ENGINE], clock)
        return Teams(client, connector)

    return make


@pytest.fixture
async def teams(make_teams: Callable[..., Any]) -> Teams:
    made: Teams = await make_teams()
    return made


def valid(card: dict[str, Any]) -> dict[str, Any]:
    """The renderers' checker (Adaptive Card 1.5 schema and Teams' size limit) on every card we emit."""
    from tests.cards.teams_limits import assert_valid_card

    return assert_valid_card(card)


def texts_of(card: Any) -> str:
    """Every string in a card, joined (to look for a word without caring where it sits)."""
    if isinstance(card, dict):
        return " ".join(texts_of(v) for v in card.values())
    if isinstance(card, list):
        return " ".join(texts_of(v) for v in card)
    return card if isinstance(card, str) else ""
