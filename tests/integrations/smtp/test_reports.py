"""Scheduled reports: the digest and the summary for a seeded directory, queued once per period, mailed through
the real SMTP server; and when the scheduler runs them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.lifecycle import schedule_reports
from psa_chatops.bot.scheduler import ScheduledWork, build_scheduler, send_report
from psa_chatops.bot.settings import Settings
from psa_chatops.core import commands as c
from psa_chatops.core.priorities import Priority
from psa_chatops.core.tickets_state import Status
from tests.conftest import FrozenClock
from tests.integrations.smtp.server import SmtpServer
from tests.integrations.smtp.support import Desk, dispatcher_for, mail_settings, outbox_rows, seed


@pytest.fixture
async def desk(engine: AsyncEngine, clock: FrozenClock) -> Desk:
    await seed(engine)
    return Desk(engine, clock)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def monday_morning(desk: Desk, clock: FrozenClock) -> dict[str, int]:
    """At 10:00 in Berlin: a critical, a high and a medium ticket at ACME, a medium one at Globex; at 10:50 the
    critical one is past its 30 minutes, the high one at 83 % of its hour, the rest on time."""
    dora, tom = await desk.as_("dora"), await desk.as_("tom")

    async def open_(title: str, priority: Priority, customer: str = "CUST-789") -> int:
        command = c.OpenTicket(title=title, customer_id=customer, priority=priority, contact_id=None)
        return int((await desk.bus.handle(command, dora)).number)

    numbers = {
        "critical": await open_("Mailserver down", Priority.CRITICAL),
        "high": await open_("VPN langsam", Priority.HIGH),
        "done": await open_("Passwort zurücksetzen", Priority.MEDIUM),
        "globex": await open_("Printer jam", Priority.MEDIUM, "CUST-100"),
    }
    clock.advance(minutes=10)
    await desk.bus.handle(c.ChangeStatus(number=numbers["done"], status=Status.RESOLVED, resolution="ok"), tom)
    clock.advance(minutes=40)
    return numbers


async def test_the_digest_goes_to_each_technician_with_their_scope(desk: Desk, clock: FrozenClock) -> None:
    numbers = await monday_morning(desk, clock)
    mails, added = await send_report("daily-sla", engine=desk.engine, writer=None, clock=clock, dry_run=True)
    assert added == 0
    assert [r for r in await outbox_rows(desk.engine) if r.ticket_number is None] == []  # a dry run queues nothing
    by_address = {m.address: m.payload for m in mails}
    assert sorted(by_address) == ["alice@msp.example", "dora@msp.example", "tom@msp.example"]  # sam: nothing at risk
    tom = by_address["tom@msp.example"]
    assert [i["number"] for i in tom["breached"]] == [numbers["critical"]]
    assert [i["number"] for i in tom["at_risk"]] == [numbers["high"]]
    assert tom["at_risk"][0]["target"] == "first_response"
    assert tom["at_risk"][0]["percent"] == pytest.approx(83.3)
    assert tom["breached"][0]["customer"] == "Müller Maschinenbau GmbH"
    assert tom["period"] == "2026-11-23"


async def test_the_weekly_summary_counts_opened_closed_and_kept(desk: Desk, clock: FrozenClock) -> None:
    await monday_morning(desk, clock)
    mails, _ = await send_report("weekly-customer", engine=desk.engine, writer=None, clock=clock, dry_run=True)
    (mail,) = mails  # Globex has no contacts
    assert mail.address == "petra@mueller-mb.de"
    assert mail.period == "2026-W48"
    summary = mail.payload
    assert (summary["opened_count"], summary["closed_count"], summary["open_count"]) == (3, 1, 2)
    assert (summary["sla_kept"], summary["sla_total"]) == (1, 1)
    assert [t["title"] for t in summary["closed"]] == ["Passwort zurücksetzen"]


async def test_a_report_is_queued_once_per_period_and_mailed(
    desk: Desk, clock: FrozenClock, smtp_server: SmtpServer, session: aiohttp.ClientSession
) -> None:
    await monday_morning(desk, clock)
    _, added = await send_report("daily-sla", engine=desk.engine, writer=None, clock=clock)
    assert added == 3
    clock.advance(hours=1)  # the job runs again the same day (a second replica, a restart): nothing new
    _, again = await send_report("daily-sla", engine=desk.engine, writer=None, clock=clock)
    assert again == 0

    rows = [r for r in await outbox_rows(desk.engine) if r.event_type == "SlaDigest"]
    assert len(rows) == 3
    assert {r.ticket_number for r in rows} == {None}
    dispatcher = dispatcher_for(mail_settings(smtp_server), desk.engine, session, clock)
    await dispatcher.drain()
    digests = {r.recipients[0]: r.message for r in smtp_server.received if r.message["X-PSA-Chatops"] == "report"}
    assert sorted(digests) == ["alice@msp.example", "dora@msp.example", "tom@msp.example"]
    tom: EmailMessage = digests["tom@msp.example"]
    assert tom["Subject"] == "SLA digest 2026-11-23: 1 breached, 1 at risk"
    assert tom["Auto-Submitted"] == "auto-generated"
    plain = tom.get_body(("plain",))
    assert plain is not None
    assert "Mailserver down" in str(plain.get_content())


async def test_the_summary_speaks_the_contacts_language(
    desk: Desk, clock: FrozenClock, smtp_server: SmtpServer, session: aiohttp.ClientSession
) -> None:
    await monday_morning(desk, clock)
    await send_report("weekly-customer", engine=desk.engine, writer=None, clock=clock)
    await dispatcher_for(mail_settings(smtp_server), desk.engine, session, clock).drain()
    (mail,) = [r.message for r in smtp_server.received if r.message["X-PSA-Chatops"] == "report"]
    assert mail["Subject"] == "Wochenübersicht für Müller Maschinenbau GmbH"
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert "Innerhalb des SLA gelöst: 1 von 1" in str(plain.get_content())
    assert "Müller Maschinenbau GmbH" in str(html.get_content())


def test_reports_run_on_their_crontab_in_the_report_timezone(desk: Desk, clock: FrozenClock) -> None:
    work = ScheduledWork(desk.bus, desk.engine, clock)
    scheduler = build_scheduler(work, every_seconds=60)
    off = Settings(mail_from="desk@msp.example")  # no transport: no report jobs
    assert schedule_reports(scheduler, work, off, writer=None) == []

    on = Settings(mail_from="desk@msp.example", smtp_url="smtp://127.0.0.1:25", report_timezone="Europe/Berlin")
    assert schedule_reports(scheduler, work, on, writer=None) == ["report:daily-sla", "report:weekly-customer"]
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    daily = scheduler.get_job("report:daily-sla").trigger.get_next_fire_time(None, friday_evening)
    weekly = scheduler.get_job("report:weekly-customer").trigger.get_next_fire_time(None, friday_evening)
    assert daily.astimezone(UTC) == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # Monday 07:00 in Berlin (CET)
    assert weekly.astimezone(UTC) == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    assert set(work.jobs) >= {"report:daily-sla", "report:weekly-customer"}
