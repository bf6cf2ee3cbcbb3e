"""POP3 (UIDL, delete after commit) against the real Dovecot, the mailbox settings, and ``psa mail poll --once``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from psa_chatops.bot.cli import app
from psa_chatops.bot.doctor import mailbox_checks
from psa_chatops.bot.settings import Settings
from psa_chatops.handlers.mail_intake import Outcome
from psa_chatops.integrations.mail_in.config import MailboxConfig, MailSecretError
from psa_chatops.integrations.mail_in.intake import MailIntake
from psa_chatops.integrations.mail_in.pop3 import Pop3Reader
from psa_chatops.integrations.mail_in.runner import MailboxRunner, drain
from psa_chatops.storage import mail_messages as store
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.migrations import upgrade
from tests.fixtures_directory import seed_directory
from tests.integrations.mail_in.conftest import PASSWORD_ENV, corpus_mail
from tests.integrations.mail_in.dovecot import PASSWORD, USER, Dovecot

Runners = Callable[[MailboxConfig], MailboxRunner]


async def test_pop3_mail_becomes_a_ticket_and_is_deleted_only_after_the_commit(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], runner_for: Runners
) -> None:
    dovecot.deliver(corpus_mail("talon/standard_replies/aol.eml", From="petra@mueller-mb.de"))
    dovecot.deliver(corpus_mail("talon/standard_replies/comcast.eml"))

    result = await runner_for(mailbox_for("pop3")).once()

    assert [v.outcome for v in result.taken] == [Outcome.TICKET, Outcome.TICKET]
    assert dovecot.files() == []  # deleted on the server
    assert {r.mailbox for r in await store.records(db)} == {"pop3-test"}


async def test_pop3_crash_before_quit_leaves_the_message_and_the_retry_only_deletes_it(
    db: AsyncEngine, dovecot: Dovecot, mailbox_for: Callable[..., MailboxConfig], intake: MailIntake
) -> None:
    mailbox = mailbox_for("pop3")
    dovecot.deliver(corpus_mail("talon/standard_replies/sparrow.eml"))

    class Dies(Pop3Reader):
        async def mark(self, ref: str) -> None:
            await self.close()  # the session ends without DELE+QUIT, as when the process dies
            raise ConnectionResetError("gone")

    reader = Dies(mailbox)
    await reader.connect()
    with pytest.raises(ConnectionResetError):
        await drain(reader, intake, mailbox)
    assert len(dovecot.files()) == 1

    again = Pop3Reader(mailbox)
    await again.connect()
    try:
        result = await drain(again, intake, mailbox)
    finally:
        await again.close()
    assert [v.outcome for v in result.taken] == [Outcome.DUPLICATE]
    assert dovecot.files() == []
    assert len(await store.records(db)) == 1


def test_psa_mail_poll_once_reads_every_configured_mailbox(
    dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dovecot.deliver(corpus_mail("talon/standard_replies/gmail.eml"))
    asyncio.run(_seeded(tmp_path / "cli.db"))
    user = USER.replace("@", "%40")
    mailboxes = [
        {"url": f"imap://{user}@127.0.0.1:{dovecot.imap_port}/INBOX", "name": "desk", "password_env": PASSWORD_ENV},
    ]
    monkeypatch.setenv("PSA_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PSA_MAILBOXES", json.dumps(mailboxes))
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)

    first = CliRunner().invoke(app, ["mail", "poll", "--once"])
    second = CliRunner().invoke(app, ["mail", "poll", "--once"])

    assert first.exit_code == 0, first.output
    assert "desk: 1 message(s): ticket 1" in first.output
    assert "desk: 0 message(s)" in second.output
    assert PASSWORD not in first.output + second.output


async def _seeded(path: Path) -> None:
    engine = await asyncio.to_thread(create_engine, f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(engine)
        await seed_directory(engine)
    finally:
        await engine.dispose()


def test_a_wrong_password_is_reported_without_the_password(
    dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    user = USER.replace("@", "%40")
    mailboxes = [{"url": f"pop3://{user}@127.0.0.1:{dovecot.pop3_port}", "password_env": PASSWORD_ENV,
                  "after": "delete"}]  # fmt: skip
    monkeypatch.setenv("PSA_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PSA_MAILBOXES", json.dumps(mailboxes))
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")

    result = CliRunner().invoke(app, ["mail", "poll", "--once"])

    assert result.exit_code == 1
    assert "login refused" in result.output
    assert "not-the-password" not in result.output


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"url": "imaps://u:pw@host", "password_env": "X"}, "must not carry a password"),
        ({"url": "imaps://host", "password_env": "X"}, "must name a user and a host"),
        ({"url": "smtp://u@host", "password_env": "X"}, "scheme must be imap, imaps, pop3, pop3s or graph"),
        ({"url": "imaps://u@host"}, "needs password_env or password_file"),
        ({"url": "pop3s://u@host", "password_env": "X"}, "POP3 can only delete"),
        ({"url": "imaps://u@host", "password_env": "X", "after": "archive"}, "must be flag, flag:<keyword>"),
        ({"url": "graph://desk@contoso.example", "tenant": "t"}, "needs tenant, client_id and client_secret"),
        ({"url": "imaps://u@host", "password_env": "X", "ticket_tag": "#\\d+"}, "needs a group"),
        ({"url": "imaps://u@host", "password_env": "X", "pasword_env": "Y"}, "Extra inputs are not permitted"),
    ],
)
def test_mailbox_settings_are_validated_with_precise_errors(entry: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(mailboxes=[entry])
    assert message in str(raised.value)
    assert "pw@" not in str(raised.value)


def test_two_mailboxes_with_one_name_are_refused() -> None:
    entry = {"url": "imaps://u@host", "password_env": "X"}
    with pytest.raises(ValidationError, match="two mailboxes are named 'u@host'"):
        Settings(mailboxes=[entry, entry])


def test_secrets_come_from_the_environment_or_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "mail-password"
    secret.write_text("from-a-file\n")
    by_file = MailboxConfig(url="imaps://u@host/Support", password_file=str(secret), after="move:Done")
    assert by_file.password().get_secret_value() == "from-a-file"
    assert (by_file.folder, by_file.port, by_file.marking.action, by_file.marking.target) == (
        "Support",
        993,
        "move",
        "Done",
    )
    by_env = MailboxConfig(url="imap://u@host", password_env="MAIL_PW_UNSET")
    with pytest.raises(MailSecretError, match="MAIL_PW_UNSET is not set"):
        by_env.password()
    assert "from-a-file" not in repr(by_file) + str(by_file.model_dump())


async def test_doctor_logs_in_to_each_mailbox_and_names_the_failure(
    dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    user = USER.replace("@", "%40")
    good = MailboxConfig(url=f"imap://{user}@127.0.0.1:{dovecot.imap_port}", name="good", password_env=PASSWORD_ENV)
    bad = MailboxConfig(url=f"pop3://nobody@127.0.0.1:{dovecot.pop3_port}", name="bad", password_env=PASSWORD_ENV,
                        after="delete")  # fmt: skip
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", mailboxes=[good, bad])

    checks = {c.name: c for c in await mailbox_checks(settings)}

    assert checks["mailbox good"].ok
    assert checks["mailbox good"].detail == "imap://127.0.0.1: logged in, 0 message(s) waiting"
    assert not checks["mailbox bad"].ok
    assert "login refused" in checks["mailbox bad"].detail
    assert PASSWORD not in " ".join(c.detail + (c.fix or "") for c in checks.values())
