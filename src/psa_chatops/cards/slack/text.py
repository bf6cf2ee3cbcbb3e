"""Text for Block Kit: escaping, truncation within Slack's limits, mrkdwn snippets and dates.

Why this module exists: every ticket field is user text (a customer's e-mail subject becomes a title), and Slack
parses ``&``, ``<`` and ``>`` in text objects as control characters, so ``<!channel>`` or ``<https://evil|click>``
in a title would ping a channel or hide a link. Every user text goes through :func:`escape` before it reaches a text
object (plain_text as well: Slack documents the three characters as control characters of *text objects*). Values
that are not text objects (input ``initial_value``, option ``value``, ``private_metadata``, button ``url``) are left
as they are. Slack rejects a whole message when one field is too long, so renderers cut texts *after* escaping (an
entity is never cut in half) and point to the PSA for the rest.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

from psa_chatops.cards.links import ticket_url, tickets_url
from psa_chatops.cards.texts import ELLIPSIS, clip, fill, translator
from psa_chatops.i18n import (
    SUPPORTED_LOCALES,
    format_datetime,
    translate,
)

__all__ = [
    "ELLIPSIS",
    "LIMITS",
    "Limits",
    "bold",
    "clip",
    "clip_escaped",
    "clip_with_link",
    "escape",
    "link",
    "mrkdwn_to_plain",
    "slack_date",
    "ticket_url",
    "tickets_url",
    "translate_mrkdwn",
    "translator",
    "unescape",
]


class Limits:
    """Slack's documented limits (characters unless noted) that our renderers must respect."""

    MESSAGE_BLOCKS: Final = 50
    VIEW_BLOCKS: Final = 100  # modals and the Home tab
    MESSAGE_TEXT: Final = 40_000  # the top-level fallback ``text``; we keep ours far shorter
    FALLBACK_TEXT: Final = 500  # our own budget for the fallback (notifications, screen readers)
    SECTION_TEXT: Final = 3_000
    SECTION_FIELDS: Final = 10  # items
    SECTION_FIELD_TEXT: Final = 2_000
    HEADER_TEXT: Final = 150
    BUTTON_TEXT: Final = 75
    BUTTON_VALUE: Final = 2_000
    URL: Final = 3_000
    ACTION_ELEMENTS: Final = 25  # items in an actions block
    CONTEXT_ELEMENTS: Final = 10  # items in a context block
    CONTEXT_TEXT: Final = 2_000  # per context element (conservative: the docs name no figure of their own)
    MODAL_TITLE: Final = 24  # also submit and close
    OPTION_TEXT: Final = 75
    OPTION_VALUE: Final = 150
    OPTIONS: Final = 100  # items in a select or an options response
    PLACEHOLDER: Final = 150
    INPUT_LABEL: Final = 2_000
    INPUT_HINT: Final = 2_000
    INPUT_VALUE: Final = 3_000  # plain_text_input max_length / initial_value
    PRIVATE_METADATA: Final = 3_000
    CONFIRM_TITLE: Final = 100
    CONFIRM_TEXT: Final = 300
    CONFIRM_BUTTON: Final = 30
    ID: Final = 255  # action_id, block_id, callback_id


LIMITS: Final = Limits()

_BROADCASTS = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)
_WORD_JOINER: Final = "\u2060"
_SLACK_MARKUP = re.compile(r"<([^<>|\s]+)(?:\|([^<>]*))?>")
_LONGEST_ENTITY: Final = len("&amp;")


def escape(text: str) -> str:
    """User text made inert for a Slack text object: ``&`` ``<`` ``>`` as entities, bare ``@here`` defused.

    Entities stop ``<!channel>``, ``<@U123>`` and ``<url|label>``; an invisible word joiner after the ``@`` keeps a
    typed ``@channel`` from being read as a broadcast where Slack parses bare mentions (``link_names``).
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCASTS.sub(lambda m: "@" + _WORD_JOINER + m.group(1), escaped)


def unescape(text: str) -> str:
    """Slack message text back to what the user typed (for prefilled inputs, which are not text objects)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mrkdwn_to_plain(text: str) -> str:
    """Slack message text as a person would retype it: ``<@U1>`` → ``@U1``, ``<url|docs>`` → ``docs (url)``,
    ``<!here>`` → ``@here``, entities decoded. For prefilling inputs from a message (inputs are not parsed)."""
    return unescape(_SLACK_MARKUP.sub(_markup_as_plain, text))


def _markup_as_plain(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith(("@", "#")):
        return target[0] + (label or target[1:])
    if target.startswith("!"):  # <!here>, <!subteam^S1|@team>, <!date^...|fallback>
        return label or "@" + target[1:].split("^")[0]
    if target.startswith("mailto:"):
        return label or target.removeprefix("mailto:")
    return f"{label} ({target})" if label and label != target else target


def clip_escaped(escaped: str, limit: int) -> str:
    """Like :func:`clip` for already escaped text: never leaves half an entity (``&am…``) behind."""
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - _LONGEST_ENTITY + 1))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + ELLIPSIS


def clip_with_link(raw: str, limit: int, url: str, locale: str) -> str:
    """Escaped ``raw`` within ``limit``; when cut, it ends with a "view in PSA" link so nothing is lost for good."""
    escaped = escape(raw)
    if len(escaped) <= limit:
        return escaped
    more = " " + link(url, translate("view in PSA", locale))
    return clip_escaped(escaped, limit - len(more)) + more


def link(url: str, label: str) -> str:
    """A mrkdwn link; ``label`` is escaped here (pass raw text), the URL's control characters are %-encoded."""
    return f"<{_safe_url(url)}|{escape(label)}>"


def bold(escaped: str) -> str:
    """Bold mrkdwn around text that is already escaped (empty text stays empty: ``**`` would show literally)."""
    return f"*{escaped}*" if escaped.strip() else escaped


def slack_date(moment: datetime, locale: str, *, timezone: str = "UTC") -> str:
    """A time every viewer sees in their own Slack timezone and locale, e.g. "Today at 3:30 PM".

    Slack renders ``<!date^unix^format|fallback>`` for each viewer; the fallback (for clients and notifications that
    cannot) is written in ``locale`` and ``timezone`` by ``psa_chatops.i18n.format_datetime``. Naive datetimes are
    rejected there.
    """
    fallback = escape(format_datetime(moment, locale, timezone))
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _safe_url(url: str) -> str:
    """Our URLs carry no ``<``, ``>``, ``|`` or spaces, but a configured base URL might; encode rather than break."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")


def translate_mrkdwn(msgid: str, locale: str, /, **mrkdwn: object) -> str:
    """``msgid`` translated and escaped, with parameters that are already mrkdwn (escaped text, links, dates).

    Mark the msgid with ``N_`` at the call site so that ``scripts/i18n-update`` extracts it. Escaping the template
    before filling it in keeps the parameters' own markup (``<!date^...>``, ``<url|label>``) intact.
    """
    return fill(escape(translate(msgid, locale)), mrkdwn)


def _warm_up() -> tuple[ZoneInfo, ...]:
    """Load UTC and babel's date data for every language now, at import, not on the event loop on first use.

    Renderers run inside request handlers; the first ``ZoneInfo("UTC")`` or babel date pattern reads files. The
    returned zone is kept referenced, so ``ZoneInfo``'s cache holds it for good. Other zones (a viewer's timezone)
    are still loaded on first use, once.
    """
    utc = ZoneInfo("UTC")
    for language in SUPPORTED_LOCALES:
        format_datetime(datetime(2000, 1, 1, tzinfo=UTC), language, "UTC")
    return (utc,)


_WARM: Final = _warm_up()
