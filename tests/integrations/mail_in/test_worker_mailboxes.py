"""``psa worker`` reads the configured mailboxes in the background: a mail in Dovecot becomes a ticket, and the
worker still stops cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.settings import Settings
from psa_chatops.bot.worker_process import run_worker
from psa_chatops.integrations.mail_in.config import MailboxConfig
from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import create_engine, read_connection
from psa_chatops.storage.migrations import upgrade
from tests.fixtures_directory import seed_directory
from tests.integrations.mail_in.conftest import PASSWORD_ENV, corpus_mail
from tests.integrations.mail_in.dovecot import PASSWORD, USER, Dovecot


async def test_the_worker_turns_mail_into_tickets(
    tmp_path: Path, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}"
    engine = await asyncio.to_thread(create_engine, url)
    await upgrade(engine)
    await seed_directory(engine)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    dovecot.deliver(corpus_mail("talon/standard_replies/gmail.eml", From="petra@mueller-mb.de"))
    mailbox = MailboxConfig(
        url=f"imap://{USER.replace('@', '%40')}@127.0.0.1:{dovecot.imap_port}", password_env=PASSWORD_ENV
    )
    settings = Settings(database_url=url, sla_sweep_seconds=3600, log_format="text", mailboxes=[mailbox])

    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop))
    try:
        async with asyncio.timeout(30):  # a failure bound, not a timing assertion
            while await _ticket_count(engine) == 0:  # noqa: ASYNC110 - the database is all the worker shows
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=15)
        await engine.dispose()
    assert worker.exception() is None


async def _ticket_count(engine: AsyncEngine) -> int:
    async with read_connection(engine) as conn:
        return int((await conn.execute(select(func.count()).select_from(t.table_of(t.TicketRow)))).scalar() or 0)
