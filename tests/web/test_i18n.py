"""Every user-facing string has a Dutch translation."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy": None}


def extracted_messages() -> set[str]:
    with (ROOT / "web/translations/babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def dutch_catalog():
    path = ROOT / "web/translations/nl/LC_MESSAGES/messages.po"
    with path.open("rb") as po_file:
        return read_po(po_file, locale="nl")


def test_every_string_has_a_dutch_translation():
    catalog = dutch_catalog()
    messages = extracted_messages()

    assert len(messages) > 50
    missing = sorted(
        m
        for m in messages
        if m not in catalog or not catalog[m].string or catalog[m].fuzzy
    )
    assert missing == [], f"add Dutch for these strings to nl/messages.po: {missing}"


def test_dutch_placeholders_match_the_source():
    import re

    placeholder = re.compile(r"%\((\w+)\)s")
    for message in dutch_catalog():
        if message.id and message.string:
            assert set(placeholder.findall(message.id)) == set(
                placeholder.findall(message.string)
            ), message.id
