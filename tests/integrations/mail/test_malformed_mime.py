"""Hypothesis-made damaged mails: the parser reads what it can and never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psa_chatops.integrations.mail.extract import parse_mail
from psa_chatops.integrations.mail.message import looks_like_message, read_message
from psa_chatops.integrations.mail.reply import split_reply

HEADER_NAMES = st.sampled_from(
    [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "MIME-Version",
        "Importance",
        "X-Priority",
        "Auto-Submitted",
    ]
)
JUNK = st.text(alphabet=st.characters(codec="latin-1"), max_size=60)
CONTENT_TYPES = st.sampled_from(
    [
        "multipart/mixed; boundary=b",
        'multipart/alternative; boundary="b"',
        "multipart/report; boundary=b",
        "text/plain; charset=utf-8",
        "text/plain; charset=x-unknown",
        "text/html",
        "message/rfc822",
        "text/plain; format=flowed; delsp=yes",
        "application/octet-stream; name==?utf-8?q?x?=",
        "multipart/mixed",
    ]
)


@st.composite
def damaged_mails(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.tuples(HEADER_NAMES, JUNK), max_size=8))
    lines = [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Type: {draw(CONTENT_TYPES)}")
    if draw(st.booleans()):
        lines.append(
            f"Content-Transfer-Encoding: {draw(st.sampled_from(['base64', 'quoted-printable', '8bit', 'x-junk']))}"
        )
    parts = draw(
        st.lists(
            st.tuples(
                CONTENT_TYPES, st.binary(max_size=200), st.sampled_from(["", "attachment; filename=a.pdf", "inline"])
            ),
            max_size=4,
        )
    )
    body = b"".join(
        b"--b\r\nContent-Type: "
        + kind.encode()
        + b"\r\nContent-Disposition: "
        + disposition.encode()
        + b"\r\n\r\n"
        + payload
        + b"\r\n"
        for kind, payload, disposition in parts
    )
    if draw(st.booleans()):
        body += b"--b--\r\n"
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body + draw(st.binary(max_size=100))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_mails())
def test_damaged_mime_never_raises(raw: bytes) -> None:
    message = read_message(raw)
    assert isinstance(message.text, str)
    for attachment in message.attachments:
        assert attachment.size >= 0
    parsed = parse_mail(raw)
    source = message.text if looks_like_message(raw) else raw.decode("utf-8", "replace")
    assert set(parsed.body.split()) <= set(source.replace("\u200b", "").split())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    parse_mail(raw)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                ">",
                " ",
                "-",
                "--",
                "_",
                ":",
                "\n",
                "\r\n",
                "On",
                "Am",
                "Von:",
                "From:",
                "Sent:",
                "wrote",
                "schrieb",
                "a@b.example",
                "1.2.2026",
                "—",
                "Viele Grüße",
                "Thanks,",
                "Sent from my iPhone",
                "\u200b",
                "Max",
            ]
        ),
        max_size=80,
    ).map("".join)
)
def test_reply_split_keeps_every_word(text: str) -> None:
    reply = split_reply(text)
    kept = sorted((reply.body + " " + reply.quote + " " + reply.signature).split())
    assert kept == sorted(text.replace("\u200b", "").split())
