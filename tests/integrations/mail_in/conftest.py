"""A real Dovecot per test (fresh maildir, free loopback ports), mailbox settings pointing at it, and the intake
on the seeded database. Without dovecot installed the tests skip locally and fail under CI (``.ci/run`` runs
``scripts/ensure-dovecot``), as the PostgreSQL tests do."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.integrations.mail_in.config import MailboxConfig
from psa_chatops.integrations.mail_in.intake import MailIntake
from psa_chatops.integrations.mail_in.runner import MailboxRunner
from psa_chatops.integrations.resilience import BreakerBoard
from psa_chatops.storage.mail_messages import MailCursorStore
from tests.conftest import SHARED_CORPORA
from tests.integrations.mail_in.dovecot import DOVECOT, PASSWORD, USER, Dovecot, free_port

EMAIL_CORPUS = SHARED_CORPORA / "email"
PASSWORD_ENV = "PSA_TEST_MAILBOX_PASSWORD"


def corpus_mail(relative: str, **headers: str) -> bytes:
    """A real mail from ``../shared/corpora/email/``, with some headers replaced (``From``, ``Subject``, ...)."""
    path = EMAIL_CORPUS / relative
    if not path.exists():
        pytest.skip(f"the e-mail corpus is not there: {path}")
    raw = path.read_bytes()
    head, sep, body = raw.partition(b"\n\n") if b"\r\n\r\n" not in raw[:8192] else raw.partition(b"\r\n\r\n")
    for name, value in headers.items():
        header = name.replace("_", "-").encode()
        line = header + b": " + value.encode()
        pattern = re.compile(rb"(?im)^" + re.escape(header) + rb":.*(?:\r?\n[ \t].*)*$")
        head, found = pattern.subn(line.replace(b"\\", b"\\\\"), head, count=1)
        if not found:
            head = line + b"\n" + head
    return head + sep + body


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    if DOVECOT is None:
        if os.environ.get("CI"):
            pytest.fail("dovecot is not installed; scripts/ensure-dovecot installs it")
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d, or scripts/ensure-dovecot)")
    root = Path(tempfile.mkdtemp(prefix="psa-dovecot-"))  # not under tmp_path: its parents are private to us,
    server = Dovecot(root, free_port(), free_port())  # and dovecot's unprivileged login processes must get in
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mailbox_for(dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Callable[..., MailboxConfig]:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)

    def make(scheme: str = "imap", **extra: Any) -> MailboxConfig:
        port = dovecot.imap_port if scheme.startswith("imap") else dovecot.pop3_port
        extra.setdefault("after", "delete" if scheme.startswith("pop3") else "flag")
        extra.setdefault("poll_seconds", 1)
        url = f"{scheme}://{USER.replace('@', '%40')}@127.0.0.1:{port}/INBOX"
        return MailboxConfig(url=url, name=f"{scheme}-test", password_env=PASSWORD_ENV, **extra)

    return make


@pytest.fixture
def intake(db: AsyncEngine, bus: MessageBus) -> MailIntake:
    return MailIntake(db, bus)


@pytest.fixture
def runner_for(db: AsyncEngine, intake: MailIntake) -> Callable[[MailboxConfig], MailboxRunner]:
    def make(mailbox: MailboxConfig) -> MailboxRunner:
        return MailboxRunner(mailbox, intake, MailCursorStore(db), BreakerBoard())

    return make
