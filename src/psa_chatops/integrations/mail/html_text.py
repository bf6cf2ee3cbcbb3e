"""HTML mail bodies as clean plain text, keeping what the reply parser needs to see.

inscriptis (Apache-2.0, on lxml) lays out blocks, lists and tables like a browser would; its ``strict`` CSS
profile adds no indentation, which would otherwise look like quoting. Before it runs, every outermost
``<blockquote>`` (Gmail, Apple Mail, Thunderbird quote with it) is rendered on its own and replaced by the same
text with ``> `` in front of each line, and every ``<hr>`` becomes a line of underscores (as Outlook writes in
plain text), so quoted HTML replies look exactly like quoted plain-text replies and one
parser (``reply``) handles both. Scripts, styles and Outlook's conditional comments never reach the text.
"""

from __future__ import annotations

import re
from typing import Any

from inscriptis import Inscriptis  # type: ignore[import-untyped]
from inscriptis.css_profiles import CSS_PROFILES  # type: ignore[import-untyped]
from inscriptis.model.config import ParserConfig  # type: ignore[import-untyped]
from lxml import etree, html  # type: ignore[import-untyped]

_CONFIG = ParserConfig(css=CSS_PROFILES["strict"].copy(), display_links=False, display_images=False)
_INVISIBLE = ("script", "style", "head", "title", "meta", "xml")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_BLANK_RUN = re.compile(r"\n{3,}")
_INVISIBLE_CHARS = str.maketrans({"\u200b": None, "\u200c": None, "\u200d": None, "\ufeff": None, "\xa0": " "})


def html_to_text(markup: str) -> str:
    """Readable text of an HTML document or fragment; empty for markup with no text (never raises)."""
    markup = _XML_DECLARATION.sub("", markup, count=1)
    if not markup.strip():
        return ""
    try:
        root = html.fromstring(markup)
    except (etree.ParserError, ValueError):
        return ""
    for element in root.iter(*_INVISIBLE):
        element.drop_tree()
    for comment in root.iter(etree.Comment):
        comment.drop_tree()
    for rule in list(root.iter("hr")):  # Hotmail and Yahoo put the quoted header block right below an <hr>
        line = html.Element("div")
        line.text = "_" * 32
        line.tail = rule.tail
        parent = rule.getparent()
        if parent is not None:
            parent.replace(rule, line)
    return _tidy(_render(root))


def _render(root: Any) -> str:
    for quote in _outermost(root, "blockquote"):
        quoted = _tidy(_render(quote)) if len(quote) or (quote.text or "").strip() else ""
        replacement = html.Element("pre")
        replacement.text = "\n" + "\n".join("> " + line if line else ">" for line in quoted.split("\n")) + "\n"
        replacement.tail = quote.tail
        parent = quote.getparent()
        if parent is None:
            return str(replacement.text)
        parent.replace(quote, replacement)
    return str(Inscriptis(root, _CONFIG).get_text())


def _outermost(root: Any, tag: str) -> list[Any]:
    """The ``tag`` elements below ``root`` that have no other ``tag`` element between them and ``root``."""
    outermost = []
    for element in root.iter(tag):
        if element is root:
            continue
        ancestor = element.getparent()
        while ancestor is not None and ancestor is not root and ancestor.tag != tag:
            ancestor = ancestor.getparent()
        if ancestor is None or ancestor is root:
            outermost.append(element)
    return outermost


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.translate(_INVISIBLE_CHARS).split("\n")]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip("\n")
