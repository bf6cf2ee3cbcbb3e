"""``PSA_SMTP_URL`` parsing, the settings' checks, the MIME headers and who hears about what."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from psa_chatops.bot.doctor import mail_checks
from psa_chatops.bot.settings import Settings, describe_validation_error
from psa_chatops.cards.email.text import EmailContent
from psa_chatops.integrations.errors import PermanentDeliveryError
from psa_chatops.integrations.smtp.audience import is_contact_facing, parse_target
from psa_chatops.integrations.smtp.config import SmtpServer, parse_smtp_url
from psa_chatops.integrations.smtp.message import Envelope, build_message, is_address, message_id_for
from psa_chatops.integrations.smtp.notifier import subject_line


@pytest.mark.parametrize(
    ("url", "server"),
    [
        ("smtp://relay.local", SmtpServer("relay.local", 25, "none")),
        (
            "smtp+starttls://me%40msp.example@mail.msp.example",
            SmtpServer("mail.msp.example", 587, "starttls", "me@msp.example"),
        ),
        ("smtps://u@mail.msp.example:2465", SmtpServer("mail.msp.example", 2465, "tls", "u")),
    ],
)
def test_smtp_urls(url: str, server: SmtpServer) -> None:
    assert parse_smtp_url(url) == server


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://mail.example", "scheme must be one of"),
        ("smtp://u:secret@mail.example", "no password in the URL"),
        ("smtp://", "names no host"),
        ("smtp://mail.example/inbox", "only scheme, user, host and port"),
        ("smtp://mail.example:99999", "port must be a number"),
    ],
)
def test_bad_smtp_urls_say_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_smtp_url(url)


def test_a_password_in_the_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(smtp_url="smtp+starttls://u:hunter2@mail.example")
    assert "hunter2" not in str(caught.value)
    assert "PSA_SMTP_URL: Value error, no password in the URL" in describe_validation_error(caught.value)


@pytest.mark.parametrize(
    "overrides",
    [
        {"mail_subject_tag": "[ticket]"},
        {"mail_subject_tag": "[#{number}] {title}"},
        {"mail_from": "not an address"},
        {"report_daily_sla_cron": "every day"},
        {"report_timezone": "Mars/Olympus"},
        {"mail_transport": "graph", "mail_from": "desk@msp.example"},
    ],
)
def test_mail_settings_are_validated(overrides: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Settings(**overrides)  # type: ignore[arg-type]


def test_doctor_reports_the_mail_set_up() -> None:
    assert mail_checks(Settings()) == []
    (missing,) = mail_checks(Settings(smtp_url="smtp://relay.local"))
    assert not missing.ok
    assert "PSA_MAIL_FROM" in (missing.fix or "")
    checks = mail_checks(Settings(smtp_url="smtp://u@mail.example", mail_from="desk@msp.example"))
    assert [(c.name, c.ok, c.warning) for c in checks] == [
        ("e-mail", True, False),
        ("smtp auth", False, False),
        ("smtp tls", False, True),
    ]


def test_addresses() -> None:
    assert is_address("petra@mueller-mb.de")
    for bad in ("Petra <petra@x.de>", "petra@x", "a@b.de, c@d.de", "a@b.de\r\nBcc: x@y.de", "@x.de", ""):
        assert not is_address(bad)


def test_targets() -> None:
    assert parse_target("email:contacts", "contacts") == "contacts"
    assert parse_target("email:ops@msp.example", "ops@msp.example") == "ops@msp.example"
    with pytest.raises(PermanentDeliveryError):
        parse_target("email:everyone", "everyone")


@pytest.mark.parametrize(
    ("envelope", "facing"),
    [
        ({"type": "TicketOpened", "data": {}}, True),
        ({"type": "NoteAdded", "data": {"visibility": "public", "author_id": "technician:tom"}}, True),
        ({"type": "NoteAdded", "data": {"visibility": "internal", "author_id": "technician:tom"}}, False),
        ({"type": "NoteAdded", "data": {"author_id": "technician:tom"}}, False),  # no visibility: internal
        ({"type": "NoteAdded", "data": {"visibility": "public", "author_id": "contact:c-1"}}, False),  # their own
        ({"type": "TicketStatusChanged", "data": {"to_status": "resolved"}}, True),
        ({"type": "TicketStatusChanged", "data": {"to_status": "in_progress"}}, False),
        ({"type": "SlaBreached", "data": {}}, False),
    ],
)
def test_what_a_contact_hears_about(envelope: dict[str, object], facing: bool) -> None:
    assert is_contact_facing(envelope) is facing


def test_headers_of_a_threaded_mail() -> None:
    envelope = Envelope(
        sender="Desk <desk@msp.example>",
        recipient="petra@mueller-mb.de",
        recipient_name="Petra Kunde",
        subject=subject_line("[#{number}]", 12000, "Drucker\r\nBcc: evil@x.de"),
        message_id="m3@msp.example",
        references=("m1@msp.example", "m2@msp.example"),
        ticket_number=12000,
    )
    message = build_message(envelope, EmailContent("s", "plain", "<p>html</p>"), now=datetime(2026, 11, 23, tzinfo=UTC))
    assert message["Subject"] == "[#12000] Drucker Bcc: evil@x.de"  # one line: no injected header
    assert message["Bcc"] is None
    assert message["In-Reply-To"] == "<m2@msp.example>"
    assert message["References"] == "<m1@msp.example> <m2@msp.example>"
    assert message["X-PSA-Ticket"] == "12000"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message_id_for("k", "A@x.de", domain="msp.example") == message_id_for("k", "a@x.de", domain="msp.example")
