"""How the outbox treats what the SMTP server answers: 4xx is retried, 5xx dead-letters, an outage opens the
breaker and loses nothing (all against the real aiosmtpd server on loopback)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core import commands as c
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.integrations.resilience import BreakerBoard, BreakerPolicy
from tests.conftest import FrozenClock
from tests.integrations.smtp.server import SmtpServer
from tests.integrations.smtp.support import Desk, dispatcher_for, mail_settings, outbox_rows, seed

CONTACTS_ON_NEW = RoutingRule(1, "email:contacts", frozenset({Category.NEW}))


@pytest.fixture
async def desk(engine: AsyncEngine, clock: FrozenClock) -> Desk:
    await seed(engine, CONTACTS_ON_NEW)
    return Desk(engine, clock)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def open_tickets(desk: Desk, n: int) -> list[int]:
    dora = await desk.as_("dora")
    opened = [c.OpenTicket(title=f"Problem {i}", customer_id="CUST-789", contact_id="c-1") for i in range(n)]
    return [int((await desk.bus.handle(command, dora)).number) for command in opened]


async def test_a_4xx_answer_is_retried_and_then_delivered(
    desk: Desk, smtp_server: SmtpServer, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    dispatcher = dispatcher_for(mail_settings(smtp_server), desk.engine, session, clock)
    await open_tickets(desk, 1)
    smtp_server.fail_next_rcpt("451 4.7.1 Greylisted, try again later")
    await dispatcher.drain()
    (row,) = await outbox_rows(desk.engine)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "451" in row.last_error
    assert smtp_server.received == []

    clock.advance(minutes=15)
    await dispatcher.drain()
    (row,) = await outbox_rows(desk.engine)
    assert row.status == "delivered"
    assert len(smtp_server.received) == 1


async def test_a_5xx_answer_dead_letters_at_once(
    desk: Desk, smtp_server: SmtpServer, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    dispatcher = dispatcher_for(mail_settings(smtp_server), desk.engine, session, clock)
    await open_tickets(desk, 1)
    smtp_server.fail_next_rcpt("550 5.1.1 No such user here")
    await dispatcher.drain()
    (row,) = await outbox_rows(desk.engine)
    assert (row.status, row.attempts) == ("dead", 1)
    assert "550" in row.last_error
    assert "No such user" in row.last_error
    assert smtp_server.received == []


async def test_an_outage_opens_the_breaker_and_loses_nothing(
    desk: Desk, smtp_server: SmtpServer, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    settings = mail_settings(smtp_server, breaker_failure_threshold=2, dispatcher_concurrency=1)
    dispatcher = dispatcher_for(settings, desk.engine, session, clock)
    dispatcher.breakers = BreakerBoard(
        BreakerPolicy(failure_threshold=2, reset_timeout=30.0), now=lambda: clock.now().timestamp()
    )
    smtp_server.stop()
    numbers = await open_tickets(desk, 4)
    await dispatcher.run_once()
    rows = await outbox_rows(desk.engine)
    assert [r.status for r in rows] == ["pending"] * 4
    assert sorted(r.attempts for r in rows) == [0, 0, 1, 1]  # two failures opened the breaker, two were deferred
    assert sum("circuit breaker open" in (r.last_error or "") for r in rows) == 2
    assert not dispatcher.breakers.allow("email:contacts")

    smtp_server.start()
    for _ in range(10):
        clock.advance(minutes=15)
        await dispatcher.drain()
    assert [r.status for r in await outbox_rows(desk.engine)] == ["delivered"] * 4
    subjects = sorted(r.message["Subject"] for r in smtp_server.received)
    assert subjects == sorted(f"[#{n}] Problem {i}" for i, n in enumerate(numbers))  # each once, none lost
