"""Reading RFC 822 messages: best body, charsets, HTML, attachments and inline images, the attachment policy, and
damaged MIME read as far as it goes."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from psa_chatops.integrations.mail import warnings as w
from psa_chatops.integrations.mail.html_text import html_to_text
from psa_chatops.integrations.mail.message import AttachmentPolicy, looks_like_message, read_message, unflow


def codes(message: object) -> set[str]:
    return {warning.code for warning in getattr(message, "warnings", ())}


def test_plain_text_wins_over_html_and_headers_are_read(corpus: Path) -> None:
    message = read_message((corpus / "zammad/mail003.box").read_bytes())
    assert message.body_source == "plain"
    assert message.text.startswith("Hallo Fritz,")
    assert message.subject == "Ticket Templates"
    assert message.sender_address == "k.guenther@example.com"
    assert message.in_reply_to == "<2B0ECF06-5BF6-483F-902A-BD19B99B8D68@example.com>"
    assert len(message.references) == 4
    assert message.attachments == ()  # the HTML alternative is not an attachment


def test_latin1_quoted_printable_and_mbox_from_line(corpus: Path) -> None:
    message = read_message((corpus / "zammad/mail001.box").read_bytes())
    assert message.subject == "CI Daten für PublicView"
    assert "Schriftart/-größe" in message.text
    assert looks_like_message((corpus / "zammad/mail001.box").read_bytes())


def test_iso_2022_jp(corpus: Path) -> None:
    assert read_message((corpus / "mime_mikel_mail/multi_charset/japanese_iso_2022.eml").read_bytes()).text.strip()


def test_format_flowed_is_unwrapped(corpus: Path) -> None:
    message = read_message((corpus / "zammad/mail005.box").read_bytes())
    assert "John und ich könnten leider nur am Freitag, da wir Donnerstag und nächste Woche bereits" in message.text
    assert message.sender_name == "Marc Smith"  # from the "(Marc Smith)" comment


def test_unflow_keeps_quote_depth_and_signature_delimiter() -> None:
    assert unflow("a \nb\n> c \n> d\n-- \nsig") == "a b\n> c d\n-- \nsig"
    assert unflow("a \nb", delsp=True) == "ab"


def test_attachments_are_listed_with_name_type_size(corpus: Path) -> None:
    message = read_message((corpus / "mime_mikel_mail/attachment_emails/attachment_nonascii_filename.eml").read_bytes())
    assert message.text.strip() == "This is the first part."
    (attachment,) = message.attachments
    assert attachment.name
    assert not attachment.name.isascii()
    assert attachment.size > 0
    assert attachment.allowed


def test_attached_message_is_one_attachment(corpus: Path) -> None:
    message = read_message((corpus / "mime_mikel_mail/attachment_emails/attachment_message_rfc822.eml").read_bytes())
    kinds = [a.content_type for a in message.attachments]
    assert kinds.count("message/rfc822") == 1
    assert all(a.size > 0 for a in message.attachments)


def build_with_inline_image(image: bytes, *, attachment: bytes = b"%PDF-1.4 report") -> bytes:
    mail = EmailMessage()
    mail["From"] = "Max Muster <max@kunde.example>"
    mail["To"] = "support@msp.example"
    mail["Subject"] = "Screenshot"
    mail.set_content("Siehe Screenshot.")
    mail.add_alternative('<p>Siehe <img src="cid:shot1"></p>', subtype="html")
    html_part = mail.get_body(preferencelist=("html",))
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(image, "image", "png", cid="<shot1>")
    mail.add_attachment(attachment, maintype="application", subtype="pdf", filename="bericht.pdf")
    mail.add_attachment(b"MZ\x90\x00", maintype="application", subtype="x-msdownload", filename="tool.exe")
    return mail.as_bytes()


def test_inline_images_are_attachments_and_policy_violations_are_reported() -> None:
    policy = AttachmentPolicy(max_bytes=1000)
    message = read_message(build_with_inline_image(b"\x89PNG" + b"0" * 2000), policy)
    assert message.text.strip() == "Siehe Screenshot."
    by_type = {a.content_type: a for a in message.attachments}
    image = by_type["image/png"]
    assert (image.content_id, image.inline, image.size) == ("shot1", True, 2004)
    assert [v.code for v in image.violations] == [w.ATTACHMENT_TOO_LARGE]
    assert by_type["application/pdf"].allowed
    assert by_type["application/pdf"].name == "bericht.pdf"
    assert [v.code for v in by_type["application/x-msdownload"].violations] == [w.ATTACHMENT_TYPE_NOT_ALLOWED]
    assert "tool.exe" in by_type["application/x-msdownload"].violations[0].text("de")


def test_too_many_attachments_is_a_warning() -> None:
    message = read_message(build_with_inline_image(b"\x89PNG"), AttachmentPolicy(max_count=2))
    assert w.TOO_MANY_ATTACHMENTS in codes(message)


def test_html_only_mail_becomes_text_with_its_quote_marked() -> None:
    mail = EmailMessage()
    mail["From"] = "a@kunde.example"
    mail.set_content(
        "<html><body><div>Geht wieder.</div><div class='gmail_quote'>Am Mo. schrieb B:<blockquote>"
        "<div>Bitte neu starten.</div></blockquote></div><script>alert(1)</script></body></html>",
        subtype="html",
    )
    message = read_message(mail.as_bytes())
    assert message.body_source == "html"
    assert message.text == "Geht wieder.\nAm Mo. schrieb B:\n\n> Bitte neu starten."
    assert "alert" not in message.text


@pytest.mark.parametrize(
    "name",
    [
        "bad_date_header.eml",
        "content_transfer_encoding_empty.eml",
        "encoding_madness.eml",
        "missing_body.eml",
        "multiple_content_types.eml",
        "new_line_in_to_header.eml",
    ],
)
def test_damaged_mails_are_read_without_raising(corpus: Path, name: str) -> None:
    message = read_message((corpus / "mime_mikel_mail/error_emails" / name).read_bytes())
    assert isinstance(message.text, str)
    if not message.text.strip():
        assert w.NO_BODY in codes(message)


def test_unknown_charset_falls_back_with_a_warning() -> None:
    raw = b"From: a@b.example\nContent-Type: text/plain; charset=x-klingon\n\nQapla'\n"
    message = read_message(raw)
    assert message.text.strip() == "Qapla'"
    assert w.UNKNOWN_CHARSET in codes(message)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"From: a@b.example\nSubject: x\n\nbody", True),
        (b"From a@b.example Thu May  3 12:04:29 2012\nFrom: a@b.example\n\nbody", True),
        (b"Hallo,\n\nder Drucker geht nicht.", False),
        (b"Note: this is not a header block\n\ntext", False),
        (b"", False),
    ],
)
def test_looks_like_message(data: bytes, expected: bool) -> None:
    assert looks_like_message(data) is expected


def test_nested_html_quotes_keep_their_depth() -> None:
    text = html_to_text("<p>Ja.</p><blockquote>Frage?<blockquote>Erste Mail</blockquote></blockquote>")
    assert [line for line in text.split("\n") if line.strip(">")] == ["Ja.", "> Frage?", "> > Erste Mail"]
    assert html_to_text("<?xml version='1.0' encoding='UTF-8'?><html><body>Hi</body></html>") == "Hi"
    assert html_to_text("   ") == ""
