"""Text for Adaptive Cards in Teams: escaping, truncation, markdown snippets and dates.

Why this module exists: every ticket field is user text (a customer's e-mail subject becomes a title), and a
``TextBlock`` (and a ``Fact``) is parsed as markdown by Teams: ``[click](https://evil)`` would hide a link,
``**`` would shout, ``# `` would make a heading, and ``<at>all</at>`` looks like a mention tag. Every user text
that reaches a markdown field goes through :func:`escape` (markdown's backslash escapes, which Teams honours on
desktop, web and mobile). Fields that are not markdown (action titles, input labels, choice titles,
``fallbackText``) take :func:`plain`, which only defuses mention tags; input ``value``s stay raw.

A ``TextBlock`` needs a blank line for a line break, so :func:`escape` turns each newline into a paragraph break.
Dates in ``TextBlock``s use the Adaptive Cards date functions, which every viewer sees in their own timezone
(with the card's ``lang``); facts and plain texts get a formatted date in the recipient's timezone instead.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote

from psa_chatops.cards.links import ticket_url, tickets_url
from psa_chatops.cards.texts import ELLIPSIS, clip, fill, translator
from psa_chatops.i18n import translate

__all__ = [
    "ELLIPSIS",
    "bold",
    "clip",
    "clip_escaped",
    "clip_with_link",
    "code",
    "escape",
    "link",
    "plain",
    "safe_url",
    "teams_date",
    "ticket_url",
    "tickets_url",
    "translate_md",
    "translator",
]

_WORD_JOINER: Final = "\u2060"
# Markdown's punctuation that Teams' TextBlock parser acts on anywhere in a line (links, emphasis, code, tags).
_SPECIALS: Final = re.compile(r"([\\`*_\[\]()<>~|!])")
# Block syntax that only counts at the start of a line: lists ("- ", "+ ", "1. ") and headings ("# ").
_LINE_START: Final = re.compile(r"(?m)^(\s*)([-+]|#+(?=\s|$))")
_NUMBERED: Final = re.compile(r"(?m)^(\s*\d+)\.")
_MENTION_TAG: Final = re.compile(r"<(/?\s*at\b)", re.IGNORECASE)
_NEWLINES: Final = re.compile(r"\r\n?|\n")


def escape(text: str) -> str:
    """User text made inert for a markdown field: punctuation backslash-escaped, newlines as paragraph breaks.

    ``[click](https://evil)`` → ``\\[click\\]\\(https://evil\\)``, ``<at>all</at>`` → ``\\<at\\>all\\</at\\>``;
    a URL stays readable as text (Teams may still autolink a bare URL, which then shows its real address).
    """
    escaped = _SPECIALS.sub(r"\\\1", text)
    escaped = _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)
    escaped = _NUMBERED.sub(lambda m: m.group(1) + "\\.", escaped)
    lines = _NEWLINES.split(escaped)
    return "\n\n".join(line.rstrip() for line in lines if line.strip()) if len(lines) > 1 else escaped


def plain(text: str, limit: int | None = None) -> str:
    """Text for a field that is not markdown (titles of actions, labels, choices, ``fallbackText``):
    mention tags defused with an invisible word joiner (``<at>`` → ``<\u2060at>``), then clipped."""
    defused = _MENTION_TAG.sub(lambda m: "<" + _WORD_JOINER + m.group(1), text)
    return clip(defused, limit) if limit is not None else defused


def clip_escaped(escaped: str, limit: int) -> str:
    """Like :func:`clip` for escaped text: never leaves a dangling backslash (which would escape the ellipsis)."""
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: max(limit - 1, 0)].rstrip()
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:
        cut = cut[:-1]
    return cut.rstrip() + ELLIPSIS


def clip_with_link(raw: str, limit: int, url: str, locale: str) -> str:
    """Escaped ``raw`` within ``limit``; when cut, it ends with a "view in PSA" link so nothing is lost for good."""
    escaped = escape(raw)
    if len(escaped) <= limit:
        return escaped
    more = " " + link(url, translate("view in PSA", locale))
    return clip_escaped(escaped, max(limit - len(more), 1)) + more


def safe_url(url: str) -> str:
    """A URL that cannot end a markdown link early: spaces, parentheses and angle brackets %-encoded."""
    return quote(url, safe=":/?#[]@!$&'*+,;=%~-._")


def link(url: str, label: str) -> str:
    """A markdown link; ``label`` is escaped here (pass raw text)."""
    return f"[{escape(label)}]({safe_url(url)})"


def code(raw: str) -> str:
    """Inline code: literal inside (no escapes there), so backticks are replaced and mention tags defused."""
    inner = plain(" ".join(raw.replace("`", "'").split())) or " "
    return f"`{inner}`"


def bold(escaped: str) -> str:
    """Bold markdown around text that is already escaped (empty text stays empty)."""
    return f"**{escaped}**" if escaped.strip() else escaped


def teams_date(moment: datetime) -> str:
    """A date and time every viewer sees in their own timezone, in the card's ``lang``: Adaptive Cards'
    ``{{DATE(...)}} {{TIME(...)}}`` functions (``TextBlock`` only; use ``Translator.dt`` for facts and plain
    text). Naive datetimes are rejected."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"cannot show a naive datetime: {moment.isoformat()}")
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{{{{DATE({stamp}, SHORT)}}}} {{{{TIME({stamp})}}}}"


def translate_md(msgid: str, locale: str, /, **markdown: object) -> str:
    """``msgid`` translated and escaped, with parameters that are already markdown (escaped text, links, dates).

    Mark the msgid with ``N_`` at the call site so that ``scripts/i18n-update`` extracts it.
    """
    return fill(escape(translate(msgid, locale)), markdown)
