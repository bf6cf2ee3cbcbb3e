"""Accuracy over the real mails of ``../shared/corpora/email/`` against the cleaned bodies we wrote
(``expected/<corpus path>.txt``): it must not fall below what we reached, and it must beat email-reply-parser."""

from __future__ import annotations

from pathlib import Path

from bench.mail_parse import EXPECTED, accuracy, corpus_paths, load_cases, ours, theirs

# 162 of 164 when written; the two misses are a home-made phone signature ("Sent a magnificent torch of pixels")
# and a fax report whose key/value block below a dashed rule looks like a signature.
REACHED = 162


def test_every_expected_body_belongs_to_a_corpus_mail(corpus: Path) -> None:
    mails = set(corpus_paths(corpus))
    expected = {str(p.relative_to(EXPECTED)).removesuffix(".txt") for p in EXPECTED.rglob("*.txt")}
    assert len(expected) >= 60
    assert expected <= mails
    assert {path.split("/")[0] for path in expected} >= {
        "crisp_email_reply_parser",
        "email_reply_parser",
        "talon",
        "zammad",
        "mime_mikel_mail",
        "willdurand_email_reply_parser",
        "zapier_email_reply_parser",
    }


def test_accuracy_stays_at_what_we_reached_and_beats_email_reply_parser(corpus: Path) -> None:
    cases = load_cases(corpus)
    hits, total, missed = accuracy(cases, ours)
    baseline, _, _ = accuracy(cases, theirs)
    assert hits >= REACHED, f"{total - hits} cleaned bodies differ: {missed}"
    assert hits > baseline
