"""Every user-facing text in the recipient's language: gettext catalogs, dates and durations.

Why this module exists: technicians and customers read tickets in English or German, and one service answers both,
often in the same second (a Slack channel in Munich, a Teams chat in Dublin, a customer e-mail). So the language
cannot be a process-wide setting; each message is rendered for its recipient. Messages are written in English in the
code, marked for extraction (``N_`` in the core, ``_``/``translate``/``Translator.t`` elsewhere) and looked up in
gettext catalogs at render time:

* the English text is the msgid, ``str.format`` placeholders (``{number}``) carry the values, so domain errors keep
  their parameters separate from the wording (see ``psa_chatops.core.errors``);
* catalogs ship as ``.po`` files only (no compiled ``.mo`` in git, nothing to forget to rebuild); each is parsed once,
  on first use, and cached;
* rendering never fails because of a translation: an unknown msgid falls back to the English text, a missing
  parameter leaves its ``{placeholder}`` visible instead of raising inside an error handler;
* times are shown in the recipient's timezone with babel's CLDR data ("29.03.2026, 03:30 MESZ", "vor 3 Stunden").

``scripts/i18n-update`` refreshes the catalogs from the source; ``tests/i18n`` fails when a German translation is
missing or its placeholders differ from the English ones.
"""

from __future__ import annotations

import functools
import gettext
import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_time, format_timedelta, get_datetime_format
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = [
    "DEFAULT_LOCALE",
    "DOMAIN",
    "EXTRACTION_KEYWORDS",
    "SUPPORTED_LOCALES",
    "Translator",
    "format_datetime",
    "format_relative",
    "normalise_locale",
    "pick_locale",
    "pick_timezone",
    "preload",
    "translate",
    "translate_plural",
]

log = logging.getLogger(__name__)

SUPPORTED_LOCALES: Final[tuple[str, ...]] = ("en", "de")
DEFAULT_LOCALE: Final = "en"
DOMAIN: Final = "messages"

# The functions whose string-literal arguments are msgids, in babel's keyword notation (None: the first argument;
# (1, 2): singular and plural). ``scripts/i18n-update`` and ``tests/i18n`` both extract with exactly these.
EXTRACTION_KEYWORDS: Final[Mapping[str, tuple[int, ...] | None]] = {
    "N_": None,
    "_": None,
    "translate": None,
    "translate_plural": (1, 2),
    "t": None,
    "t_plural": (1, 2),
}

_TAG_SEPARATORS = re.compile(r"[-_.@]")
_LANGUAGE_ALIASES: Final[Mapping[str, str]] = {"deu": "de", "ger": "de", "eng": "en"}


def normalise_locale(value: str | None, default: str) -> str:
    """The supported language of a locale tag ("de-DE", "de_AT.UTF-8", "EN", "en-GB" ...), else ``default``.

    ``default`` must itself be one of ``SUPPORTED_LOCALES`` (a typo in configuration fails loudly, not per message).
    """
    _require_supported(default)
    return _language(value) or default


def pick_locale(*candidates: str | None, default: str) -> str:
    """The first candidate that names a supported language, in order of preference, else ``default``.

    E.g. ``pick_locale(slack_user.locale, contact.language, customer.language, default=settings.locale)``.
    """
    _require_supported(default)
    return next((language for language in map(_language, candidates) if language), default)


def pick_timezone(*candidates: str | None, default: str) -> str:
    """The first candidate that is a known IANA timezone ("Europe/Berlin"), else ``default`` (which must be one)."""
    _zone(default)
    for candidate in candidates:
        if candidate:
            try:
                _zone(candidate)
            except ValueError:
                continue
            return candidate
    return default


def translate(msgid: str, locale: str, /, **params: object) -> str:
    """``msgid`` in ``locale`` (the English msgid if there is no translation), with ``params`` filled in.

    An unsupported or unnormalised ``locale`` ("de-DE", "fr") is normalised, falling back to English.
    """
    catalog = _translations(normalise_locale(locale, DEFAULT_LOCALE))
    text = catalog.gettext(msgid)
    return _fill(text, {k: catalog.gettext(str(v)) if is_label(v) else v for k, v in params.items()})


def is_label(value: object) -> bool:
    """Parameters marked as labels (``core.errors.Label``: status and priority names) are translated too."""
    return isinstance(value, str) and getattr(type(value), "translatable", False) is True


def translate_plural(singular: str, plural: str, n: int, locale: str, /, **params: object) -> str:
    """The singular or plural form for ``n`` by the language's plural rule; ``{n}`` is filled in unless overridden."""
    text = _translations(normalise_locale(locale, DEFAULT_LOCALE)).ngettext(singular, plural, n)
    return _fill(text, {"n": n, **params})


def format_datetime(moment: datetime, locale: str, timezone: str) -> str:
    """``moment`` as the recipient reads it: their language, their timezone, with the zone shown.

    "Mar 29, 2026, 3:30 AM +0200" / "29.03.2026, 03:30 MESZ". Naive datetimes are rejected (ValueError): the
    service keeps all times aware, and guessing a zone here would silently show wrong times.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"cannot format a naive datetime for a recipient: {moment.isoformat()}")
    zone = _zone(timezone)
    local = moment.astimezone(zone)
    babel_locale = _babel_locale(normalise_locale(locale, DEFAULT_LOCALE))
    # CLDR's medium date-time pattern ("{1}, {0}"), with the short time (no seconds) and the zone ("MESZ", "+0200").
    time_text = format_time(local, "short", tzinfo=zone, locale=babel_locale)
    zone_text = format_time(local, "z", tzinfo=zone, locale=babel_locale)
    date_text = format_date(local, "medium", locale=babel_locale)
    pattern = str(get_datetime_format("medium", locale=babel_locale)).replace("'", "")
    return pattern.replace("{0}", f"{time_text} {zone_text}").replace("{1}", date_text)


def format_relative(delta: timedelta, locale: str) -> str:
    """A duration relative to now: positive is the future ("in 2 hours"), negative the past ("vor 3 Stunden")."""
    normalised = normalise_locale(locale, DEFAULT_LOCALE)
    if abs(delta) < timedelta(seconds=1):
        # TRANSLATORS: a moment that is (less than a second) from now, in place of "in 2 hours" or "3 hours ago".
        return translate("now", normalised)
    return format_timedelta(delta, add_direction=True, locale=_babel_locale(normalised))


@dataclass(frozen=True, slots=True)
class Translator:
    """Everything a renderer needs to speak to one recipient: their language and their timezone.

    Build it once per recipient (``Translator(pick_locale(...), pick_timezone(...))``) and pass it down.
    """

    locale: str
    timezone: str

    def __post_init__(self) -> None:
        _require_supported(self.locale)
        _zone(self.timezone)

    def t(self, msgid: str, /, **params: object) -> str:
        """``translate(msgid, self.locale, **params)``."""
        return translate(msgid, self.locale, **params)

    def t_plural(self, singular: str, plural: str, n: int, /, **params: object) -> str:
        """``translate_plural(singular, plural, n, self.locale, **params)``."""
        return translate_plural(singular, plural, n, self.locale, **params)

    def dt(self, moment: datetime) -> str:
        """``moment`` in this recipient's language and timezone."""
        return format_datetime(moment, self.locale, self.timezone)

    def relative(self, delta: timedelta) -> str:
        """``delta`` from now in this recipient's language ("in 2 hours")."""
        return format_relative(delta, self.locale)


# --- catalogs -----------------------------------------------------------------------------------------------------


def preload() -> None:
    """Parse every catalog now instead of on first use.

    Call it once at startup, before the event loop runs or via ``asyncio.to_thread``: the lazy first read is file
    I/O, which should not happen inside a request on the event loop.
    """
    for locale in SUPPORTED_LOCALES:
        _translations(locale)


@functools.cache
def _translations(locale: str) -> gettext.NullTranslations:
    """The catalog of a supported language: read from the packaged ``.po`` on first use, then cached."""
    resource = files(__name__) / "locale" / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    try:
        with resource.open("rb") as handle:
            catalog = read_po(handle, locale=locale, domain=DOMAIN)
    except FileNotFoundError:
        log.warning("no message catalog for %r; showing the English texts", locale)
        return gettext.NullTranslations()
    return _compile(catalog)


def _compile(catalog: Catalog) -> gettext.GNUTranslations:
    """gettext's lookup (plural rule from the header included) over the usable translations of ``catalog``.

    Empty and fuzzy translations are left out, so they fall back to the English msgid; so is a plural with an
    untranslated form, for which gettext would otherwise return "".
    """
    for message in list(catalog)[1:]:
        if isinstance(message.string, tuple) and not all(message.string):
            catalog.delete(message.id, message.context)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


class _Missing:
    """Stands in for a parameter the caller did not pass: formats back to its own ``{placeholder}``."""

    __slots__ = ("_field",)

    def __init__(self, field: str) -> None:
        self._field = field

    def __format__(self, spec: str) -> str:
        return "{" + self._field + (":" + spec if spec else "") + "}"

    def __str__(self) -> str:
        return "{" + self._field + "}"

    __repr__ = __str__

    def __getattr__(self, name: str) -> _Missing:
        if name.startswith("__"):  # copy, pickle and friends probe for dunders; do not pretend to have them
            raise AttributeError(name)
        return _Missing(f"{self._field}.{name}")

    def __getitem__(self, key: object) -> _Missing:
        return _Missing(f"{self._field}[{key}]")


class _Params(dict[str, object]):
    def __missing__(self, key: str) -> _Missing:
        return _Missing(key)


def _fill(text: str, params: Mapping[str, object]) -> str:
    try:
        return text.format_map(_Params(params))
    except (ValueError, TypeError, IndexError, KeyError, AttributeError):
        # A malformed translation ("{", "{0}", a format spec that does not fit the value) must not turn a message
        # into a crash; show it unfilled and leave a trace for the translator.
        log.warning("cannot fill in the message %r with %r", text, sorted(params), exc_info=True)
        return text


# --- helpers ------------------------------------------------------------------------------------------------------


def _require_supported(locale: str) -> None:
    if locale not in SUPPORTED_LOCALES:
        raise ValueError(f"unsupported locale {locale!r}; expected one of {SUPPORTED_LOCALES} (see normalise_locale)")


def _language(value: str | None) -> str | None:
    if not value:
        return None
    language = _TAG_SEPARATORS.split(value.strip(), maxsplit=1)[0].lower()
    language = _LANGUAGE_ALIASES.get(language, language)
    return language if language in SUPPORTED_LOCALES else None


@functools.cache
def _babel_locale(locale: str) -> Locale:
    return Locale.parse(locale)


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as exc:
        raise ValueError(f"unknown timezone {timezone!r}; expected an IANA name like 'Europe/Berlin'") from exc
