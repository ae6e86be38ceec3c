"""Translations: Dutch first, English second, through Babel catalogs."""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES: tuple[str, ...] = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
CATALOG_DIR = Path(__file__).parent / "translations"

_language: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)


@cache
def translations(language: str) -> NullTranslations:
    """Load a language's catalog from its .po file (English is the source)."""
    po_path = CATALOG_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def set_language(language: str | None) -> str:
    chosen = language if language in LANGUAGES else DEFAULT_LANGUAGE
    _language.set(chosen)
    return chosen


def current_language() -> str:
    return _language.get()


def gettext(message: str, **variables) -> str:
    text = translations(current_language()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables) -> str:
    text = translations(current_language()).ngettext(singular, plural, n)
    variables.setdefault("num", n)
    return text % variables


_ = gettext


def lazy(message: str) -> str:
    """Mark a string for extraction; translate it where it is shown."""
    return message


SECTION_TITLES: dict[str, str] = {
    "personal": lazy("Personal details"),
    "absence": lazy("Absence"),
    "results": lazy("Results"),
    "tests": lazy("Tests"),
    "reports": lazy("Reports"),
    "meetings": lazy("Meetings"),
    "care": lazy("Care and support"),
    "notes": lazy("Logbook"),
    "documents": lazy("Documents"),
}

ROLE_TITLES: dict[str, str] = {
    "guardian": lazy("guardian"),
    "parent": lazy("parent without authority"),
    "carer": lazy("care professional"),
    "self": lazy("student"),
    "admin": lazy("administrator"),
    "mentor": lazy("mentor"),
    "care": lazy("care coordinator"),
}


def section_title(key: str) -> str:
    return gettext(SECTION_TITLES[key])


def role_title(key: str) -> str:
    return gettext(ROLE_TITLES.get(key, key))
