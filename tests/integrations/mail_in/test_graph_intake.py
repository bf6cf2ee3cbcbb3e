"""Microsoft Graph mailboxes against the loopback fake (tests/fakes/graph_mail.py): msal client credentials, the
inbox delta query with its stored delta link, ``$value`` for the MIME, marking by category, move or delete."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.handlers.mail_intake import Outcome
from psa_chatops.integrations.mail_in.config import MailboxConfig
from psa_chatops.integrations.mail_in.graph import PROCESSED_CATEGORY, GraphMailReader
from psa_chatops.integrations.mail_in.intake import MailIntake
from psa_chatops.integrations.mail_in.runner import MailboxRunner, drain
from psa_chatops.integrations.resilience import BreakerBoard
from psa_chatops.storage.mail_messages import MailCursorStore
from tests.fakes.graph import tls_files
from tests.fakes.graph_mail import CLIENT_ID, CLIENT_SECRET, TENANT, FakeGraphMail, start_fake_graph_mail
from tests.integrations.mail_in.conftest import corpus_mail

SECRET_ENV = "PSA_TEST_GRAPH_MAIL_SECRET"


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, ssl.SSLContext, ssl.SSLContext]:
    return tls_files(tmp_path)


@pytest.fixture
async def graph(aiohttp_server: AiohttpServer, tls: Any, monkeypatch: pytest.MonkeyPatch) -> FakeGraphMail:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    fake = await start_fake_graph_mail(aiohttp_server, tls)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)  # msal's tenant discovery trusts the fake
    return fake


def _mailbox(graph: FakeGraphMail, **extra: Any) -> MailboxConfig:
    return MailboxConfig(
        url="graph://support@contoso.example",
        tenant=TENANT,
        client_id=CLIENT_ID,
        client_secret_env=SECRET_ENV,
        graph_url=graph.api_url,
        authority_url=graph.authority_url,
        ca_file=graph.ca_file,
        **extra,
    )


def _runner(db: AsyncEngine, intake: MailIntake, mailbox: MailboxConfig) -> MailboxRunner:
    return MailboxRunner(mailbox, intake, MailCursorStore(db), BreakerBoard())


async def test_graph_mail_becomes_tickets_flagged_by_category_and_the_delta_link_is_kept(
    db: AsyncEngine, graph: FakeGraphMail, intake: MailIntake
) -> None:
    mailbox = _mailbox(graph)
    for name in ("gmail.eml", "thunderbird.eml", "android.eml"):  # three: two delta pages
        graph.state.deliver(corpus_mail(f"talon/standard_replies/{name}", From="petra@mueller-mb.de",
                                        Subject=f"Frage zu {name}"))  # fmt: skip

    first = await _runner(db, intake, mailbox).once()

    assert [v.outcome for v in first.taken] == [Outcome.TICKET] * 3
    assert all(PROCESSED_CATEGORY in m.categories and m.is_read for m in graph.state.messages.values())
    link = await MailCursorStore(db).get(mailbox.label)
    assert link is not None
    assert "$deltatoken=" in link
    graph.state.deliver(corpus_mail("talon/standard_replies/aol.eml", Subject="Noch eine Frage"))

    second = await _runner(db, intake, mailbox).once()

    assert [v.outcome for v in second.taken] == [Outcome.TICKET]  # only the new one: the flagged are skipped
    assert any("$deltatoken=" in path for _, path in graph.state.calls if "delta" in path)


async def test_graph_move_after_a_crash_before_marking_creates_no_second_ticket(
    db: AsyncEngine, graph: FakeGraphMail, intake: MailIntake
) -> None:
    mailbox = _mailbox(graph, after="move:Processed")
    graph.state.deliver(corpus_mail("talon/standard_replies/apple_mail.eml", Message_ID="<graph-crash@x>"))

    class Dies(GraphMailReader):
        async def mark(self, ref: str) -> None:
            raise ConnectionResetError("the process died here")

    reader = Dies(mailbox, MailCursorStore(db))
    await reader.connect()
    try:
        with pytest.raises(ConnectionResetError):
            await drain(reader, intake, mailbox)
    finally:
        await reader.close()
    assert await MailCursorStore(db).get(mailbox.label) is None  # the delta link waits for the marks

    again = await _runner(db, intake, mailbox).once()

    assert [v.outcome for v in again.taken] == [Outcome.DUPLICATE]
    assert graph.state.in_folder("inbox") == []
    assert len(graph.state.in_folder("Processed")) == 1


async def test_a_wrong_client_secret_is_a_clear_error(
    db: AsyncEngine, graph: FakeGraphMail, intake: MailIntake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "wrong-secret")
    with pytest.raises(Exception, match="invalid_client") as raised:
        await _runner(db, intake, _mailbox(graph)).once()
    assert "wrong-secret" not in str(raised.value)
