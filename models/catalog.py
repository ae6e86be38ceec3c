"""The translation catalog, shared by the pages, the e-mails and the notices.

English is the source language; the Dutch texts live in one .po file under
web/translations, read with Babel. Nothing here depends on a request, so the
jobs and the Postkantoor notices translate with it as the pages do.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES: tuple[str, ...] = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
CATALOG_DIR = Path(__file__).resolve().parent.parent / "web" / "translations"


def known_language(language: str | None) -> str:
    """Return the language if the product speaks it, else the default."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


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


def translate(language: str | None, message: str, **variables) -> str:
    """Translate a message into a person's language, filling in the values."""
    text = translations(known_language(language)).gettext(message)
    return text % variables if variables else text


def lazy(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
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
