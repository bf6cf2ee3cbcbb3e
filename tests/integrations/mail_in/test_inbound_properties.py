"""Whatever bytes arrive, turning them into the use-case's ``InboundMail`` never raises, the key is stable, and every
attachment the parser described comes with its bytes (hypothesis-generated MIME, damaged on purpose)."""

from __future__ import annotations

from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psa_chatops.integrations.mail.extract import parse_mail
from psa_chatops.integrations.mail_in.config import MailboxConfig
from psa_chatops.integrations.mail_in.intake import inbound, message_key

MAILBOX = MailboxConfig(url="imap://desk@mail.example", password_env="UNUSED")
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)
_HEADER_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=80)


@st.composite
def mime_messages(draw: st.DrawFn) -> bytes:
    message = EmailMessage()
    sender = draw(st.sampled_from([b"petra@mueller-mb.de", b"x@y", b"Broken <", b"", b"=?utf-8?q?=FF?= <a@b>"]))
    message["Subject"] = draw(_HEADER_TEXT)
    if draw(st.booleans()):
        message["Message-ID"] = f"<{draw(st.integers(0, 10**6))}@example.org>"
    message.set_content(draw(_TEXT) or "x")
    for _ in range(draw(st.integers(0, 3))):
        data = draw(st.binary(max_size=300))
        name = draw(st.one_of(st.none(), _HEADER_TEXT))
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    if message.is_multipart():
        message.set_boundary("psa-test-boundary")  # not a random one: hypothesis must replay the same bytes
    raw = b"From: " + sender + b"\n" + message.as_bytes()  # raw: a broken From must reach the parser as it is
    cut = draw(st.integers(0, len(raw)))
    damage = draw(st.sampled_from(["none", "truncate", "garble", "boundary"]))
    if damage == "truncate":
        return raw[:cut]
    if damage == "garble":
        return raw[:cut] + draw(st.binary(max_size=50)) + raw[cut:]
    if damage == "boundary":
        return raw.replace(b"boundary=", b"boundary=x", 1)
    return raw


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mime_messages())
def test_any_message_becomes_an_inbound_mail_without_raising(raw: bytes) -> None:
    parsed = parse_mail(raw)
    key = message_key(parsed.message_id, raw)
    mail = inbound(parsed, raw, key=key, mailbox=MAILBOX)

    assert mail.key == message_key(parse_mail(raw).message_id, raw)  # stable across re-polls
    assert 0 < len(mail.key) <= 998
    assert len(mail.attachments) == len(parsed.attachments)
    for described, carried in zip(parsed.attachments, mail.attachments, strict=True):
        assert len(carried.content) == described.size or carried.content_type == "message/rfc822"
