"""Where a signature begins at the end of a reply.

A signature is found by what opens it, and accepted only when what follows looks like one (short lines, no
running text), so "Thanks!" as a last sentence or markdown rules between paragraphs stay in the body:

* the RFC 3676 delimiter ``-- `` (then up to 40 lines of anything: legal footers are long);
* a rule (``__``, ``---``, ``—``) or a "-Name" line, followed by a few short lines;
* a closing ("Mit freundlichen Grüßen", "Viele Grüße", "Best regards", "Kind regards", "Cheers" ...) — strong ones
  take everything below them, weak ones ("Thanks,", "Danke") need a name line after them;
* "Sent from my iPhone" / "Von meinem iPhone gesendet" and the like;
* a confidentiality notice or disclaimer (German or English) at the end;
* the sender's own name on a line after a blank line, followed by a few short lines (contact details).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_STRONG_CLOSINGS = (
    "mit freundlichen grüßen",
    "mit freundlichen grüssen",
    "mit freundlichen gruessen",
    "mit freundlichem gruß",
    "mit freundlichem gruss",
    "mit besten grüßen",
    "mit besten grüssen",
    "mit herzlichen grüßen",
    "mit kollegialen grüßen",
    "freundliche grüße",
    "freundliche grüsse",
    "freundliche grüße aus",
    "viele grüße",
    "viele grüsse",
    "viele gruesse",
    "beste grüße",
    "beste grüsse",
    "liebe grüße",
    "liebe grüsse",
    "herzliche grüße",
    "herzliche grüsse",
    "schöne grüße",
    "sonnige grüße",
    "grüße",
    "grüsse",
    "gruß",
    "gruss",
    "best regards",
    "kind regards",
    "kindest regards",
    "warm regards",
    "warmest regards",
    "with best regards",
    "with kind regards",
    "many thanks and best regards",
    "thanks and regards",
    "thanks & regards",
    "regards",
    "best wishes",
    "all the best",
    "sincerely",
    "yours sincerely",
    "sincerely yours",
    "yours truly",
    "yours faithfully",
    "cordialement",
    "bien cordialement",
    "saludos",
    "cordiali saluti",
    "met vriendelijke groet",
    "\u0441 \u0443\u0432\u0430\u0436\u0435\u043d\u0438\u0435\u043c",  # Russian
)
_WEAK_CLOSINGS = (
    "thanks",
    "thank you",
    "thanks again",
    "many thanks",
    "thx",
    "cheers",
    "best",
    "danke",
    "vielen dank",
    "danke und gruß",
    "danke und gruss",
    "merci",
    "ciao",
    "tschüss",
    "bis dann",
)
_ABBREVIATED_CLOSINGS = ("mfg", "lg", "vg", "br", "bg", "gruß,")  # only when alone on their line
_SEARCHED_LINES = 60  # a signature starts within the last lines (the longest accepted is 40 lines below its opener)
_CLOSING_WORDS_AFTER = 3  # "Grüße aus Bonn", "Gruß Klaus", "Cheers 🎉"
_MOBILE = re.compile(
    r"^\s*(?:sent (?:from|with|via) (?:my |a |an )?[\w\s.'\u2019-]{2,40}?|get outlook for \w+|"
    r"(?:von|gesendet von|gesendet mit|gesendet vom|gesendet aus) (?:meinem |meiner |mein )?[\w\s.-]{2,40}?"
    r"(?: gesendet)?|envoyé (?:de|depuis|à partir de) (?:mon )?[\w\s.-]{2,40}?|enviado desde (?:mi )?[\w\s.-]{2,40}?|"
    r"inviato da[\w\s.-]{2,40}?)\s*(?:<[^>]*>|\([^)]*\))?\s*$",
    re.IGNORECASE,
)
_DISCLAIMER = re.compile(
    r"^\s*(?:\**\s*)(?:confidentiality notice|disclaimer|this (?:e-?mail|message|communication)\b.{0,80}"
    r"(?:confidential|intended|privileged)|the information (?:contained )?in this (?:e-?mail|message)|"
    r"diese (?:e-?mail|nachricht|information)\b.{0,120}(?:vertraulich|bestimmt|enthält|enthalten)|"
    r"der inhalt dieser (?:e-?mail|nachricht)|wenn sie nicht der (?:richtige|beabsichtigte) (?:adressat|empfänger)|"
    r"vertraulichkeitshinweis|haftungsausschluss|le informazioni contenute in questo messaggio|"
    r"ce message et (?:toutes )?les pièces jointes)",
    re.IGNORECASE,
)
_DELIMITER = re.compile(r"^\s*(?:--|\u2014|\u2013)\s*$")
_RULE = re.compile(r"^\s*(?:[-_=\u2014\u2013*~]\s*){2,}$")
_DASH_NAME = re.compile(r"^[-\u2014\u2013]\s?[^\W\d_][\w.'\u2019-]*(?:\s+[^\W\d_][\w.'\u2019-]*){0,2}\s*$")
_TRAILING = re.compile(r"[\s,.!:;\-\u2013\u2014]+$")
_SYMBOLS = re.compile(r"[^\w\s&'\u2019.-]+")


def is_mobile_signature(line: str) -> bool:
    """ "Sent from my iPhone", "Von meinem iPad gesendet", "Get Outlook for iOS" (no sentence after it)."""
    stripped = line.strip()
    return len(stripped) <= 80 and "," not in stripped.split("<")[0] and bool(_MOBILE.match(stripped))


def find_signature(lines: Sequence[str], sender_names: Sequence[str] = ()) -> int | None:
    """Index of the line where the signature starts, or None; never 0 (a message that is all signature keeps it)."""
    end = _last_content(lines)
    if end < 0:
        return None
    for index in range(max(1, end - _SEARCHED_LINES), end + 1):
        line = lines[index]
        if line.strip() and not line.lstrip().startswith(">") and _opens_signature(lines, index, end, sender_names):
            return index
    return None


def _opens_signature(lines: Sequence[str], index: int, end: int, sender_names: Sequence[str]) -> bool:
    line = lines[index]
    after = [text for text in lines[index + 1 : end + 1] if text.strip()]
    if not any(text.strip() for text in lines[:index]):
        return False
    if _DELIMITER.match(line):
        return len(after) <= 40
    if is_mobile_signature(line):
        return _short_block(after, 4)
    if _RULE.match(line):
        return _short_block(after, 12)
    if _DASH_NAME.match(line):  # "-Abhishek Kona": last, or only a ruled-off footer below it
        return not after or (bool(_RULE.match(after[0]) or _DELIMITER.match(after[0])) and _short_block(after, 12))
    strength = closing_strength(line)
    if strength == "strong":
        return len(after) <= 40
    if strength == "weak":
        return len(after) >= 1 and _short_block(after, 6)
    if _DISCLAIMER.match(line):
        return not lines[index - 1].strip() and len(after) <= 30
    return _names_sender(line, sender_names) and not lines[index - 1].strip() and _short_block(after, 8)


def closing_strength(line: str) -> str | None:
    """ "strong" or "weak" when the line is a closing formula (optionally with a name after it), else None."""
    text = _SYMBOLS.sub(" ", _TRAILING.sub("", line.strip().lower())).strip()
    if not text or len(text) > 60:
        return None
    text = " ".join(text.split())
    if text in _ABBREVIATED_CLOSINGS:
        return "strong"
    for phrases, strength in ((_STRONG_CLOSINGS, "strong"), (_WEAK_CLOSINGS, "weak")):
        for phrase in phrases:
            if text == phrase or (text.startswith(phrase + " ") and _closing_tail_ok(text[len(phrase) :], phrase)):
                return strength
    return None


def _closing_tail_ok(tail: str, phrase: str) -> bool:
    words = tail.split()
    if phrase in ("best", "thanks", "thank you", "danke", "regards", "cheers", "merci", "grüße", "gruß"):
        return 0 < len(words) <= 2 and words[0] not in ("of", "for", "to", "in", "and", "you", "für", "an", "auch")
    return len(words) <= _CLOSING_WORDS_AFTER


def _short_block(after: Sequence[str], limit: int) -> bool:
    return len(after) <= limit and not any(_is_prose(text) for text in after)


def _is_prose(line: str) -> bool:
    words = line.split()
    return len(words) >= 8 or (len(words) >= 5 and line.rstrip()[-1:] in ".!?") or len(line.strip()) > 100


def _names_sender(line: str, sender_names: Sequence[str]) -> bool:
    words = line.strip().lower().split()
    if not words or len(words) > 5:
        return False
    for name in sender_names:
        parts = name.lower().replace(",", " ").split()
        if parts and len(parts[0]) >= 3 and words[: len(parts)] == parts:
            return True
        if parts and len(parts[0]) >= 3 and words[0] == parts[0]:
            return True
    return False


def _last_content(lines: Sequence[str]) -> int:
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].strip():
            return index
    return -1
