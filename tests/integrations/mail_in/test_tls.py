"""TLS to the mail server: imaps/pop3s and STARTTLS against Dovecot with a trustme certificate, verified against
the mailbox's ``ca_file``; a server the CA does not vouch for is refused."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.handlers.mail_intake import Outcome
from psa_chatops.integrations.mail_in.config import MailboxConfig
from psa_chatops.integrations.mail_in.intake import MailIntake
from psa_chatops.integrations.mail_in.runner import MailboxRunner
from psa_chatops.integrations.resilience import BreakerBoard
from psa_chatops.storage.mail_messages import MailCursorStore
from tests.integrations.mail_in.conftest import PASSWORD_ENV, corpus_mail
from tests.integrations.mail_in.dovecot import DOVECOT, PASSWORD, USER, Dovecot, free_port


@pytest.fixture
def tls_dovecot(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Dovecot, Path]]:
    if DOVECOT is None:
        if os.environ.get("CI"):
            pytest.fail("dovecot is not installed; scripts/ensure-dovecot installs it")
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d)")
    root = Path(tempfile.mkdtemp(prefix="psa-dovecot-tls-"))
    root.chmod(0o755)  # dovecot's unprivileged processes must reach the server folder inside
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    chain, key, ca_file = root / "chain.pem", root / "key.pem", root / "ca.pem"
    cert.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    ca.cert_pem.write_to_path(str(ca_file))
    server = Dovecot(root / "server", free_port(), free_port(), tls=(chain, key), imaps_port=free_port(),
                     pop3s_port=free_port())  # fmt: skip
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    try:
        server.start()
        yield server, ca_file
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _mailbox(scheme: str, port: int, ca_file: Path | None, **extra: Any) -> MailboxConfig:
    return MailboxConfig(
        url=f"{scheme}://{USER.replace('@', '%40')}@127.0.0.1:{port}/INBOX",
        name=f"{scheme}-tls",
        password_env=PASSWORD_ENV,
        ca_file=str(ca_file) if ca_file else None,
        after="delete" if scheme.startswith("pop3") else "flag",
        **extra,
    )


@pytest.mark.parametrize("kind", ["imaps", "pop3s", "imap+starttls", "pop3+starttls"])
async def test_mail_is_read_over_verified_tls(
    db: AsyncEngine, bus: Any, tls_dovecot: tuple[Dovecot, Path], kind: str
) -> None:
    server, ca_file = tls_dovecot
    scheme, _, starttls = kind.partition("+")
    port = {
        "imaps": server.imaps_port,
        "pop3s": server.pop3s_port,
        "imap": server.imap_port,
        "pop3": server.pop3_port,
    }[scheme]
    server.deliver(corpus_mail("talon/standard_replies/gmail.eml"))
    mailbox = _mailbox(scheme, port, ca_file, starttls=bool(starttls))

    result = await MailboxRunner(mailbox, MailIntake(db, bus), MailCursorStore(db), BreakerBoard()).once()

    assert [v.outcome for v in result.taken] == [Outcome.TICKET]
    logins = [line for line in (server.root / "dovecot.log").read_text().splitlines() if "Login: user=" in line]
    assert logins
    assert all(", TLS" in line for line in logins)  # dovecot notes the session's TLS (loopback counts as secured)


@pytest.mark.parametrize("kind", ["imaps", "pop3s"])
async def test_a_certificate_the_ca_file_does_not_vouch_for_is_refused(
    db: AsyncEngine, bus: Any, tls_dovecot: tuple[Dovecot, Path], kind: str
) -> None:
    server, _ = tls_dovecot
    port = server.imaps_port if kind == "imaps" else server.pop3s_port
    mailbox = _mailbox(kind, port, None)  # the system CAs do not know trustme's CA

    with pytest.raises(Exception, match=r"(?i)certificate verify failed"):
        await MailboxRunner(mailbox, MailIntake(db, bus), MailCursorStore(db), BreakerBoard()).once()
