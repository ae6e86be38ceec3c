"""Dutch names: sorting on the surname without its prefix (tussenvoegsel)."""

from __future__ import annotations


def surname_key(family_name: str) -> str:
    """Return the part of a family name a Dutch list sorts on.

    Prefixes are written in lower case before the surname ("de Wit",
    "van den Berg", "el Amrani", "'t Hart"); the list sorts on "Wit", "Berg",
    "Amrani", "Hart".
    """
    words = family_name.split()
    while len(words) > 1 and (words[0].islower() or words[0].startswith("'")):
        words.pop(0)
    return " ".join(words).casefold()


def by_surname(rows: list) -> list:
    """Sort persons or students as a Dutch list does: surname, given name, id."""
    return sorted(
        rows,
        key=lambda row: (
            surname_key(row.family_name),
            row.given_name.casefold(),
            row.id,
        ),
    )
