"""Microsoft 365 mailboxes: the same notifications through Graph ``sendMail`` (MIME form, msal client
credentials from the loopback Entra token endpoint), headers intact."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.settings import Settings
from psa_chatops.core import commands as c
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.integrations.resilience import BreakerBoard, BreakerPolicy
from tests.conftest import FrozenClock
from tests.fakes.graph import CLIENT_ID, CLIENT_SECRET, TENANT, tls_files
from tests.fakes.graph_sendmail import FakeSendMail, start_fake_sendmail
from tests.integrations.smtp.support import Desk, dispatcher_for, outbox_rows, seed

MAILBOX = "servicedesk@msp.example"


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, ssl.SSLContext, ssl.SSLContext]:
    return tls_files(tmp_path)


@pytest.fixture
async def fake(
    aiohttp_server: AiohttpServer, tls: tuple[Path, ssl.SSLContext, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> FakeSendMail:
    started = await start_fake_sendmail(aiohttp_server, tls)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(started.ca_file))  # msal's requests session trusts the fake
    return started


@pytest.fixture
async def session(fake: FakeSendMail) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=fake.client_ssl)) as s:
        yield s


@pytest.fixture
async def desk(engine: AsyncEngine, clock: FrozenClock) -> Desk:
    await seed(engine, RoutingRule(1, "email:contacts", frozenset(Category)))
    return Desk(engine, clock)


def graph_settings(fake: FakeSendMail, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mail_transport": "graph",
        "graph_mail_user": MAILBOX,
        "graph_tenant_id": TENANT,
        "graph_client_id": CLIENT_ID,
        "graph_client_secret": CLIENT_SECRET,
        "graph_api_url": fake.api_url,
        "graph_authority_url": fake.authority_url,
        "mail_from": f"Service Desk <{MAILBOX}>",
    }
    return Settings(**{**values, **overrides})


async def open_ticket(desk: Desk) -> int:
    command = c.OpenTicket(title="VPN fällt aus", customer_id="CUST-789", contact_id="c-1")
    return int((await desk.bus.handle(command, await desk.as_("dora"))).number)


async def test_mail_goes_out_through_sendmail_with_our_headers(
    desk: Desk, fake: FakeSendMail, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    dispatcher = dispatcher_for(graph_settings(fake), desk.engine, session, clock)
    number = await open_ticket(desk)
    await dispatcher.drain()

    ((mailbox, message),) = fake.state.sent
    assert mailbox == MAILBOX
    assert message["To"] == "Petra Kunde <petra@mueller-mb.de>"
    assert message["Subject"] == f"[#{number}] VPN fällt aus"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@msp.example>")
    body = message.get_body(("plain",))
    assert body is not None
    assert "wir haben Ihre Anfrage erhalten" in str(body.get_content())
    assert [r.status for r in await outbox_rows(desk.engine)] == ["delivered"]
    assert [call.kind for call in fake.graph.calls] == ["openid", "token"]  # one token for the session


async def test_graph_throttling_is_retried_later(
    desk: Desk, fake: FakeSendMail, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    dispatcher = dispatcher_for(graph_settings(fake), desk.engine, session, clock)
    dispatcher.breakers = BreakerBoard(BreakerPolicy(failure_threshold=5), now=lambda: clock.now().timestamp())
    await open_ticket(desk)
    fake.graph.fail_next(1, status=429, retry_after=120)
    await dispatcher.drain()
    (row,) = await outbox_rows(desk.engine)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at >= clock.now() + timedelta(seconds=119)
    clock.advance(minutes=5)
    await dispatcher.drain()
    assert [r.status for r in await outbox_rows(desk.engine)] == ["delivered"]
    assert len(fake.state.sent) == 1


async def test_a_refused_message_dead_letters(
    desk: Desk, fake: FakeSendMail, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    dispatcher = dispatcher_for(graph_settings(fake), desk.engine, session, clock)
    await open_ticket(desk)
    fake.graph.fail_next(1, status=403, retry_after=None)  # e.g. no Mail.Send permission for this mailbox
    await dispatcher.drain()
    (row,) = await outbox_rows(desk.engine)
    assert (row.status, row.attempts) == ("dead", 1)
    assert "403" in row.last_error
