"""Quote and signature removal on the reply patterns the intake meets, German and English; nothing is lost."""

from __future__ import annotations

import pytest

from psa_chatops.integrations.mail.reply import Reply, split_reply


def words(text: str) -> list[str]:
    return text.split()


def assert_nothing_lost(original: str, reply: Reply) -> None:
    kept = sorted(words(reply.body) + words(reply.quote) + words(reply.signature))
    assert kept == sorted(words(original))


@pytest.mark.parametrize(
    ("text", "body", "quote_start"),
    [
        (
            "Danke, läuft wieder.\n\nAm 12.03.2026 um 09:14 schrieb Anna Support <anna@msp.example>:\n"
            "> Bitte neu starten.",
            "Danke, läuft wieder.",
            "Am 12.03.2026",
        ),
        (
            "Thanks, fixed.\n\nOn Tue, Mar 10, 2026 at 9:14 AM Anna <anna@msp.example> wrote:\n> Please reboot.",
            "Thanks, fixed.",
            "On Tue",
        ),
        (
            "Passt.\n\nVon: Anna Support <anna@msp.example>\nGesendet: Dienstag, 10. März 2026 09:14\n"
            "An: Max <max@kunde.example>\nBetreff: AW: Drucker\n\nBitte neu starten.",
            "Passt.",
            "Von: Anna",
        ),
        (
            "Works.\n\n________________________________\nFrom: Anna <anna@msp.example>\n"
            "Sent: Tuesday, March 10, 2026 9:14 AM\n"
            "To: Max\nSubject: RE: Printer\n\nPlease reboot.",
            "Works.",
            "____",
        ),
        (
            "Erledigt.\n\n-----Ursprüngliche Nachricht-----\nVon: Anna\nAn: Max\nBetreff: Drucker\n\n"
            "Bitte neu starten.",
            "Erledigt.",
            "-----Ursprüngliche",
        ),
        ("Done.\n\n-----Original Message-----\nFrom: Anna\nSent: today\n\nPlease reboot.", "Done.", "-----Original"),
        ("Ok\n\n> Please reboot.\n> Thanks", "Ok", "> Please"),
    ],
)
def test_quoted_reply_is_cut(text: str, body: str, quote_start: str) -> None:
    reply = split_reply(text)
    assert reply.body == body
    assert reply.quote.startswith(quote_start)
    assert_nothing_lost(text, reply)


@pytest.mark.parametrize(
    "closing",
    [
        "-- \nMax Muster\nKunde GmbH",
        "Mit freundlichen Grüßen\nMax Muster\nKunde GmbH\nTel. +49 30 1234",
        "Viele Grüße\nMax",
        "Beste Grüße\nMax",
        "Best regards,\nMax",
        "Kind regards,\nMax Muster",
        "Thanks,\nMax",
        "Sent from my iPhone",
        "Von meinem iPhone gesendet",
        "Diese E-Mail enthält vertrauliche Informationen und ist nur für den Empfänger bestimmt. Wenn Sie nicht "
        "der richtige Adressat sind, informieren Sie bitte den Absender.",
        "CONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential and intended solely for the "
        "addressee.",
    ],
)
def test_signature_is_removed_and_kept(closing: str) -> None:
    text = f"Hallo,\n\nder Drucker im 2. OG druckt nicht.\n\n{closing}"
    reply = split_reply(text)
    assert reply.body == "Hallo,\n\nder Drucker im 2. OG druckt nicht."
    assert words(reply.signature) == words(closing)
    assert_nothing_lost(text, reply)


def test_sender_name_marks_a_signature_without_closing() -> None:
    text = "The VPN drops every hour.\n\nMax Muster\nIT, Kunde GmbH\n+49 30 1234"
    assert split_reply(text, sender_names=["Max Muster"]).body == "The VPN drops every hour."
    assert split_reply(text).body == text


@pytest.mark.parametrize(
    "text",
    [
        "Thanks!",  # a last sentence, not a signature
        "I wanted to discuss this with regards to the invoice.\n\nIn this regards we need to be careful.",
        "Sent from my desk, is much easier than my phone.",
        "Steps:\n----\n1. reboot\n2. log in\n----\nThe dashes above are formatting in my message, not a signature.",
        "On the other hand, we should be careful.\nOn average it works.",
    ],
)
def test_ordinary_text_is_kept(text: str) -> None:
    assert split_reply(f"Hello,\n\n{text}").body == f"Hello,\n\n{text}"


def test_inline_answers_keep_their_context() -> None:
    text = (
        "On Mon, Mar 9, 2026 at 9:00 AM Anna <anna@msp.example> wrote:\n> Which printer?\n\nThe one in room 2.\n\n"
        "> Since when?\n\nSince Monday."
    )
    assert split_reply(text).body == text


def test_bottom_posted_reply_drops_the_quote_above() -> None:
    text = "Am 07.05.2012 08:10, schrieb Anna:\n> Passt Freitag?\n> Gruß Anna\nJa, Freitag passt.\n\nGruß\nMax"
    reply = split_reply(text)
    assert reply.body == "Ja, Freitag passt."
    assert reply.quote.startswith("Am 07.05.2012")
    assert reply.signature == "Gruß\nMax"


def test_mobile_signature_ends_the_reply_even_without_a_marked_quote() -> None:
    text = "Kommt sofort.\n\nVon meinem iPhone gesendet\n\nDer ursprüngliche Text ohne Markierung."
    reply = split_reply(text)
    assert (reply.body, reply.signature) == ("Kommt sofort.", "Von meinem iPhone gesendet")
    assert reply.quote == "Der ursprüngliche Text ohne Markierung."


def test_line_endings_and_invisible_characters_do_not_matter() -> None:
    assert split_reply("Hi\u200b there\r\n\r\n-- \r\nMax").body == "Hi there"


def test_empty_text() -> None:
    assert split_reply("") == Reply(body="")
