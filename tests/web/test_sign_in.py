"""Signing in and out: the session cookie, fixation, replay, and one message
for every failure (SECURITY-BASELINE A14-A16, A22, A30, A32; SPEC.md section 2)."""

from __future__ import annotations

import base64
import hashlib
import re
from http.cookies import SimpleCookie
from urllib.parse import quote

import pytest

from models.entities import Person, School, Session
from models.sessions import COOKIE_NAME
from tests.factories import link, make_person, make_school, make_student
from tests.web.conftest import (
    PASSWORD,
    PASSWORD_HASH,
    assert_sent_to_sign_in,
    sign_in_with_form,
)
from tests.web.test_routes import same_origin_path

CSRF_FIELD = re.compile(rb'name="csrf_token" value="([^"]+)"')
HTMX = {"HX-Request": "true"}


@pytest.fixture
async def account(database):
    school = await make_school("DEMO")
    person = await make_person(
        school, email="sam@example.test", password_hash=PASSWORD_HASH
    )
    kid = await make_student(school, given_name="Sanne", family_name="de Vries")
    await link(person, kid)
    return dict(school=school, person=person, kid=kid)


def set_cookies(response) -> dict[str, str]:
    """Return each Set-Cookie header of a response by cookie name."""
    cookies = {}
    for header in response.headers.getlist("Set-Cookie"):
        cookies[header.split("=", 1)[0]] = header
    return cookies


def cookie_value(response, name: str = COOKIE_NAME) -> str:
    parsed = SimpleCookie()
    parsed.load(set_cookies(response)[name])
    return parsed[name].value


def with_cookie(app, token: str):
    """Return a new client that presents this session cookie, nothing else."""
    client = app.test_client()
    client.set_cookie("localhost", COOKIE_NAME, token, secure=True, httponly=True)
    return client


async def sign_in_ok(app, **overrides):
    fields = dict(school="DEMO", email="sam@example.test", password=PASSWORD)
    fields.update(overrides)
    client = app.test_client()
    response = await sign_in_with_form(client, **fields)
    assert response.status_code == 302, await response.get_data(True)
    return client, response, cookie_value(response)


# ------------------------------------------------------------- A14


async def test_session_cookie_is_an_opaque_random_token_stored_only_hashed(
    app, account
):
    _, response, token = await sign_in_ok(app)
    _, _, second = await sign_in_ok(app)

    assert len(token) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert token != second
    # token_urlsafe(32) decodes to 32 random bytes: no id, no e-mail, no JSON.
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert len(raw) == 32
    person = account["person"]
    assert person.email.encode() not in raw and person.email not in token
    assert "." not in token  # not a signed itsdangerous/Quart session

    rows = await Session.filter(person_id=person.id).values()
    assert len(rows) == 2
    hashes = {row["token_hash"] for row in rows}
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    for row in rows:
        assert token not in {str(value) for value in row.values()}


async def test_the_stored_hash_does_not_open_a_session(app, account):
    await sign_in_ok(app)
    row = await Session.filter(person_id=account["person"].id).first()

    response = await with_cookie(app, row.token_hash).get(
        f"/students/{account['kid'].id}/"
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


# ------------------------------------------------------------- A15


async def test_sign_in_replaces_a_cookie_planted_before(app, account, sign_in):
    # The planted token is a live session (an attacker's, or one left behind).
    planted = await sign_in(account["person"])
    old_token = planted.token

    response = await planted.post(
        "/login",
        form=planted.form(school="DEMO", email="sam@example.test", password=PASSWORD),
    )
    new_token = cookie_value(response)

    assert response.status_code == 302
    assert new_token != old_token
    replay = with_cookie(app, old_token)
    page = await replay.get(f"/students/{account['kid'].id}/")
    fragment = await replay.get(f"/students/{account['kid'].id}/results", headers=HTMX)
    assert page.status_code == 302 and page.headers["Location"] == "/login"
    assert fragment.status_code == 401
    assert fragment.headers["HX-Redirect"] == "/login"
    fresh = await with_cookie(app, new_token).get(f"/students/{account['kid'].id}/")
    assert fresh.status_code == 200


async def test_an_invented_cookie_value_is_not_adopted(app, account):
    client = app.test_client()
    client.set_cookie("localhost", COOKIE_NAME, "attacker-chosen-value-" + "a" * 30)

    response = await sign_in_with_form(client, "DEMO", "sam@example.test", PASSWORD)

    assert cookie_value(response) != "attacker-chosen-value-" + "a" * 30
    assert (
        await Session.filter(
            token_hash=hashlib.sha256(b"attacker-chosen-value-" + b"a" * 30).hexdigest()
        ).count()
        == 0
    )


# ------------------------------------------------------------- A16


async def test_sign_out_kills_the_session_and_clears_the_browser(app, account):
    client, _, token = await sign_in_ok(app)
    kid = account["kid"]
    page = await (await client.get(f"/students/{kid.id}/")).get_data(True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    response = await client.post("/logout", form={"csrf_token": csrf})

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?signed_out=1"
    assert response.headers["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    deleted = set_cookies(response)[COOKIE_NAME]
    assert "Max-Age=0" in deleted or "1970" in deleted
    assert await Session.filter(person_id=account["person"].id).count() == 0

    replay = with_cookie(app, token)
    for url in (f"/students/{kid.id}/", f"/students/{kid.id}/results"):
        again = await replay.get(url)
        fragment = await replay.get(url, headers=HTMX)

        assert again.status_code == 302 and again.headers["Location"] == "/login"
        assert fragment.status_code == 401
        assert fragment.headers["HX-Redirect"] == "/login"
        for response in (again, fragment):
            assert "Sanne" not in await response.get_data(True)


# ------------------------------------------------------------- failures


def without_csrf(body: bytes) -> bytes:
    """Remove the CSRF token's value wherever the page carries it."""
    token = CSRF_FIELD.search(body).group(1)
    return body.replace(token, b"")


async def test_every_sign_in_failure_looks_the_same(app, account):
    """One request, five reasons to refuse it: the answers are identical."""
    person, school = account["person"], account["school"]
    await sign_in_ok(app)  # the request below is right until the data changes

    async def attempt(password: str = PASSWORD) -> tuple[int, bytes]:
        client = app.test_client()
        response = await sign_in_with_form(client, "DEMO", "sam@example.test", password)
        assert COOKIE_NAME not in set_cookies(response)
        return response.status_code, without_csrf(await response.get_data())

    wrong_password = await attempt("wrong " + PASSWORD)
    await Person.filter(id=person.id).update(can_sign_in=False)
    cannot_sign_in = await attempt()
    await Person.filter(id=person.id).update(can_sign_in=True, password_hash=None)
    no_password = await attempt()
    await Person.filter(id=person.id).update(
        password_hash=PASSWORD_HASH, email="someone.else@example.test"
    )
    unknown_email = await attempt()
    await School.filter(id=school.id).update(code="ELSEWHERE")
    unknown_school = await attempt()

    assert wrong_password[0] == 400
    assert b'role="alert"' in wrong_password[1]
    for other in (cannot_sign_in, no_password, unknown_email, unknown_school):
        assert other == wrong_password
    assert await Session.all().count() == 1  # only the first, successful one


async def test_e_mail_and_school_code_are_compared_after_trimming_and_folding(
    app, account
):
    _, response, _ = await sign_in_ok(
        app, school="  demo ", email="  SAM@Example.TEST  "
    )

    assert response.headers["Location"] == "/"


async def test_sign_in_ignores_extra_fields(app, account):
    person = account["person"]
    before = await Person.filter(id=person.id).values()

    client = app.test_client()
    page = await (await client.get("/login")).get_data(True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = await client.post(
        "/login",
        form={
            "csrf_token": token,
            "school": "DEMO",
            "email": "sam@example.test",
            "password": PASSWORD,
            "role": "staff",
            "staff_role": "admin",
            "can_sign_in": "1",
            "school_id": "999",
            "person_id": "999",
            "student_id": str(account["kid"].id),
            "language": "en",
        },
    )
    after = await Person.filter(id=person.id).values()

    assert response.status_code == 302
    assert after[0]["last_sign_in_at"] is not None
    for row in (before[0], after[0]):
        row.pop("last_sign_in_at")
        row.pop("updated_at")
    assert after == before
    assert after[0]["staff_role"] is None
    sessions = await Session.all().values("person_id", "student_id")
    assert sessions == [{"person_id": person.id, "student_id": None}]
    staff = await with_cookie(app, cookie_value(response)).get("/staff/")
    assert staff.status_code == 403


# ------------------------------------------------------------- A30


async def test_session_cookie_attributes(app, account):
    client = app.test_client()
    login_page = await client.get("/login")
    response = await sign_in_with_form(client, "DEMO", "sam@example.test", PASSWORD)

    header = set_cookies(response)[COOKIE_NAME]
    attributes = [part.strip() for part in header.split(";")]
    names = {part.split("=")[0].lower() for part in attributes[1:]}
    assert attributes[0].startswith(f"{COOKIE_NAME}=")
    assert {"path=/", "secure", "httponly", "samesite=lax"} <= {
        part.lower() for part in attributes[1:]
    }
    assert "domain" not in names
    # No cookie the page's scripts could read holds a session or CSRF secret.
    for seen in (login_page, response):
        for name, value in set_cookies(seen).items():
            assert "httponly" in value.lower(), name
            assert "secure" in value.lower(), name


# ------------------------------------------------------------- A32


@pytest.mark.parametrize(
    "target", ["https://evil.example", "//evil.example", "/\\evil.example"]
)
async def test_sign_in_never_redirects_off_site(app, account, target):
    client = app.test_client()
    page = await client.get("/login?next=" + quote(target, safe=""))
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.get_data(True))
    form = dict(
        csrf_token=token.group(1),
        school="DEMO",
        email="sam@example.test",
        password=PASSWORD,
        next=target,
    )

    response = await client.post("/login?next=" + quote(target, safe=""), form=form)

    assert response.status_code == 302
    assert same_origin_path(response.headers["Location"])
    assert "evil" not in response.headers["Location"]


@pytest.mark.parametrize(
    "referrer", ["https://evil.example/x", "//evil.example/x", "/\\evil.example"]
)
async def test_language_switch_never_redirects_off_site(account, sign_in, referrer):
    client = await sign_in(account["person"])

    response = await client.post(
        "/language", form=client.form(language="en"), headers={"Referer": referrer}
    )

    assert response.status_code == 302
    assert same_origin_path(response.headers["Location"])
    assert "evil" not in response.headers["Location"]


async def test_language_switch_returns_to_the_page_it_came_from(account, sign_in):
    client = await sign_in(account["person"])
    back = f"/students/{account['kid'].id}/results?page=2"

    # The page's form names it (no Referer is ever sent: no-referrer).
    response = await client.post(
        "/language", form=client.form(language="en", next=back)
    )

    assert response.headers["Location"] == (
        f"/students/{account['kid'].id}/results?page=2"
    )


async def test_the_language_chosen_on_the_sign_in_page_stays_after_sign_in(
    app, account
):
    client = app.test_client()
    page = await (await client.get("/login")).get_data(True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    await client.post("/language", form={"csrf_token": token, "language": "en"})

    signed = await sign_in_with_form(client, "DEMO", "sam@example.test", PASSWORD)
    welcome = await client.get(signed.headers["Location"], follow_redirects=True)

    assert '<html lang="en">' in await welcome.get_data(True)
    assert (await Person.get(id=account["person"].id)).language == "en"


async def test_sign_out_leaves_the_sign_in_page_in_the_persons_language(
    account, sign_in
):
    await Person.filter(id=account["person"].id).update(language="en")
    client = await sign_in(await Person.get(id=account["person"].id))

    out = await client.post("/logout", form=client.form())
    sign_in_page = await client.get(out.headers["Location"])

    assert out.headers["Location"] == "/login?signed_out=1&lang=en"
    assert "You are signed out." in await sign_in_page.get_data(True)
    assert '<html lang="en">' in await sign_in_page.get_data(True)
    assert set_cookies(sign_in_page)["lang"].startswith("lang=en;")
    assert "lang" not in set_cookies(await client.get("/login?lang=xx"))


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(
    ("path", "fields"),
    [("/language", {"language": "en", "next": "/"}), ("/logout", {})],
)
async def test_a_form_of_an_ended_session_goes_to_sign_in(
    account, sign_in, path, fields, htmx
):
    # The footer's language switch or "Uitloggen" in a tab whose session was
    # ended elsewhere: the token was that session's. Sign in again, not 403.
    client = await sign_in(account["person"])
    await Session.filter(person_id=account["person"].id).delete()

    response = await client.post(
        path, form=client.form(**fields), headers=HTMX if htmx else {}
    )

    assert_sent_to_sign_in(response, htmx)
    person = await Person.get(id=account["person"].id)
    assert person.language == account["person"].language


@pytest.mark.parametrize("path", ["/language", "/logout"])
async def test_a_form_of_a_session_signed_out_in_another_tab_goes_to_sign_in(
    app, account, sign_in, path
):
    # Signing out clears every cookie of the site in every tab: the form of
    # the other tab comes with its session's token and no cookie at all.
    client = await sign_in(account["person"])
    token = client.csrf
    await client.post("/logout", form=client.form())
    bare = app.test_client()

    response = await bare.post(
        path, form={"csrf_token": token, "language": "en", "next": "/"}
    )

    assert_sent_to_sign_in(response, htmx=False)
    person = await Person.get(id=account["person"].id)
    assert person.language == account["person"].language


async def test_signing_in_over_an_ended_sessions_cookie_works(app, account, sign_in):
    # After an idle time-out the browser still holds the old cookie; the
    # sign-in form carries its own token and must go through.
    client = await sign_in(account["person"])
    await Session.filter(person_id=account["person"].id).delete()

    response = await sign_in_with_form(
        client, school="DEMO", email="sam@example.test", password=PASSWORD
    )

    assert response.status_code == 302
    assert response.headers["Location"] != "/login"
    assert await Session.filter(person_id=account["person"].id).count() == 1


async def test_a_cross_site_form_with_an_ended_sessions_cookie_is_refused(
    account, sign_in
):
    client = await sign_in(account["person"])
    await Session.filter(person_id=account["person"].id).delete()

    response = await client.post(
        "/language",
        form=client.form(language="en", next="/"),
        headers={"Sec-Fetch-Site": "cross-site"},
    )

    assert response.status_code == 403
