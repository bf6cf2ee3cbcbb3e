"""How an e-mail writes text: two markups (HTML and plain text) for the shared event sentences
(``cards.wording``), and the document around a body. User text is always escaped in HTML; the plain part
is the same words without markup, so both parts of one mail say the same."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from psa_chatops.cards import wording
from psa_chatops.cards.texts import clip, fill, translator
from psa_chatops.i18n import Translator, translate

__all__ = ["HTML", "PLAIN", "EmailContent", "Paragraph", "html_document", "plain_document"]

LONG_TEXT: Final = 4000  # characters of a note or resolution in an event line (the rest is in the PSA)


class _Glyphs(dict[str, str]):
    """The emoji before an event line; a line kind added to ``cards.wording`` later gets a plain bullet."""

    def __missing__(self, key: str) -> str:
        return "•"


GLYPHS: Final[Mapping[str, str]] = _Glyphs(
    opened="🆕",
    assigned="👤",
    status="🔄",
    public_note="💬",
    internal_note="🔒",
    priority="↕️",
    sla_warning="⚠️",
    sla_breached="🚨",
    escalated="⏫",
    appointment="📅",
    appointment_cancelled="❌",
    alert="🛡️",
)
SLA_EMOJI: Final[Mapping[str, str]] = {"warning": "⚠️", "breached": "🚨", "met": "✅", "paused": "⏸️"}


@dataclass(frozen=True)
class EmailContent:
    """One rendered mail: the subject (without the ticket tag, which the notifier adds) and both parts."""

    subject: str
    text: str
    html: str


def escape(raw: str) -> str:
    return html.escape(raw, quote=True)


def html_link(url: str, label: str) -> str:
    return f'<a href="{escape(url)}">{escape(label)}</a>'


def _html_fill(msgid: str, locale: str, /, **params: object) -> str:
    return fill(escape(translate(msgid, locale)), params)


def _plain_fill(msgid: str, locale: str, /, **params: object) -> str:
    return translator(locale).t(msgid, **params)


def _html_snippet(flat: str, limit: int, url: str, locale: str) -> str:
    return escape(clip(flat, max(limit, 1)))


HTML: Final = wording.Markup(
    escape=escape,
    bold=lambda text: f"<strong>{text}</strong>",
    italic=lambda text: f"<em>{text}</em>",
    link=html_link,
    fill=_html_fill,
    date=lambda moment, tr: escape(tr.dt(moment)),
    snippet=_html_snippet,
    glyphs=GLYPHS,
    sla_emoji=SLA_EMOJI,
    mark_sla_warning=True,
)
PLAIN: Final = wording.Markup(
    escape=lambda text: text,
    bold=lambda text: text,
    italic=lambda text: text,
    link=lambda url, label: f"{label} <{url}>",
    fill=_plain_fill,
    date=lambda moment, tr: tr.dt(moment),
    snippet=lambda flat, limit, _url, _locale: clip(flat, max(limit, 1)),
    glyphs=GLYPHS,
    sla_emoji=SLA_EMOJI,
    mark_sla_warning=True,
)


@dataclass(frozen=True)
class Paragraph:
    """A block of a mail in both markups; ``quote`` sets it off (a reply's text), ``facts`` are label/value rows."""

    html: str
    text: str
    quote: bool = False
    facts: Sequence[tuple[str, str, str]] = ()  # (raw label, html value, plain value)


def raw_paragraph(raw: str, *, quote: bool = False) -> Paragraph:
    """User text kept as written: escaped, line breaks preserved."""
    return Paragraph(escape(raw).replace("\n", "<br>\n"), raw, quote=quote)


def html_document(title: str, paragraphs: Sequence[Paragraph], *, lang: str) -> str:
    parts = [f'<h2 style="margin:0 0 12px 0;font-size:18px">{escape(title)}</h2>']
    for p in paragraphs:
        if p.facts:
            rows = "".join(
                f'<tr><th align="left" style="padding:2px 12px 2px 0">{escape(label)}</th><td>{value}</td></tr>'
                for label, value, _ in p.facts
            )
            parts.append(f'<table role="presentation" style="border-collapse:collapse">{rows}</table>')
        elif p.quote:
            parts.append(
                f'<blockquote style="margin:8px 0;padding-left:12px;border-left:3px solid #ccc">{p.html}</blockquote>'
            )
        else:
            parts.append(f"<p>{p.html}</p>")
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html>\n<html lang="{escape(lang)}"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'</head>\n<body style="font-family:Segoe UI,Arial,sans-serif;font-size:14px">\n{body}\n</body></html>\n'
    )


def plain_document(title: str, paragraphs: Sequence[Paragraph]) -> str:
    parts = [title, "=" * min(len(title), 72)]
    for p in paragraphs:
        if p.facts:
            parts.append("\n".join(f"{label}: {value}" for label, _, value in p.facts))
        elif p.quote:
            parts.append("\n".join(f"> {line}" if line else ">" for line in p.text.splitlines()))
        else:
            parts.append(p.text)
    return "\n\n".join(parts) + "\n"


def moment_text(moment: datetime, tr: Translator) -> str:
    return tr.dt(moment)
