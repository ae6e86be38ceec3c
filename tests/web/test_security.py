"""Escaping, SQL, CSRF, headers, errors, caching and query counts
(SECURITY-BASELINE A24, A27, A29, A31, A36, A38; SPEC.md section 11)."""

from __future__ import annotations

import ast
import json
import logging
import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from tortoise import connections

from models.entities import Person, Record, Result, School, Session
from models.settings import ConfigurationError, Settings
from tests.factories import link, make_class, make_person, make_school, make_student
from tests.web.test_routes import (
    HTMX,
    ROLES,
    build_world,
    route_targets,
    sign_in_as,
)
from web import create_app

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
CODE_DIRS = ("web", "models", "tasks")

XSS_NAME = '"><img src=x onerror=alert(1)>'
XSS_BODY = '<div hx-get="/admin/x" hx-trigger="load">'
ESCAPED_NAME = "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"
ESCAPED_BODY = "&lt;div hx-get=&#34;/admin/x&#34; hx-trigger=&#34;load&#34;&gt;"


class Tags(HTMLParser):
    """Collect the start tags of a page with their attributes."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


# ------------------------------------------------------------- A24


@pytest.fixture
async def hostile(database):
    """A student and a record whose text is markup, seen by family and staff."""
    school = await make_school()
    admin = await make_person(school, staff_role="admin")
    guardian = await make_person(school, given_name=XSS_NAME)
    kid = await make_student(
        school, given_name=XSS_NAME, homeroom=await make_class(school)
    )
    await link(guardian, kid)
    await Record.create(
        student=kid,
        section="notes",
        date=date(2026, 9, 1),
        title=XSS_BODY,
        body=XSS_BODY,
    )
    return dict(kid=kid, guardian=guardian, admin=admin)


async def test_markup_in_data_is_shown_as_text(hostile, sign_in):
    kid = hostile["kid"].id
    family = await sign_in(hostile["guardian"])
    staff = await sign_in(hostile["admin"])
    visits = [
        (family, f"/students/{kid}/", {}, [ESCAPED_NAME]),
        (family, f"/students/{kid}/personal", {}, [ESCAPED_NAME]),
        (family, f"/students/{kid}/personal", HTMX, [ESCAPED_NAME]),
        (family, f"/students/{kid}/notes", {}, [ESCAPED_NAME, ESCAPED_BODY]),
        (family, f"/students/{kid}/notes", HTMX, [ESCAPED_BODY]),
        (staff, "/staff/", {}, [ESCAPED_NAME]),
        (staff, f"/staff/students/{kid}/", {}, [ESCAPED_NAME]),
        (staff, f"/staff/students/{kid}/notes", {}, [ESCAPED_NAME, ESCAPED_BODY]),
        (staff, f"/staff/students/{kid}/notes", HTMX, [ESCAPED_BODY]),
    ]

    for client, url, headers, escaped in visits:
        response = await client.get(url, headers=headers)
        body = await response.get_data(True)
        tags = Tags(body)

        assert response.status_code == 200, url
        for text in escaped:
            assert text in body, url
        assert "<img src=x" not in body and '<div hx-get="/admin/x"' not in body
        assert tags.find("img") == [], url
        assert not [a for _, a in tags.tags if a.get("hx-get") == "/admin/x"], url
        assert not [a for _, a in tags.tags if any(k.startswith("on") for k in a)]


def test_every_template_is_html_so_it_is_autoescaped(app):
    names = [p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*")]
    files = [n for n in names if (TEMPLATES / n).is_file()]

    assert files, "no templates found"
    assert [n for n in files if not n.endswith(".html")] == []
    environments = [app.jinja_env, *app.extensions.values()]
    environments = [e for e in environments if hasattr(e, "select_template")]
    assert len(environments) >= 1
    for env in environments:
        for name in files:
            autoescape = env.autoescape
            assert autoescape(name) if callable(autoescape) else autoescape, name


UNSAFE_TEMPLATE_CODE = re.compile(
    r"\|\s*safe\b|Markup\(|autoescape\s*(false|=\s*False)|render_template_string",
    re.IGNORECASE,
)


def source_files(*suffixes: str) -> list[Path]:
    files = [TEMPLATES.rglob("*.html")]
    files += [(ROOT / d).rglob("*.py") for d in CODE_DIRS]
    return [
        path
        for group in files
        for path in group
        if "migrations" not in path.parts and path.suffix in suffixes
    ]


def test_no_code_or_template_turns_escaping_off():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in source_files(".py", ".html")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if UNSAFE_TEMPLATE_CODE.search(line)
    ]

    assert found == []


def test_the_unsafe_template_pattern_finds_what_it_should():
    for line in ("{{ x|safe }}", "{{ x | safe }}", "Markup(x)", "autoescape=False"):
        assert UNSAFE_TEMPLATE_CODE.search(line), line
    assert not UNSAFE_TEMPLATE_CODE.search("{{ x|tojson }}")


# ------------------------------------------------------------- A27

SQL_METHODS = frozenset(
    {
        "fetch",  # models.sql, the hot paths' hand-written statements
        "raw",
        "RawSQL",
        "execute_query",
        "execute_query_dict",
        "execute_script",
        "execute_insert",
        "execute_many",
    }
)


def string_built(node: ast.AST) -> bool:
    """True for an f-string, %-formatting, concatenation or str.format()."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return True
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    )


def string_built_sql(source: str) -> list[int]:
    """Return the lines where SQL text reaching the database is built from strings."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in SQL_METHODS:
            continue
        queries = [
            *node.args[:1],
            *(k.value for k in node.keywords if k.arg == "query"),
        ]
        if any(string_built(q) for q in queries):
            lines.append(node.lineno)
    return lines


def test_no_sql_is_built_from_strings_outside_migrations():
    found = {
        str(path.relative_to(ROOT)): lines
        for path in source_files(".py")
        if (lines := string_built_sql(path.read_text()))
    }

    assert found == {}


def test_the_sql_scan_finds_what_it_should():
    built = [
        'conn.execute_query(f"SELECT * FROM person WHERE id = {x}")',
        'conn.execute_script("DELETE FROM %s" % table)',
        'Person.raw("SELECT " + column)',
        'conn.execute_query_dict(query="SELECT {}".format(x))',
        'RawSQL(f"lower({name})")',
    ]
    safe = ['conn.execute_query("SELECT * FROM person WHERE id = $1", [x])']

    assert [bool(string_built_sql(code)) for code in built] == [True] * len(built)
    assert [bool(string_built_sql(code)) for code in safe] == [False]


# ------------------------------------------------------------- A29


@pytest.fixture
async def person(database) -> Person:
    school = await make_school()
    return await make_person(school, language="nl")


def security_warnings(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "inzage.security" and r.levelno == logging.WARNING
    ]


async def language_of(person: Person) -> str:
    return (await Person.get(id=person.id)).language


async def test_post_without_a_token_is_refused(person, sign_in, caplog):
    client = await sign_in(person)

    language = await client.post("/language", form={"language": "en"})
    logout = await client.post("/logout", form={})

    assert language.status_code == 403 and logout.status_code == 403
    assert await language_of(person) == "nl"
    assert await Session.filter(person_id=person.id).count() == 1
    assert len(security_warnings(caplog)) == 2


async def test_a_token_from_another_session_is_refused(person, sign_in):
    client = await sign_in(person)
    other = await sign_in(await make_person(await School.get(id=person.school_id)))

    response = await client.post(
        "/language", form={"csrf_token": other.csrf, "language": "en"}
    )

    assert response.status_code == 403
    assert await language_of(person) == "nl"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://localhost"},
    ],
)
async def test_a_valid_token_from_another_site_is_refused_and_logged(
    person, sign_in, caplog, headers
):
    client = await sign_in(person)
    caplog.set_level(logging.INFO, logger="inzage.security")

    response = await client.post(
        "/language", form=client.form(language="en"), headers=headers
    )

    assert response.status_code == 403
    assert await language_of(person) == "nl"
    warnings = security_warnings(caplog)
    assert len(warnings) == 1 and "csrf" in warnings[0].getMessage()
    assert client.csrf not in warnings[0].getMessage()
    assert client.token not in caplog.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://localhost", "Sec-Fetch-Site": "same-origin"},
        # What Chromium sends on a same-origin form post under our
        # Referrer-Policy no-referrer: the fetch metadata decides.
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    ],
)
async def test_same_origin_post_with_the_token_works(person, sign_in, headers):
    client = await sign_in(person)

    response = await client.post(
        "/language", form=client.form(language="en"), headers=headers
    )

    assert response.status_code == 302
    assert await language_of(person) == "en"


async def test_htmx_post_carries_the_token_in_a_header(person, sign_in):
    client = await sign_in(person)
    page = await (await client.get("/login", follow_redirects=True)).get_data(True)
    body = Tags(page).find("body")[0]

    assert json.loads(body["hx-headers"]) == {"X-CSRF-Token": client.csrf}
    response = await client.post(
        "/language",
        form={"language": "en"},
        headers={**HTMX, "X-CSRF-Token": client.csrf},
    )
    assert response.status_code == 302
    assert await language_of(person) == "en"


async def test_sign_in_post_needs_this_browsers_token(client, app, person):
    other = app.test_client()
    page = await (await other.get("/login")).get_data(True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    fields = {"school": "TEST", "email": person.email, "password": "x"}

    without = await client.post("/login", form=fields)
    foreign = await client.post("/login", form={"csrf_token": token, **fields})

    assert without.status_code == 403 and foreign.status_code == 403


# ------------------------------------------------------------- A31, A36, A38


def check_headers(response) -> list[str]:
    """Return what is missing from a response's security headers."""
    problems = []
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {
        part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()
    }
    for name in ("object-src", "base-uri", "frame-ancestors"):
        if directives.get(name) != ["'none'"]:
            problems.append(f"CSP {name}")
    script = directives.get("script-src", directives.get("default-src"))
    if not script or {"'unsafe-inline'", "'unsafe-eval'"} & set(script):
        problems.append("CSP script-src")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("nosniff")
    referrer = response.headers.get("Referrer-Policy", "")
    if referrer not in ("no-referrer", "same-origin", "strict-origin"):
        problems.append("Referrer-Policy")
    return problems


def no_store(response) -> bool:
    return "no-store" in response.headers.get("Cache-Control", "")


def add_failing_route(app) -> str:
    async def fail():
        raise RuntimeError(
            "SELECT password_hash FROM person WHERE id = 1 in /srv/inzage/web/x.py"
        )

    app.add_url_rule("/test-only/fail", "test_only_fail", fail)
    return "/test-only/fail"


async def test_a_failure_gets_a_generic_page_with_the_headers(app, client, sign_in):
    url = add_failing_route(app)
    signed_in = await sign_in(await make_person(await make_school()))

    for visitor in (client, signed_in):
        for headers in ({}, HTMX):
            response = await visitor.get(url, headers=headers)
            body = await response.get_data(True)

            assert response.status_code == 500
            assert check_headers(response) == []
            assert no_store(response)
            for leak in ("Traceback", "SELECT", "password_hash", "/srv/", ".py"):
                assert leak not in body, leak
            assert "RuntimeError" not in body


async def test_a_failure_before_the_view_gets_the_generic_page(
    app, client, monkeypatch
):
    async def database_gone(token, **kwargs):
        raise ConnectionError("connection to /var/run/postgresql/.s.PGSQL.5432 lost")

    monkeypatch.setattr("web.security.load_session", database_gone)

    for headers in ({}, HTMX):
        response = await client.get("/students/1/", headers=headers)
        body = await response.get_data(True)

        assert response.status_code == 500
        assert check_headers(response) == [] and no_store(response)
        assert "PGSQL" not in body and "Traceback" not in body


async def test_headers_on_redirects_errors_and_static_files(app, client, person):
    responses = {
        "302": await client.get("/"),
        "401": await client.get("/students/1/", headers=HTMX),
        "403": await client.post("/language", form={"language": "en"}),
        "404": await client.get("/no/such/page"),
        "405": await client.get("/logout"),
        "login": await client.get("/login"),
        "health": await client.get("/health"),
        "css": await client.get("/static/app.css"),
        "htmx": await client.get("/static/htmx-2.0.10.min.js"),
    }

    assert [r.status_code for r in responses.values()] == [
        302, 401, 403, 404, 405, 200, 200, 200, 200,
    ]  # fmt: skip
    assert {name: check_headers(r) for name, r in responses.items()} == {
        name: [] for name in responses
    }


@pytest.fixture
async def world(database):
    return await build_world(database)


@pytest.mark.parametrize("role", ROLES)
async def test_every_response_is_safe_to_cache_and_to_render(
    app, world, client, sign_in, role
):
    """Crawl every GET route: headers, no-store, no inline script, no secrets."""
    client = await sign_in_as(role, world, client, sign_in)
    secrets = [s for s in (getattr(client, "token", None), client.csrf) if s]

    problems: dict[str, list] = {
        "headers": [],
        "no-store": [],
        "inline": [],
        "url": [],
        "htmx-config": [],
    }
    for target in route_targets(app, world):
        if target.method != "GET":
            continue
        for headers in ({}, HTMX):
            response = await client.get(target.url, headers=headers)
            where = (target.url, bool(headers), response.status_code)
            if missing := check_headers(response):
                problems["headers"].append((where, missing))
            if target.endpoint != "static" and not no_store(response):
                problems["no-store"].append(where)
            urls = [response.headers.get(h) for h in ("Location", "HX-Redirect")]
            if response.mimetype == "text/html":
                html = await response.get_data(True)
                problems["inline"] += [(where, s) for s in inline_code(html)]
                urls += page_urls(html)
                full_page = "<html" in html and not response.status_code // 100 == 3
                if full_page and not history_is_off(html):
                    problems["htmx-config"].append(where)
            for url in filter(None, urls):
                if secret_in_url(url, secrets):
                    problems["url"].append((where, url))

    assert problems == {name: [] for name in problems}


URL_ATTRIBUTES = ("href", "src", "action", "formaction", "hx-get", "hx-post")


def inline_code(html: str) -> list[str]:
    """Return inline scripts and event-handler attributes in a page."""
    found = []
    tags = Tags(html)
    for attrs in tags.find("script"):
        if not attrs.get("src"):
            found.append("<script> without src")
    for tag, attrs in tags.tags:
        found += [f"<{tag} {name}>" for name in attrs if name.startswith("on")]
        found += [f"<{tag} {name}>" for name in attrs if name.startswith("hx-on")]
    return found


def page_urls(html: str) -> list[str]:
    return [
        value
        for _, attrs in Tags(html).tags
        for name, value in attrs.items()
        if name in URL_ATTRIBUTES and value
    ]


def secret_in_url(url: str, secrets: list[str]) -> bool:
    query = {key.lower() for key, _ in parse_qsl(urlsplit(url).query)}
    named = query & {"csrf_token", "csrf", "token", "sid", "session"}
    return bool(named) or any(secret in url for secret in secrets)


def history_is_off(html: str) -> bool:
    """True when htmx keeps no copy of pages in the browser's storage."""
    tags = Tags(html)
    config = [a["content"] for a in tags.find("meta") if a.get("name") == "htmx-config"]
    body = tags.find("body")
    return (
        len(config) == 1
        and json.loads(config[0]).get("historyCacheSize") == 0
        and json.loads(config[0]).get("allowEval") is False
        and len(body) == 1
        and body[0].get("hx-history") == "false"
    )


def test_base_template_turns_htmx_history_off():
    base = (TEMPLATES / "base.html").read_text()

    assert '"historyCacheSize": 0' in base
    assert 'hx-history="false"' in base


def production_settings(settings: Settings, **overrides) -> Settings:
    """Production settings on the test run's database.

    create_app(manage_database=False) opens no connection; requests use the
    ORM the test run opened. On SQLite the URL only has to be a PostgreSQL
    URL for the start-up check.
    """
    fields = dict(
        env="production",
        data_dir=settings.data_dir,
        secret_key="production-test-secret-" + "p" * 32,
        database_url=settings.database_url or "postgres://inzage@127.0.0.1/inzage",
        smtp_host="x",
    )
    fields.update(overrides)
    return Settings(**fields)


async def test_production_sends_hsts_and_runs_without_debug(database):
    app = create_app(production_settings(database), manage_database=False)
    url = add_failing_route(app)
    client = app.test_client()

    responses = [
        await client.get("/login", scheme="https"),
        await client.get("/health", scheme="https"),
        await client.get("/static/app.css", scheme="https"),
        await client.get(url, scheme="https"),
    ]

    assert app.debug is False and app.config["DEBUG"] is False
    assert app.testing is False and not app.config["PROPAGATE_EXCEPTIONS"]
    assert [r.status_code for r in responses] == [200, 200, 200, 500]
    for response in responses:
        hsts = response.headers["Strict-Transport-Security"]
        max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
        assert max_age >= 31536000 and "includesubdomains" in hsts.lower()
        assert check_headers(response) == []
    assert "Traceback" not in await responses[-1].get_data(True)


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ({"secret_key": None}, "INZAGE_SECRET_KEY"),
        ({"secret_key": "too-short"}, "INZAGE_SECRET_KEY"),
        ({"database_url": None}, "INZAGE_DATABASE_URL"),
        ({"database_url": "sqlite://inzage.sqlite3"}, "INZAGE_DATABASE_URL"),
        ({"smtp_host": None}, "INZAGE_SMTP_HOST"),
    ],
)
def test_production_refuses_to_start_without_what_it_needs(settings, missing, named):
    with pytest.raises(ConfigurationError, match=named):
        create_app(production_settings(settings, **missing), manage_database=False)


def test_production_names_everything_that_is_missing():
    with pytest.raises(ConfigurationError) as error:
        create_app(Settings(env="production"), manage_database=False)

    for name in ("INZAGE_SECRET_KEY", "INZAGE_DATABASE_URL", "INZAGE_SMTP_HOST"):
        assert name in str(error.value)


# ------------------------------------------------------------- query counts


class QueryCounter:
    """Count the statements sent to the database, once per outer call."""

    METHODS = (
        "execute_query",
        "execute_query_dict",
        "execute_insert",
        "execute_many",
        "execute_script",
    )

    def __init__(self, monkeypatch) -> None:
        self.queries: list[str] = []
        self._depth = 0
        conn = connections.get("default")
        for name in self.METHODS:
            monkeypatch.setattr(conn, name, self._wrap(getattr(conn, name)))

    def _wrap(self, method):
        async def counted(query, *args, **kwargs):
            if self._depth == 0:
                self.queries.append(query)
            self._depth += 1
            try:
                return await method(query, *args, **kwargs)
            finally:
                self._depth -= 1

        return counted

    async def count(self, call) -> int:
        start = len(self.queries)
        await call()
        return len(self.queries) - start


# The queries of one section page: the session with the person's view of the
# student (relation, student, school, family, approvals and the child
# switcher), one, which on PostgreSQL reads the page's records too; the
# records, on SQLite; the access log row (shared with the views that arrive
# at the same moment, models.access_log).
def section_page_queries() -> int:
    return 2 if connections.get("default").capabilities.dialect == "postgres" else 3


async def test_section_page_queries_do_not_grow_with_records_or_sections(
    database, sign_in, monkeypatch
):
    school = await make_school(sections=["results"])
    guardian = await make_person(school)
    kid = await make_student(school)
    await link(guardian, kid)
    client = await sign_in(guardian)
    url = f"/students/{kid.id}/results"
    counter = QueryCounter(monkeypatch)

    async def measure() -> tuple[int, int]:
        async def page():
            assert (await client.get(url)).status_code == 200

        async def fragment():
            assert (await client.get(url, headers=HTMX)).status_code == 200

        return await counter.count(page), await counter.count(fragment)

    await Result.create(student=kid, date=date(2026, 1, 1), subject="S0")
    one_record = await measure()
    await Result.bulk_create(
        [
            Result(student=kid, date=date(2026, 1, 2), subject=f"S{n}")
            for n in range(199)
        ]
    )
    many_records = await measure()
    await School.filter(id=school.id).update(sections=[])  # every section in use
    all_sections = await measure()

    assert one_record == many_records == all_sections
    expected = section_page_queries()
    assert one_record == (expected, expected)
    assert max(one_record) <= 8
