"""The message catalogs cover the code, and psa_chatops.i18n renders texts, dates and durations per recipient.

The catalog checks read the ``.po`` files from the installed package (importlib.resources), so they also catch a
catalog that exists in the source tree but is not shipped. When they fail after a new or changed message, run
``scripts/i18n-update`` and translate what it lists.
"""

from __future__ import annotations

import dataclasses
import logging
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import psa_chatops
from psa_chatops import i18n
from psa_chatops.core.errors import N_, InvalidError
from psa_chatops.i18n import (
    EXTRACTION_KEYWORDS,
    SUPPORTED_LOCALES,
    Translator,
    format_datetime,
    format_relative,
    normalise_locale,
    pick_locale,
    pick_timezone,
    translate,
    translate_plural,
)

MsgId = str | tuple[str, ...]

# --- helpers and fixtures ---------------------------------------------------------------------------------------------


def _read_catalog(locale: str) -> Catalog:
    resource = files("psa_chatops.i18n") / "locale" / locale / "LC_MESSAGES" / "messages.po"
    with resource.open("rb") as handle:
        return read_po(handle, locale=locale, abort_invalid=True)


def _fields(text: str) -> set[str]:
    """The placeholder names of a str.format template; a malformed template is a failure of its own."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def _forms(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, tuple | list) else (value,)


@pytest.fixture(scope="module")
def extracted() -> dict[str, MsgId]:
    """Every msgid marked in the package, keyed by its (singular) msgid, like the catalog's keys."""
    package_dir = Path(psa_chatops.__file__).parent
    found: dict[str, MsgId] = {}
    for _, _, message, _, _ in extract_from_dir(str(package_dir), keywords=dict(EXTRACTION_KEYWORDS)):
        found[_forms(message)[0]] = message
    return found


@pytest.fixture(scope="module")
def catalogs() -> dict[str, Catalog]:
    return {locale: _read_catalog(locale) for locale in SUPPORTED_LOCALES}


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    i18n._translations.cache_clear()
    yield
    i18n._translations.cache_clear()


def _entries(catalog: Catalog) -> list[tuple[MsgId, tuple[str, ...]]]:
    """(msgid, translated forms) of every message but the header."""
    return [(m.id if isinstance(m.id, str) else tuple(m.id), _forms(m.string)) for m in list(catalog)[1:]]


# --- catalogs ---------------------------------------------------------------------------------------------------------


def test_the_extraction_keywords_cover_the_conventions() -> None:
    assert {"N_", "_", "translate"} <= EXTRACTION_KEYWORDS.keys()
    assert EXTRACTION_KEYWORDS["translate_plural"] == (1, 2)


def test_extraction_finds_the_marked_messages(extracted: dict[str, MsgId]) -> None:
    assert "A ticket needs a title." in extracted  # core/ticket_decisions.py, marked with N_
    assert "Ticket #{number} is already assigned to {assignee}." in extracted
    assert "now" in extracted  # i18n itself, through translate()


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_each_supported_locale_ships_a_catalog_for_its_language(locale: str, catalogs: dict[str, Catalog]) -> None:
    catalog = catalogs[locale]
    assert str(catalog.locale) == locale
    assert catalog.num_plurals == 2


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_catalog_is_in_sync_with_the_code(
    locale: str, extracted: dict[str, MsgId], catalogs: dict[str, Catalog]
) -> None:
    in_catalog = {_forms(m.id)[0]: m.id for m in list(catalogs[locale])[1:]}
    missing = sorted(extracted.keys() - in_catalog.keys())
    stale = sorted(in_catalog.keys() - extracted.keys())
    changed_plurals = sorted(k for k in extracted.keys() & in_catalog.keys() if extracted[k] != in_catalog[k])
    assert (missing, stale, changed_plurals) == ([], [], []), "run scripts/i18n-update"


def test_every_msgid_has_a_german_translation(extracted: dict[str, MsgId], catalogs: dict[str, Catalog]) -> None:
    german = catalogs["de"]
    untranslated = []
    for key in sorted(extracted):
        message = german.get(key)
        if message is None or message.fuzzy or not all(form.strip() for form in _forms(message.string)):
            untranslated.append(key)
    assert untranslated == [], "translate these in src/psa_chatops/i18n/locale/de/LC_MESSAGES/messages.po"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_translations_keep_the_placeholders_of_the_msgid(locale: str, catalogs: dict[str, Catalog]) -> None:
    mismatched = []
    for msgid, msgstr in _entries(catalogs[locale]):
        translated = [form for form in _forms(msgstr) if form]
        if not translated:
            continue  # falls back to the msgid (the English catalog mostly)
        expected = set().union(*map(_fields, _forms(msgid)))
        # Every form fills in the same values; a plural's singular may spell out the number ("one ticket").
        if isinstance(msgid, tuple):
            ok = set().union(*map(_fields, translated)) == expected
        else:
            ok = _fields(translated[0]) == expected
        if not ok:
            mismatched.append((msgid, msgstr))
    assert mismatched == []


def test_german_catalog_is_formal_not_du(catalogs: dict[str, Catalog]) -> None:
    informal = {"du", "dich", "dir", "dein", "deine", "deinen", "deinem", "deiner", "deines"}
    offending = []
    for msgid, msgstr in _entries(catalogs["de"]):
        words = {w.strip(".,;:!?()\"'").lower() for form in _forms(msgstr) for w in form.split()}
        if words & informal:
            offending.append((msgid, msgstr))
    assert offending == []


# --- translate --------------------------------------------------------------------------------------------------------


def test_translate_looks_up_the_recipients_language() -> None:
    assert translate("A ticket needs a title.", "de") == "Ein Ticket benötigt einen Titel."
    assert translate("A ticket needs a title.", "en") == "A ticket needs a title."


def test_translate_fills_in_the_parameters() -> None:
    msgid = "Ticket #{number} is already assigned to {assignee}."
    assert translate(msgid, "de", number=42, assignee="Anna Weber") == "Ticket #42 ist bereits Anna Weber zugewiesen."
    assert translate(msgid, "en", number=42, assignee="Anna Weber") == "Ticket #42 is already assigned to Anna Weber."


def test_translate_renders_a_domain_error_for_the_recipient() -> None:
    error = InvalidError(N_("The title is too long ({length} characters, at most {limit})."), length=250, limit=200)
    assert translate(error.template, "de", **error.params) == "Der Titel ist zu lang (250 Zeichen, höchstens 200)."
    assert translate(error.template, "en", **error.params) == str(error)


@pytest.mark.parametrize("locale", ["de-DE", "de_AT", "DE"])
def test_translate_accepts_unnormalised_tags(locale: str) -> None:
    assert translate("A note cannot be empty.", locale) == "Eine Notiz darf nicht leer sein."


@pytest.mark.parametrize("locale", ["fr", "", "xx-YY"])
def test_translate_falls_back_to_english_for_other_languages(locale: str) -> None:
    assert translate("A note cannot be empty.", locale) == "A note cannot be empty."


def test_an_unknown_msgid_is_shown_in_english_with_its_parameters() -> None:
    assert translate("Nobody translated {thing} yet.", "de", thing="this") == "Nobody translated this yet."


def test_a_missing_parameter_leaves_its_placeholder() -> None:
    assert translate("Ticket #{number} is already {status}.", "de", number=7) == (
        "Ticket #7 hat bereits den Status {status}."
    )
    assert translate("Ticket #{number} is already {status}.", "en") == "Ticket #{number} is already {status}."


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("at most {limit:,} characters", "at most {limit:,} characters"),
        ("ticket {ticket.number}", "ticket {ticket.number}"),
        ("ticket {ticket[number]}", "ticket {ticket[number]}"),
        ("say {name!r}", "say {name}"),
        ("braces {{literal}} and {given}", "braces {literal} and yes"),
    ],
)
def test_missing_parameters_never_raise_whatever_the_placeholder(template: str, expected: str) -> None:
    assert translate(template, "en", given="yes") == expected


@pytest.mark.parametrize("template", ["unbalanced { brace", "positional {0}", "bad spec {given:d}"])
def test_a_malformed_template_is_shown_unfilled_and_logged(template: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="psa_chatops.i18n"):
        assert translate(template, "en", given="text") == template
    assert "cannot fill in" in caplog.text


def test_extra_parameters_are_ignored() -> None:
    assert translate("A ticket needs a title.", "de", number=1) == "Ein Ticket benötigt einen Titel."


def test_catalogs_are_read_once_and_lazily(fresh_cache: None, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []

    def counting_read_po(*args: object, **kwargs: object) -> Catalog:
        reads.append(str(kwargs.get("locale")))
        return read_po(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("psa_chatops.i18n.read_po", counting_read_po)
    assert reads == []
    for _ in range(3):
        translate("A ticket needs a title.", "de")
        translate("A ticket needs a title.", "en")
    assert sorted(reads) == ["de", "en"]


def test_preload_reads_every_catalog(fresh_cache: None) -> None:
    i18n.preload()
    assert i18n._translations.cache_info().currsize == len(SUPPORTED_LOCALES)


# --- plurals ----------------------------------------------------------------------------------------------------------


def test_translate_plural_without_a_translation_uses_the_english_rule() -> None:
    singular, plural = "{n} open ticket", "{n} open tickets"
    assert translate_plural(singular, plural, 1, "de") == "1 open ticket"
    assert translate_plural(singular, plural, 3, "de") == "3 open tickets"
    assert translate_plural(singular, plural, 0, "en") == "0 open tickets"
    assert translate_plural("{count} note", "{count} notes", 2, "en", count="two") == "two notes"


def _german_with(*messages: tuple[MsgId, MsgId, list[str]]) -> Catalog:
    catalog = Catalog(locale="de")
    for msgid, msgstr, flags in messages:
        catalog.add(msgid, msgstr, flags=flags)
    return catalog


def test_translate_plural_uses_the_catalogs_plural_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = i18n._compile(
        _german_with((("{n} open ticket", "{n} open tickets"), ("Ein offenes Ticket", "{n} offene Tickets"), []))
    )
    monkeypatch.setattr(i18n, "_translations", lambda _locale: compiled)
    assert translate_plural("{n} open ticket", "{n} open tickets", 1, "de") == "Ein offenes Ticket"
    assert translate_plural("{n} open ticket", "{n} open tickets", 5, "de") == "5 offene Tickets"
    assert Translator("de", "UTC").t_plural("{n} open ticket", "{n} open tickets", 0) == "0 offene Tickets"


def test_incomplete_empty_and_fuzzy_translations_fall_back_to_english() -> None:
    compiled = i18n._compile(
        _german_with(
            (("{n} note", "{n} notes"), ("Eine Notiz", ""), []),
            ("Queue", "Warteschlange (ungeprüft)", ["fuzzy"]),
            ("Search results", "", []),
        )
    )
    assert compiled.ngettext("{n} note", "{n} notes", 2) == "{n} notes"
    assert compiled.gettext("Queue") == "Queue"
    assert compiled.gettext("Search results") == "Search results"


# --- locales and timezones --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("de", "de"),
        ("de-DE", "de"),
        ("de_AT", "de"),
        ("de-CH", "de"),
        ("de_DE.UTF-8", "de"),
        (" DE ", "de"),
        ("deu", "de"),
        ("en-GB", "en"),
        ("en_US", "en"),
        ("EN", "en"),
        ("fr-FR", "xx"),
        ("", "xx"),
        (None, "xx"),
        ("C", "xx"),
    ],
)
def test_normalise_locale(value: str | None, expected: str) -> None:
    for default in SUPPORTED_LOCALES:
        assert normalise_locale(value, default) == (default if expected == "xx" else expected)


def test_normalise_locale_rejects_an_unsupported_default() -> None:
    with pytest.raises(ValueError, match="unsupported locale"):
        normalise_locale("de", "de-DE")


def test_pick_locale_takes_the_first_supported_candidate() -> None:
    # Slack user locale unknown, Teams activity in French, contact language German, customer English.
    assert pick_locale(None, "fr-FR", "de-AT", "en", default="en") == "de"
    assert pick_locale("en-GB", "de", default="de") == "en"
    assert pick_locale(None, "", "es", default="de") == "de"
    assert pick_locale(default="en") == "en"


def test_pick_locale_rejects_an_unsupported_default() -> None:
    with pytest.raises(ValueError, match="unsupported locale"):
        pick_locale("de", default="fr")


def test_pick_timezone_takes_the_first_known_zone() -> None:
    assert pick_timezone(None, "", "Mars/Olympus", "Europe/Vienna", "UTC", default="Europe/Berlin") == "Europe/Vienna"
    assert pick_timezone("../etc/passwd", default="UTC") == "UTC"
    with pytest.raises(ValueError, match="unknown timezone"):
        pick_timezone("Europe/Berlin", default="Berlin")


# --- dates and durations ----------------------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """CLDR separates "3:30 AM" with a narrow no-break space; compare the words, not the kind of space."""
    return text.replace("\u202f", " ").replace("\xa0", " ")


@pytest.mark.parametrize(
    ("moment", "locale", "expected"),
    [
        # 2026-03-29: Europe/Berlin skips 02:00-03:00 local (01:00 UTC), from CET (+01:00) to CEST (+02:00).
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "de", "29.03.2026, 01:30 MEZ"),
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "de", "29.03.2026, 03:30 MESZ"),
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "en", "Mar 29, 2026, 1:30 AM +0100"),
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "en", "Mar 29, 2026, 3:30 AM +0200"),
        (datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=2))), "de-DE", "29.03.2026, 03:30 MESZ"),
    ],
)
def test_format_datetime_shows_the_recipients_local_time_across_dst(
    moment: datetime, locale: str, expected: str
) -> None:
    assert _plain(format_datetime(moment, locale, "Europe/Berlin")) == expected


def test_format_datetime_uses_the_recipients_timezone_even_across_midnight() -> None:
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert _plain(format_datetime(moment, "en", "America/New_York")).startswith("Mar 28, 2026, 9:30 PM")
    assert format_datetime(moment, "de", "UTC").startswith("29.03.2026, 01:30")


def test_format_datetime_rejects_naive_datetimes_and_unknown_zones() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_datetime(datetime(2026, 3, 29, 1, 30), "de", "Europe/Berlin")  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="unknown timezone"):
        format_datetime(datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "de", "Europe/Nowhere")


@pytest.mark.parametrize(
    ("delta", "en", "de"),
    [
        (timedelta(hours=2), "in 2 hours", "in 2 Stunden"),
        (timedelta(hours=-3), "3 hours ago", "vor 3 Stunden"),
        (timedelta(minutes=1, seconds=50), "in 2 minutes", "in 2 Minuten"),
        (timedelta(days=-1), "1 day ago", "vor 1 Tag"),
        (timedelta(0), "now", "jetzt"),
        (timedelta(milliseconds=-300), "now", "jetzt"),
    ],
)
def test_format_relative(delta: timedelta, en: str, de: str) -> None:
    assert format_relative(delta, "en") == en
    assert format_relative(delta, "de") == de
    assert format_relative(delta, "de-AT") == de


# --- Translator -------------------------------------------------------------------------------------------------------


def test_translator_binds_language_and_timezone() -> None:
    tr = Translator("de", "Europe/Berlin")
    assert tr.t("Ticket #{number} already has priority {priority}.", number=5, priority="high") == (
        "Ticket #5 hat bereits die Priorität high."
    )
    assert tr.dt(datetime(2026, 3, 29, 1, 30, tzinfo=UTC)) == "29.03.2026, 03:30 MESZ"
    assert tr.relative(timedelta(hours=2)) == "in 2 Stunden"
    assert Translator("en", "UTC").t("Queue") == "Queue"


def test_translator_is_frozen_and_validated() -> None:
    tr = Translator("en", "UTC")
    with pytest.raises(dataclasses.FrozenInstanceError):
        tr.locale = "de"  # type: ignore[misc]
    with pytest.raises(ValueError, match="unsupported locale"):
        Translator("de-DE", "UTC")
    with pytest.raises(ValueError, match="unknown timezone"):
        Translator("de", "Berlin")
    assert Translator(pick_locale("de-DE", default="en"), pick_timezone("Berlin", default="UTC")).locale == "de"
