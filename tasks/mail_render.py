"""Render e-mails from templates/email/ in the person's language.

Each kind has an HTML part, ``<kind>.html``, and a plain-text part,
``<kind>.text.html``.

The jobs do not import ``web``: this module has its own Jinja environment over
the same templates folder and reads the same Dutch catalog (the .po file in
web/translations) as the web pages, so a string is translated once for both.
"""

from __future__ import annotations

import html as html_module
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from models.catalog import known_language, translations

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = ROOT / "templates"


@cache
def environment(language: str) -> Environment:
    """One environment per language; HTML parts are autoescaped."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)
    return env


def render_email(kind: str, language: str, **context) -> tuple[str, str]:
    """Return the (plain text, HTML) parts of one kind of e-mail."""
    language = known_language(language)
    env = environment(language)
    context.setdefault("lang", language)
    # Every template is autoescaped (SECURITY-BASELINE A24); the plain-text
    # part is text/plain, where an entity would show as typed, so its escapes
    # are undone: the result is exactly the values, and nothing is markup.
    text = html_module.unescape(
        env.select_template([f"email/{kind}.text.html", f"email/{kind}.txt"]).render(
            context
        )
    )
    html = env.get_template(f"email/{kind}.html").render(context)
    return text, html
