"""E-mail intake throughput: ``--mails`` real corpus mails (../shared/corpora/email/, with a demo contact as sender
and a subject of their own) delivered into a throw-away Dovecot's maildir, then one IMAP round of the real runner
(fetch -> parse -> intake commit -> flag) into a migrated SQLite database with the demo directory.

    .venv/bin/python -m bench.mail_intake [--mails 1000] [--json out.json]

Needs Debian's dovecot-imapd (``scripts/ensure-dovecot``); without it the section says so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.integrations.mail_in.dovecot import DOVECOT, PASSWORD, USER, Dovecot, free_port

from bench.common import prepare_database, sqlite_url, write_json
from psa_chatops.bot.bootstrap import build_bus
from psa_chatops.handlers.mail_intake import Outcome
from psa_chatops.integrations.mail_in.config import MailboxConfig
from psa_chatops.integrations.mail_in.intake import MailIntake
from psa_chatops.integrations.mail_in.runner import MailboxRunner
from psa_chatops.integrations.resilience import BreakerBoard
from psa_chatops.storage.mail_messages import MailCursorStore
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.unit_of_work import SystemClock

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpora" / "email"
PASSWORD_ENV = "PSA_BENCH_MAILBOX_PASSWORD"  # noqa: S105 - the name of a variable, not a password
_HEADER = re.compile(rb"(?im)^(from|subject|message-id|to|in-reply-to|references):.*(?:\r?\n[ \t].*)*\r?\n")


def corpus() -> list[bytes]:
    return [p.read_bytes() for p in sorted(CORPUS.rglob("*.eml"))]


def mails(count: int, senders: list[str], rng: random.Random) -> list[bytes]:
    """Each a corpus mail with a demo contact as sender, a subject and Message-ID of its own (no rate limit hits,
    no duplicates), the body and attachments as the corpus has them."""
    sources, out = corpus(), []
    for n in range(count):
        raw = sources[n % len(sources)]
        head, sep, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw[:8192] else raw.partition(b"\n\n")
        head = _HEADER.sub(b"", head + b"\n")
        extra = (
            f"From: {rng.choice(senders)}\nTo: {USER}\nSubject: Anfrage {n}: Drucker im 2. OG\n"
            f"Message-ID: <bench-{n}@psa.bench>\n"
        ).encode()
        out.append(extra + head.rstrip(b"\r\n") + b"\n" + (sep or b"\n\n") + body)
    return out


async def measure(count: int) -> dict[str, Any]:
    if DOVECOT is None:
        return {"skipped": "dovecot is not installed (scripts/ensure-dovecot)"}
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="psa-bench-mail-"))
    await asyncio.to_thread(workdir.chmod, 0o755)  # dovecot's unprivileged login processes must get in
    server = Dovecot(workdir / "dovecot", free_port(), free_port())
    url = sqlite_url(workdir)
    engine, directory = await prepare_database(url)
    writer = SqliteWriter(url)
    try:
        await asyncio.to_thread(server.start)
        senders = [c.email for c in directory.contacts] or ["someone@example.org"]
        for raw in mails(count, senders, random.Random(1234)):
            server.deliver(raw)
        os.environ[PASSWORD_ENV] = PASSWORD
        mailbox = MailboxConfig(
            url=f"imap://{USER.replace('@', '%40')}@127.0.0.1:{server.imap_port}/INBOX",
            name="bench",
            password_env=PASSWORD_ENV,
            max_new_tickets=0,
        )
        bus = build_bus(engine, SystemClock(), writer=writer)
        runner = MailboxRunner(mailbox, MailIntake(engine, bus), MailCursorStore(engine, writer=writer), BreakerBoard())
        started = time.perf_counter()
        result = await runner.once()
        seconds = time.perf_counter() - started
    finally:
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(writer.close)
        await engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    tickets = result.count(Outcome.TICKET)
    return {
        "mails": count,
        "taken": len(result.taken),
        "tickets": tickets,
        "notes": result.count(Outcome.NOTE),
        "ignored": result.count(Outcome.IGNORED),
        "duplicates": result.count(Outcome.DUPLICATE),
        "refused": result.refused,
        "seconds": round(seconds, 3),
        "mails_per_second": round(len(result.taken) / seconds, 1) if seconds else 0.0,
        "tickets_per_second": round(tickets / seconds, 1) if seconds else 0.0,
    }


def markdown(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return f"## E-mail intake — `bench/mail_intake.py`\n\nSkipped: {result['skipped']}.\n"
    return "\n".join(
        [
            "## E-mail intake — `bench/mail_intake.py`",
            "",
            f"{result['mails']} corpus mails from a local Dovecot over IMAP into tickets (SQLite, demo directory):"
            " fetch, parse, one intake transaction per mail, flag.",
            "",
            "| mails | taken | tickets | ignored (auto/bounce) | refused | time | mails/s | tickets/s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {result['mails']} | {result['taken']} | {result['tickets']} | {result['ignored']} | {result['refused']}"
            f" | {result['seconds']:.2f} s | {result['mails_per_second']} | {result['tickets_per_second']} |",
            "",
        ]
    )


def run(mails: int = 1000) -> str:
    """The markdown section for BENCHMARKS.md."""
    return markdown(asyncio.run(measure(mails)))


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--json", default=None, help="also write the raw result here")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.mails))
    write_json(args.json, result)
    print(markdown(result))


if __name__ == "__main__":
    cli()
