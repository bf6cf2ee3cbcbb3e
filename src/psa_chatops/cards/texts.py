"""Text rules that do not depend on the channel's markup: clipping, the recipient's translator and filling a
translated template whose parameters are already markup. Channels differ only in how they escape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from psa_chatops.i18n import DEFAULT_LOCALE, Translator, normalise_locale, pick_timezone

__all__ = ["ELLIPSIS", "clip", "fill", "translator"]

ELLIPSIS: Final = "…"


def clip(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters, ending in an ellipsis when it was cut."""
    if limit < 1:
        raise ValueError("limit must be positive")
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def fill(template: str, params: Mapping[str, object]) -> str:
    """An escaped template filled in with markup parameters; a broken translation yields the template, not a crash."""
    try:
        return template.format_map(_Params(params))
    except (ValueError, TypeError, IndexError, KeyError, AttributeError):
        return template


class _Params(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def translator(locale: str, timezone: str | None = None) -> Translator:
    """The recipient's language and timezone, forgiving: an unknown locale is English, an unknown zone is UTC."""
    return Translator(normalise_locale(locale, DEFAULT_LOCALE), pick_timezone(timezone, default="UTC"))
