"""What the intake reads out of a mail: sender -> customer/contact or triage, priority, asset, ticket, auto-replies,
commands; all from real RFC 822 bytes built with the standard library."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from psa_chatops.core.directory import Asset, Contact, Customer
from psa_chatops.core.priorities import Priority
from psa_chatops.integrations.mail.autoreply import AutoKind
from psa_chatops.integrations.mail.commands import CommandName, parse_commands
from psa_chatops.integrations.mail.extract import ExtractConfig, MailDirectory, parse_mail, ticket_number

DIRECTORY = MailDirectory(
    customers=(
        Customer("CUST-1", "Bäckerei Huber", email_domains=("huber-backwaren.de",)),
        Customer("CUST-2", "Acme Ltd", email_domains=("acme.example",)),
    ),
    contacts=(Contact("CON-1", "CUST-1", "Max Huber", "max@huber-backwaren.de"),),
    assets=(
        Asset("AST-1", "CUST-1", "Kassensystem Filiale 3", "huber-pos-03"),
        Asset("AST-2", "CUST-2", "File server", "acme-fs01"),
        Asset("AST-3", "CUST-1", "Router", "huber-gw"),
    ),
)


def mail(
    body: str, *, sender: str = "Max Huber <max@huber-backwaren.de>", subject: str = "Hilfe", **headers: str
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@msp.example"
    message["Subject"] = subject
    message["Message-ID"] = "<m1@huber-backwaren.de>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def test_contact_by_address_customer_by_domain_and_unknown_sender_to_triage() -> None:
    contact = parse_mail(mail("Hallo"), DIRECTORY)
    assert (contact.customer_id, contact.contact_id, contact.matched_by, contact.triage) == (
        "CUST-1",
        "CON-1",
        "contact",
        False,
    )
    colleague = parse_mail(mail("Hallo", sender="eva@filiale.huber-backwaren.de"), DIRECTORY)
    assert (colleague.customer_id, colleague.contact_id, colleague.matched_by) == ("CUST-1", None, "domain")
    stranger = parse_mail(mail("Hallo", sender="x@elsewhere.example"), DIRECTORY)
    assert (stranger.customer_id, stranger.triage) == (None, True)
    assert parse_mail(mail("Hallo"), None).triage


@pytest.mark.parametrize(
    ("subject", "body", "headers", "priority"),
    [
        ("Kasse ausgefallen", "Nichts geht.", {}, Priority.CRITICAL),
        ("Server down", "Since 9:00.", {}, Priority.CRITICAL),
        ("Drucker", "Bitte dringend ansehen.", {}, Priority.HIGH),
        ("Printer", "This is urgent.", {}, Priority.HIGH),
        ("Drucker", "Nicht dringend, wenn Zeit ist.", {}, Priority.LOW),
        ("Printer", "No rush.", {}, Priority.LOW),
        ("Drucker", "Bitte ansehen.", {"Importance": "high"}, Priority.HIGH),
        ("Drucker", "Bitte ansehen.", {"X-Priority": "1 (Highest)"}, Priority.HIGH),
        ("Drucker", "Bitte ansehen.", {"X-Priority": "5 (Lowest)"}, Priority.LOW),
        ("Drucker", "Bitte ansehen.", {}, None),
        ("Download", "I cannot download the file, please sit down with me.", {}, None),
    ],
)
def test_priority_from_words_and_headers(
    subject: str, body: str, headers: dict[str, str], priority: Priority | None
) -> None:
    assert parse_mail(mail(body, subject=subject, **headers), DIRECTORY).priority == priority


def test_a_quoted_keyword_does_not_raise_priority() -> None:
    body = "Danke, läuft wieder.\n\nAm 1.3.2026 um 9:00 schrieb Max <max@huber-backwaren.de>:\n> Alles ausgefallen!"
    assert parse_mail(mail(body), DIRECTORY).priority is None


def test_asset_from_host_name_or_name_of_the_senders_customer() -> None:
    parsed = parse_mail(mail("Die Kasse HUBER-POS-03 bootet nicht, auch acme-fs01 nicht."), DIRECTORY)
    assert parsed.asset_ids == ("AST-1",)  # acme-fs01 belongs to another customer
    by_name = parse_mail(mail("Der Router spinnt", subject="Kassensystem Filiale 3"), DIRECTORY)
    assert by_name.asset_ids == ("AST-1", "AST-3")
    assert parse_mail(mail("huber-pos-030 ist neu"), DIRECTORY).asset_ids == ()  # whole words only


def test_ticket_tag_and_thread_headers() -> None:
    parsed = parse_mail(
        mail(
            "Danke",
            subject="Re: Drucker [#12345]",
            In_Reply_To="<n1@msp.example>",
            References="<n0@x> <n1@msp.example>",
        )
    )
    assert parsed.ticket_number == 12345
    assert parsed.in_reply_to == "<n1@msp.example>"
    assert parsed.references == ("<n0@x>", "<n1@msp.example>")
    assert ticket_number("AW: [Ticket#11162] Betatest") == 11162
    assert ticket_number("Re: Drucker") is None
    custom = ExtractConfig(ticket_tag=r"\bPSA-(\d+)\b")
    assert parse_mail(mail("x", subject="Re: PSA-77 Drucker"), None, custom).ticket_number == 77


@pytest.mark.parametrize(
    ("headers", "subject", "body", "kind"),
    [
        ({"Auto_Submitted": "auto-replied"}, "Re: Drucker", "Danke", AutoKind.AUTO_REPLY),
        ({"X_Autoreply": "yes"}, "Re: Drucker", "Danke", AutoKind.AUTO_REPLY),
        ({"Precedence": "bulk"}, "Newsletter", "News", AutoKind.BULK),
        ({}, "Abwesenheitsnotiz: Drucker", "Ich bin bis 3.4. nicht im Büro.", AutoKind.OUT_OF_OFFICE),
        ({}, "Automatische Antwort: Drucker", "Danke", AutoKind.OUT_OF_OFFICE),
        ({}, "Out of Office: Printer", "Back Monday", AutoKind.OUT_OF_OFFICE),
        ({}, "Printer", "I am currently out of the office and will be back on Monday.", AutoKind.OUT_OF_OFFICE),
        ({"Auto_Submitted": "no"}, "Re: Drucker", "Danke", None),
    ],
)
def test_auto_replies(headers: dict[str, str], subject: str, body: str, kind: AutoKind | None) -> None:
    assert parse_mail(mail(body, subject=subject, **headers)).auto == kind


def test_bounces_are_recognised(corpus: Path) -> None:
    for name in ("multi_address_bounce1.eml", "report_530.eml"):
        parsed = parse_mail((corpus / "mime_mikel_mail/multipart_report_emails" / name).read_bytes())
        assert parsed.auto is AutoKind.BOUNCE
    daemon = parse_mail(mail("Undeliverable", sender="MAILER-DAEMON@mx.example", subject="Undelivered Mail"))
    assert daemon.auto is AutoKind.BOUNCE


def test_commands_on_the_first_lines_are_typed_and_removed_from_the_body() -> None:
    text = (
        "#status=resolved\n#assign=Anna@MSP.example\n\n#priority: hoch\n#internal\n"
        "Erledigt, Kasse getauscht.\n#status=closed"
    )
    parsed = parse_mail(text)
    assert [(c.name, c.value) for c in parsed.commands] == [
        (CommandName.STATUS, "resolved"),
        (CommandName.ASSIGN, "anna@msp.example"),
        (CommandName.PRIORITY, "high"),
        (CommandName.VISIBILITY, "internal"),
    ]
    assert parsed.body == "Erledigt, Kasse getauscht.\n#status=closed"  # only the first lines are commands


def test_bad_commands_are_reported_not_applied() -> None:
    block = parse_commands("#status=vielleicht\n#frobnicate=1\n#assign=a b\nText")
    assert block.commands == ()
    assert len(block.problems) == 3
    assert block.body == "Text"
    assert "#frobnicate=1" in block.problems[1].text("de")
    assert parse_commands("Ticket #1 ist offen").body == "Ticket #1 ist offen"


def test_pasted_html_body_is_converted() -> None:
    parsed = parse_mail("<html><body><p>Geht wieder.</p><p>Viele Grüße<br>Max</p></body></html>")
    assert (parsed.body, parsed.signature, parsed.body_source) == ("Geht wieder.", "Viele Grüße\nMax", "html")


def test_json_document_has_everything_the_admin_needs(corpus: Path) -> None:
    document = parse_mail((corpus / "zammad/mail005.box").read_bytes(), DIRECTORY).as_json()
    assert document["ticket_number"] == 11162
    assert document["flags"] == {"triage": True, "auto": None}
    assert document["body"].startswith("Hallo Martin,")
    assert document["quote"].startswith("Am 07.05.2012 08:10, schrieb Martin Edenhofer")
    assert document["signature"] == "Grüße aus Bonn\n\nJohn & Marc"
    for key in ("customer_id", "contact_id", "priority", "asset_id", "commands", "attachments", "warnings"):
        assert key in document
