"""The plain Jinja environment the pages render with."""

from __future__ import annotations

import pytest
from jinja2 import Environment
from markupsafe import Markup
from quart import url_for

from web import rendering


async def test_template_links_are_quarts_links(app):
    template_url_for = app.extensions["plain_jinja"].globals["url_for"]
    calls = [
        ("static", {"filename": "app.css"}),
        ("portal.student", {"student_id": 7}),
        ("portal.student", {"student_id": 8}),
        ("portal.section", {"student_id": 7, "section": "results", "page": 2}),
        ("portal.section", {"student_id": 7, "section": "results", "page": 3}),
        ("portal.section", {"section": "results", "page": 3, "student_id": 7}),
    ]
    async with app.test_request_context("/"):
        for endpoint, values in calls * 2:  # the second round is remembered
            assert template_url_for(endpoint, **values) == url_for(endpoint, **values)


async def test_remembered_links_follow_where_the_app_is_mounted(app):
    template_url_for = app.extensions["plain_jinja"].globals["url_for"]
    async with app.test_request_context("/"):
        at_root = template_url_for("portal.student", student_id=7)
    async with app.test_request_context("/", root_path="/school"):
        mounted = template_url_for("portal.student", student_id=7)

    assert at_root == "/students/7/"
    assert mounted == "/school/students/7/"


async def test_remembered_links_stay_bounded(app, monkeypatch):
    monkeypatch.setattr(rendering, "URL_CACHE_SIZE", 3)
    template_url_for = rendering.remembering_url_for()
    async with app.test_request_context("/"):
        links = [template_url_for("portal.student", student_id=n) for n in range(10)]
        again = [template_url_for("portal.student", student_id=n) for n in range(10)]

    assert links == again == [f"/students/{n}/" for n in range(10)]
    assert 0 < len(template_url_for.links) <= 3


def test_record_dates_read_the_same_from_either_database():
    from datetime import date

    from web.records import date_texts

    # PostgreSQL gives a date, SQLite its ISO text.
    assert date_texts(date(2026, 3, 7)) == ("2026-03-07", "07-03-2026")
    assert date_texts("2026-03-07") == ("2026-03-07", "07-03-2026")


class Shown:
    """A value that knows its own HTML, as markupsafe's protocol allows."""

    def __html__(self) -> str:
        return "<em>as it is</em>"


ESCAPE_CASES = [
    "{{ v }}",
    "<p title='{{ v }}'>{{ v }}</p>",
    "{% set x %}<i>{{ v }}</i>{% endset %}{{ x }}|{{ x|upper }}|{{ x ~ v }}",
    "{% macro m(a) %}<b>{{ a }}</b>{% endmacro %}{{ m(v) }}{{ m(m(v)) }}",
    "{% macro c() %}[{{ caller() }}]{% endmacro %}{% call c() %}{{ v }}{% endcall %}",
    "{{ '<x>' ~ v }}{{ v|e }}{{ v|tojson }}{{ v|default('<d>') }}{{ v|string }}",
    "{% for i in [v, v] %}{{ loop.index }}{{ i }}{% endfor %}",
    "{{ v if v else '<none>' }}{{ [v]|join('<br>') }}{{ v|replace('a', '<a>') }}",
]
ESCAPE_VALUES = [
    "<a href=\"x\">Tom & 'Jerry'</a>",
    "",
    7,
    3.5,
    None,
    True,
    Markup("<b>safe & sound</b>"),
    Shown(),
    ["<li>", Markup("<li>")],
]


@pytest.mark.parametrize("source", ESCAPE_CASES)
def test_pages_escape_exactly_as_jinja_does(source):
    ours = rendering.PageEnvironment(autoescape=True)
    jinjas = Environment(autoescape=True)

    for value in ESCAPE_VALUES:
        assert outcome(ours, source, value) == outcome(jinjas, source, value), value


def outcome(env: Environment, source: str, value) -> str:
    """Return the rendering, or the kind of error it raised (tojson of an
    object has none)."""
    try:
        return env.from_string(source).render(v=value)
    except TypeError as error:
        return f"TypeError: {error}"


def test_pages_compile_their_output_to_the_plain_text_escape():
    source = rendering.PageEnvironment(autoescape=True).compile("{{ v }}", raw=True)

    assert "environment.escape_text(" in source
    assert "escape(" not in source.replace("escape_text(", "")
