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


def test_no_message_holds_markup():
    # Pages write a translated message as text, escaped like any value
    # (web.rendering): a message with a tag in it would show the tag.
    catalog = dutch_catalog()
    texts = [m for m in extracted_messages()]
    texts += [m.string for m in catalog if m.id and isinstance(m.string, str)]

    assert len(texts) > 100
    assert [text for text in texts if "<" in text or ">" in text] == []


async def test_a_translated_message_and_its_values_are_escaped(app):
    from web.i18n import set_language

    env = app.extensions["plain_jinja"]
    template = env.from_string(
        '<p title="{{ _("Page %(number)s", number=n) }}">{{ _("Who looked") }}</p>'
    )
    async with app.test_request_context("/"):
        set_language("nl")
        html = template.render(n='"><script>x</script>')

    assert '<p title="Pagina &#34;&gt;&lt;script&gt;x&lt;/script&gt;">' in html
    assert "<script>" not in html
