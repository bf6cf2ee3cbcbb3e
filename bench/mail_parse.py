"""E-mail parsing over the real mails in ../shared/corpora/email/: parse + strip throughput, and how often the
cleaned body is exactly what we expect (tests/integrations/mail/expected/, written by us, whitespace
normalised), for our parser and for ``email-reply-parser`` (PyPI) on the same mails.

    .venv/bin/python -m bench.mail_parse [--seconds 5] [--json out.json]

Both parsers get the same text: for an RFC 822 file, the body our ``message`` module decoded (plain text, or the
HTML part as text); for an HTML file, its text; otherwise the file as UTF-8. ``email-reply-parser`` only sees
that text; ours also gets the sender's name when the corpus has one (talon's ``*_sender`` files, the From header).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from email_reply_parser import EmailReplyParser  # type: ignore[import-untyped]

from psa_chatops.integrations.mail.extract import ExtractConfig, body_message, extract
from psa_chatops.integrations.mail.message import MailMessage, looks_like_message, read_message

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpora" / "email"
EXPECTED = REPO / "tests" / "integrations" / "mail" / "expected"
TARGET_PER_SECOND = 300.0
SKIPPED_SUFFIXES = (".json", ".yml", ".md", ".tsv", "_sender", "_signature")
_CONFIG = ExtractConfig()


@dataclass(frozen=True)
class Case:
    path: str  # relative to the corpus, e.g. "talon/standard_replies/gmail.eml"
    message: MailMessage
    expected: str | None


def corpus_paths(corpus: Path = CORPUS) -> list[str]:
    """Every mail of the corpus (metadata, expected results and talon's sender/signature files left out)."""
    return sorted(
        str(path.relative_to(corpus))
        for path in corpus.rglob("*")
        if path.is_file() and not path.name.endswith(SKIPPED_SUFFIXES) and path.name != "README.md"
    )


def expected_path(relative: str, expected_dir: Path = EXPECTED) -> Path:
    return expected_dir / f"{relative}.txt"


def load_message(corpus: Path, relative: str) -> MailMessage:
    path = corpus / relative
    raw = path.read_bytes()
    if looks_like_message(raw):
        return read_message(raw)
    sender_file = path.with_name(path.name.removesuffix("_body") + "_sender")
    sender = None
    if path.name.endswith("_body") and sender_file.exists():
        sender = sender_file.read_text("utf-8").strip() or None
    return body_message(raw.decode("utf-8", "replace"), sender_name=sender)


def load_cases(corpus: Path = CORPUS, expected_dir: Path = EXPECTED) -> list[Case]:
    cases = []
    for relative in corpus_paths(corpus):
        expected = expected_path(relative, expected_dir)
        text = expected.read_text("utf-8") if expected.exists() else None
        cases.append(Case(relative, load_message(corpus, relative), text))
    return cases


def ours(case: Case) -> str:
    return extract(case.message, None, _CONFIG).body


def theirs(case: Case) -> str:
    return str(EmailReplyParser.parse_reply(case.message.text))


def normalise(text: str) -> str:
    return " ".join(text.split())


def accuracy(cases: Iterable[Case], parser: Callable[[Case], str]) -> tuple[int, int, list[str]]:
    """(exact matches, cases with an expected body, paths that missed)."""
    hits, total, missed = 0, 0, []
    for case in cases:
        if case.expected is None:
            continue
        total += 1
        if normalise(parser(case)) == normalise(case.expected):
            hits += 1
        else:
            missed.append(case.path)
    return hits, total, missed


def throughput(corpus: Path, paths: list[str], seconds: float) -> dict[str, Any]:
    """Mails per second for read (RFC 822 / HTML decode) + split + extract, cycling over the corpus."""
    raws = [(corpus / path).read_bytes() for path in paths]
    done, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for path, raw in zip(paths, raws, strict=True):
            _parse_raw(path, raw)
        done += len(raws)
    elapsed = time.perf_counter() - started
    return {"mails": done, "seconds": round(elapsed, 2), "per_second": round(done / elapsed, 1)}


def _parse_raw(path: str, raw: bytes) -> str:
    message = read_message(raw) if looks_like_message(raw) else body_message(raw.decode("utf-8", "replace"))
    return extract(message, None, _CONFIG).body


def measure(seconds: float = 5.0, corpus: Path = CORPUS) -> dict[str, Any]:
    cases = load_cases(corpus)
    our_hits, total, our_missed = accuracy(cases, ours)
    their_hits, _, _ = accuracy(cases, theirs)
    return {
        "corpus_mails": len(cases),
        "expected_bodies": total,
        "ours": {"exact": our_hits, "accuracy": round(our_hits / total, 3) if total else None, "missed": our_missed},
        "email_reply_parser": {"exact": their_hits, "accuracy": round(their_hits / total, 3) if total else None},
        "throughput": throughput(corpus, [c.path for c in cases], seconds),
        "target_per_second": TARGET_PER_SECOND,
    }


def markdown(result: dict[str, Any]) -> str:
    ours_, theirs_, speed = result["ours"], result["email_reply_parser"], result["throughput"]
    total = result["expected_bodies"]
    return "\n".join(
        [
            "## E-mail parsing (quote and signature removal)",
            "",
            f"Corpus: {result['corpus_mails']} real mails from ../shared/corpora/email/ (German and English, plus "
            f"the other languages of the reply-parser projects); {total} of them have an expected cleaned body "
            "written by us (tests/integrations/mail/expected/). Exact match after whitespace normalisation.",
            "",
            "| parser | exact bodies | accuracy |",
            "|---|---|---|",
            f"| psa-chatops `integrations.mail` | {ours_['exact']}/{total} | {ours_['accuracy']:.1%} |",
            f"| email-reply-parser (PyPI) | {theirs_['exact']}/{total} | {theirs_['accuracy']:.1%} |",
            "",
            f"Parse + strip + extract throughput: **{speed['per_second']:.0f} mails/s** over the whole corpus "
            f"({speed['mails']} mails in {speed['seconds']} s, one process; target >= {TARGET_PER_SECOND:.0f}).",
            "",
        ]
    )


def run(seconds: float = 5.0) -> str:
    """The markdown section for BENCHMARKS.md."""
    return markdown(measure(seconds))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to measure throughput")
    parser.add_argument("--json", help="write the result as JSON here too")
    parser.add_argument("--missed", action="store_true", help="list the mails whose body differs from ours")
    return parser.parse_args(argv)


def cli(argv: list[str] | None = None) -> None:
    from bench.common import write_json

    args = parse_args(argv)
    result = measure(args.seconds)
    print(markdown(result))
    if args.missed:
        print("\n".join(result["ours"]["missed"]))
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    cli()
