"""Translations: Dutch first, English second, through Babel catalogs."""

from __future__ import annotations

from contextvars import ContextVar
from functools import cache

from models.catalog import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    SECTION_TITLES,
    known_language,
    lazy,
    translations,
)

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "gettext",
    "lazy",
    "ngettext",
    "set_language",
]

_language: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)


def set_language(language: str | None) -> str:
    chosen = known_language(language)
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


@cache
def _section_titles(language: str) -> dict[str, str]:
    table = translations(language)
    return {key: table.gettext(title) for key, title in SECTION_TITLES.items()}


def section_titles() -> dict[str, str]:
    """Return every section's title in the current language, by key (the
    menu names every section it shows with one call)."""
    return _section_titles(current_language())


def role_title(key: str) -> str:
    return gettext(ROLE_TITLES.get(key, key))
