"""Two-factor sign-in: the code step, set-up, switching off, and the guard
(SECURITY-BASELINE A06-A10, A15, A18, A37; SPEC.md sections 2 and 11)."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from urllib.parse import unquote

import pyotp
import pytest
import time_machine

from models import totp
from models.entities import Person, RecoveryCode, School, Session
from models.passwords import hash_password
from models.sessions import COOKIE_NAME, start_session, token_hash
from tests.factories import link, make_person, make_school, make_student
from tests.web.conftest import PASSWORD, PASSWORD_HASH, sign_in_with_form
from web.twofactor import CODE_PAGES, SETUP_PAGES, pending_allowed

HTMX = {"HX-Request": "true"}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
SECURITY_LOG = "inzage.security"
START = datetime(2026, 11, 2, 9, 0, 5, tzinfo=UTC)


@pytest.fixture
async def account(app):
    school = await make_school("DEMO", name="De Regenboog")
    person = await make_person(
        school, email="sam@example.test", password_hash=PASSWORD_HASH
    )
    kid = await make_student(school, given_name="Sanne", family_name="de Vries")
    await link(person, kid)
    return dict(school=school, person=person, kid=kid, app=app)


async def enable_2fa(app, person: Person, secret: str | None = None) -> str:
    """Give a person a confirmed key, encrypted as the app stores it."""
    secret = secret or totp.new_secret()
    stored = totp.encrypt_secret(secret, app.config["SECRET_KEY"], person.id)
    await Person.filter(id=person.id).update(totp_secret=stored, totp_enabled=True)
    return secret


def now_code(secret: str, offset_steps: int = 0) -> str:
    return totp.code_at_step(secret, totp.step_at(datetime.now(UTC)) + offset_steps)


def wrong_code(secret: str) -> str:
    valid = {now_code(secret, n) for n in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222") if c not in valid)


def cookie_token(response) -> str | None:
    for header in response.headers.getlist("Set-Cookie"):
        cookie = SimpleCookie(header)
        if COOKIE_NAME in cookie:
            return cookie[COOKIE_NAME].value
    return None


async def password_step(client, person: Person, password: str = PASSWORD):
    return await sign_in_with_form(client, "DEMO", person.email, password)


async def csrf(client) -> str:
    """Return the CSRF token of the client's session, or of the sign-in form."""
    token = next((c.value for c in client.cookie_jar if c.name == COOKIE_NAME), None)
    session = token and await Session.get_or_none(token_hash=token_hash(token))
    if session:
        return session.csrf_token
    page = await client.get("/login")
    return CSRF_FIELD.search(await page.get_data(True)).group(1)


async def post_code(client, typed: str, **headers):
    token = await csrf(client)
    return await client.post(
        "/login/code", form={"csrf_token": token, "code": typed}, headers=headers
    )


# ---------------------------------------------------------------- sign-in


async def test_password_with_2fa_on_gives_a_pending_session_with_a_new_id(
    client, account
):
    person = account["person"]
    secret = await enable_2fa(account["app"], person)
    client.set_cookie("localhost", COOKIE_NAME, "planted", secure=True, httponly=True)

    response = await password_step(client, person)
    pending = cookie_token(response)
    session = await Session.get(person_id=person.id)

    assert response.status_code == 302
    assert response.headers["Location"] == "/login/code"
    assert pending and pending != "planted"
    assert session.pending_2fa and session.authenticated_at is None
    assert (await Person.get(id=person.id)).last_sign_in_at is None

    done = await post_code(client, now_code(secret))
    full = cookie_token(done)
    rows = await Session.filter(person_id=person.id)

    assert done.status_code == 302 and done.headers["Location"] == "/"
    # A new session id after the code step (A15); the pending one is gone.
    assert full and full != pending
    assert len(rows) == 1 and not rows[0].pending_2fa
    assert rows[0].authenticated_at is not None
    assert (await Person.get(id=person.id)).last_sign_in_at is not None
    welcome = await client.get(f"/students/{account['kid'].id}/")
    assert welcome.status_code == 200 and "Sanne" in await welcome.get_data(True)


async def test_the_pending_token_replayed_after_the_code_step_opens_nothing(
    app, client, account
):
    person = account["person"]
    secret = await enable_2fa(app, person)
    pending = cookie_token(await password_step(client, person))
    await post_code(client, now_code(secret))

    thief = app.test_client()
    thief.set_cookie("localhost", COOKIE_NAME, pending, secure=True, httponly=True)
    response = await thief.get(f"/students/{account['kid'].id}/")

    assert response.status_code == 302 and response.headers["Location"] == "/login"


async def test_a_person_without_2fa_who_need_not_have_it_signs_in_at_once(
    client, account
):
    response = await password_step(client, account["person"])

    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert not (await Session.get(person_id=account["person"].id)).pending_2fa


async def test_staff_always_need_2fa(client, account):
    admin = await make_person(
        account["school"], staff_role="admin", password_hash=PASSWORD_HASH
    )

    response = await password_step(client, admin)

    assert response.headers["Location"] == "/account/2fa/setup"
    assert (await Session.get(person_id=admin.id)).pending_2fa


# ---------------------------------------------------------------- the guard


def all_requests(app):
    """Every route of the app, each method, with made-up arguments."""
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        values = {name: 1 for name in rule.arguments}
        try:
            url = adapter.build(rule.endpoint, values)
        except Exception:
            url = adapter.build(rule.endpoint, {n: "x" for n in rule.arguments})
        if rule.endpoint == "static":
            url = "/static/app.css"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


@pytest.mark.parametrize("step", ["code", "set-up"])
async def test_route_inventory_a_pending_session_reaches_only_its_step(
    app, client, account, step
):
    person = account["person"]
    if step == "code":
        await enable_2fa(app, person)
        target, own = "/login/code", CODE_PAGES
    else:
        await Person.filter(id=person.id).update(require_2fa=True)
        target, own = "/account/2fa/setup", SETUP_PAGES
    await password_step(client, person)
    token = await csrf(client)

    checked = 0
    for endpoint, method, url in all_requests(app):
        if pending_allowed(endpoint) or endpoint in own:
            continue
        form = {"csrf_token": token} if method != "GET" else None
        page = await client.open(url, method=method, form=form)
        fragment = await client.open(url, method=method, form=form, headers=HTMX)

        assert page.status_code == 302, (endpoint, method)
        assert page.headers["Location"] == target, (endpoint, method)
        assert fragment.status_code == 401, (endpoint, method)
        assert fragment.headers["HX-Redirect"] == target, (endpoint, method)
        for response in (page, fragment):
            assert "Sanne" not in await response.get_data(True)
        checked += 1

    # The portal, the staff part, the policy pages and the other step at least.
    assert checked >= 12
    assert (await Session.get(person_id=person.id)).pending_2fa


async def test_what_a_pending_session_may_still_reach(app, client, account):
    person = account["person"]
    await enable_2fa(app, person)
    pending = cookie_token(await password_step(client, person))

    sign_in_page = await client.get("/login")
    health = await client.get("/health")
    static = await client.get("/static/app.css")
    code_page = await client.get("/login/code")
    setup_page = await client.get("/account/2fa/setup")

    assert sign_in_page.status_code == 200  # not sent on as if signed in
    assert health.status_code == 200 and static.status_code == 200
    assert code_page.status_code == 200
    assert setup_page.headers["Location"] == "/login/code"
    # Signing out ends the half-finished sign-in.
    await client.post("/logout", form={"csrf_token": await csrf(client)})
    assert not await Session.exists(person_id=person.id)
    thief = app.test_client()
    thief.set_cookie("localhost", COOKIE_NAME, pending, secure=True, httponly=True)
    assert (await thief.get("/login/code")).headers["Location"] == "/login"


def test_the_allow_list_is_explicit():
    assert pending_allowed("auth.sign_in") and pending_allowed("auth.sign_out")
    assert pending_allowed("auth.forgot") and pending_allowed("auth.reset_post")
    assert pending_allowed("static") and pending_allowed("auth.health")
    for endpoint in ("portal.welcome", "staff.students", "auth.account", None):
        assert not pending_allowed(endpoint)


# ---------------------------------------------------------------- codes


async def test_a_code_is_accepted_once(app, client, account):
    person = account["person"]
    secret = await enable_2fa(app, person)
    with time_machine.travel(START, tick=False) as clock:
        code = now_code(secret)
        await password_step(client, person)
        first = await post_code(client, code)
        await client.post("/logout", form={"csrf_token": await csrf(client)})

        await password_step(client, person)
        again = await post_code(client, code)
        clock.shift(1)  # past the delay the wrong code started
        full_width = await post_code(
            client, code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        )

    assert first.headers["Location"] == "/"
    assert again.status_code == 400
    assert full_width.status_code == 400
    assert (await Session.get(person_id=person.id)).pending_2fa


async def test_two_sign_ins_racing_with_one_code_let_exactly_one_in(app, account):
    person = account["person"]
    secret = await enable_2fa(app, person)
    one, two = app.test_client(), app.test_client()
    await password_step(one, person)
    await password_step(two, person)
    tokens = [await csrf(one), await csrf(two)]
    code = now_code(secret)

    responses = await asyncio.gather(
        one.post("/login/code", form={"csrf_token": tokens[0], "code": code}),
        two.post("/login/code", form={"csrf_token": tokens[1], "code": code}),
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [302, 400]
    assert await Session.filter(person_id=person.id, pending_2fa=False).count() == 1


async def test_a_code_pasted_with_a_space_and_a_leading_zero_works(
    app, client, account
):
    person = account["person"]
    await enable_2fa(app, person, RFC_SECRET)
    # RFC 6238: at 1234567890 the code is (89)005924.
    with time_machine.travel(1234567890, tick=False):
        await password_step(client, person)
        response = await post_code(client, "005 924")

    assert response.status_code == 302 and response.headers["Location"] == "/"


async def test_one_step_of_drift_either_way(app, account):
    person = account["person"]
    secret = await enable_2fa(app, person)
    results = {}
    with time_machine.travel(START, tick=False) as clock:
        for offset in (-2, -1, 1, 2):
            client = app.test_client()
            await password_step(client, person)
            response = await post_code(client, now_code(secret, offset))
            results[offset] = response.status_code
            await Person.filter(id=person.id).update(totp_last_step=None)
            clock.shift(1)  # past the delay a wrong code sets

    assert results == {-2: 400, -1: 302, 1: 302, 2: 400}


async def test_a_recovery_code_works_once(app, client, account):
    person = account["person"]
    await enable_2fa(app, person)
    codes = await totp.replace_recovery_codes(person.id)

    await password_step(client, person)
    first = await post_code(client, codes[4].lower())
    await client.post("/logout", form={"csrf_token": await csrf(client)})
    await password_step(client, person)
    again = await post_code(client, codes[4])

    assert first.headers["Location"] == "/"
    assert again.status_code == 400
    assert await totp.recovery_codes_left(person.id) == 9


async def test_the_code_step_has_a_letter_field_for_recovery_codes(
    app, client, account
):
    person = account["person"]
    await enable_2fa(app, person)

    await password_step(client, person)
    step = await (await client.get("/login/code")).get_data(True)
    refused = await (await post_code(client, "ABCDEF-GHIJKL")).get_data(True)

    # The app's code gets a number pad; a recovery code, with letters, its own
    # field with a keyboard that has them (both post the same "code").
    assert re.search(r'<input id="code" name="code"[^>]*inputmode="numeric"', step)
    assert re.search(r'id="recovery-code" name="code"[^>]*inputmode="text"', step)
    assert '<details class="recovery">' in step
    assert '<details class="recovery" open>' in refused
    assert "of de herstelcode die u intypte" in refused


# ---------------------------------------------------------------- throttling


async def test_wrong_codes_are_throttled_1_2_4_8_seconds(app, client, account):
    person = account["person"]
    secret = await enable_2fa(app, person)
    with time_machine.travel(START, tick=False) as clock:
        await password_step(client, person)
        wrong = wrong_code(secret)
        first = await post_code(client, wrong)
        messages = {await first.get_data(True)}
        for delay in (1, 2, 4, 8):
            clock.shift(delay - 0.2)
            # Inside the delay even the right code is refused, alike.
            early = await post_code(client, now_code(secret))
            messages.add(await early.get_data(True))
            assert early.status_code == 400, delay
            clock.shift(0.2)
            if delay < 8:
                on_time = await post_code(client, wrong)
                assert on_time.status_code == 400
        on_time = await post_code(client, now_code(secret))

    assert on_time.status_code == 302 and on_time.headers["Location"] == "/"
    assert len(messages) == 1  # one answer for wrong and throttled: no oracle


async def test_ten_wrong_codes_end_the_half_finished_sign_in(app, client, account):
    person = account["person"]
    secret = await enable_2fa(app, person)
    with time_machine.travel(START, tick=False) as clock:
        pending = cookie_token(await password_step(client, person))
        wrong = wrong_code(secret)
        responses = []
        for n in range(10):
            responses.append(await post_code(client, wrong))
            clock.shift(2**n)

    assert [r.status_code for r in responses] == [400] * 9 + [302]
    assert responses[-1].headers["Location"] == "/login"
    assert not await Session.exists(person_id=person.id)
    thief = app.test_client()
    thief.set_cookie("localhost", COOKIE_NAME, pending, secure=True, httponly=True)
    assert (await thief.get("/login/code")).headers["Location"] == "/login"


async def test_a_new_sign_in_does_not_buy_fresh_guesses(app, account):
    person = account["person"]
    secret = await enable_2fa(app, person)
    with time_machine.travel(START, tick=False) as clock:
        first = app.test_client()
        await password_step(first, person)
        wrong = wrong_code(secret)
        for n in range(10):
            if n:
                clock.shift(2 ** (n - 1))
            await post_code(first, wrong)
        # The session is gone; the account's streak is not (A10 shares it).
        second = app.test_client()
        await password_step(second, person)
        clock.shift(500)  # the tenth wrong code asked for 512 s
        early = await post_code(second, now_code(secret))
        clock.shift(13)
        on_time = await post_code(second, now_code(secret))

    assert early.status_code == 400
    assert on_time.status_code == 302 and on_time.headers["Location"] == "/"


# ---------------------------------------------------------------- set-up


def key_on_page(body: str) -> str:
    return re.search(r'id="key">([A-Z2-7 ]+)<', body).group(1).replace(" ", "")


async def test_required_school_sign_in_leads_through_set_up_to_the_welcome_page(
    app, client, account
):
    person, school = account["person"], account["school"]
    await School.filter(id=school.id).update(require_2fa=True)

    response = await password_step(client, person)
    assert response.headers["Location"] == "/account/2fa/setup"
    # No way around: the welcome page and the child's file send back.
    for url in ("/", f"/students/{account['kid'].id}/", "/login/code"):
        assert (await client.get(url)).headers["Location"] == "/account/2fa/setup"
    intro = await client.get("/account/2fa/setup")
    assert intro.status_code == 200 and "setup/start" in await intro.get_data(True)

    token = await csrf(client)
    started = await client.post("/account/2fa/setup/start", form={"csrf_token": token})
    assert started.headers["Location"] == "/account/2fa/setup"
    page = await (await client.get("/account/2fa/setup")).get_data(True)
    reloaded = await (await client.get("/account/2fa/setup")).get_data(True)
    secret = key_on_page(page)
    assert key_on_page(reloaded) == secret  # a reload shows the same key
    assert "Inzage (De Regenboog)" in page
    qr = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', page).group(1)
    assert b"<svg" in base64.b64decode(qr) and b"<path" in base64.b64decode(qr)

    wrong = await client.post(
        "/account/2fa/setup", form={"csrf_token": token, "code": wrong_code(secret)}
    )
    assert wrong.status_code == 400
    assert not (await Person.get(id=person.id)).totp_enabled

    pending = cookie_token(response)
    done = await client.post(
        "/account/2fa/setup", form={"csrf_token": token, "code": now_code(secret)}
    )
    body = await done.get_data(True)
    codes = re.findall(r"<code>([A-Z2-7]{6}(?:-[A-Z2-7]{6}){3})</code>", body)
    assert done.status_code == 200 and len(codes) == 10
    full = cookie_token(done)
    assert full and full != pending  # a new session id (A15)

    welcome = await client.get("/", follow_redirects=True)
    assert welcome.status_code == 200
    assert "Sanne" in await welcome.get_data(True)
    status = await client.get("/account/2fa/setup")
    assert status.status_code == 200
    stored = await Person.get(id=person.id)
    assert (
        stored.totp_enabled
        and await RecoveryCode.filter(person_id=person.id).count() == 10
    )

    # The next sign-in asks for a code; a recovery code from the page works.
    await client.post("/logout", form={"csrf_token": await csrf(client)})
    again = await password_step(client, person)
    assert again.headers["Location"] == "/login/code"
    assert (await post_code(client, codes[0])).headers["Location"] == "/"


async def test_the_stored_key_is_ciphertext_of_160_random_bits(app, client, account):
    person = account["person"]
    client = await _signed_in(app, person)
    token = client.csrf

    await client.post("/account/2fa/setup/start", form={"csrf_token": token})
    page = await (await client.get("/account/2fa/setup")).get_data(True)
    secret = key_on_page(page)
    await client.post(
        "/account/2fa/setup", form={"csrf_token": token, "code": now_code(secret)}
    )
    stored = (await Person.get(id=person.id)).totp_secret

    assert len(base64.b32decode(secret)) == 20
    assert secret not in stored and secret.lower() not in stored.lower()
    assert totp.decrypt_secret(stored, app.config["SECRET_KEY"], person.id) == secret
    assert (await Person.get(id=person.id)).totp_enabled


async def _signed_in(app, person: Person):
    client = app.test_client()
    token = await start_session(person)
    client.set_cookie("localhost", COOKIE_NAME, token, secure=True, httponly=True)
    client.csrf = (await Session.get(token_hash=token_hash(token))).csrf_token
    client.token = token
    return client


async def test_a_confirmed_key_is_not_replaced_by_starting_again(app, account):
    person = account["person"]
    secret = await enable_2fa(app, person)
    client = await _signed_in(app, person)

    await client.post("/account/2fa/setup/start", form={"csrf_token": client.csrf})
    stored = (await Person.get(id=person.id)).totp_secret

    assert totp.decrypt_secret(stored, app.config["SECRET_KEY"], person.id) == secret


# ---------------------------------------------------------------- switching off


async def test_switching_off_asks_for_a_code_when_the_sign_in_is_old(app, account):
    person = account["person"]
    secret = await enable_2fa(app, person)
    await totp.replace_recovery_codes(person.id)
    with time_machine.travel(START, tick=False) as clock:
        client = await _signed_in(app, person)
        clock.shift(timedelta(minutes=11))
        page = await (await client.get("/account/2fa/disable")).get_data(True)
        form = {"csrf_token": client.csrf, "password": PASSWORD}
        refused = await client.post("/account/2fa/disable", form=form)
        still_on = (await Person.get(id=person.id)).totp_enabled
        with_code = await client.post(
            "/account/2fa/disable", form={**form, "code": now_code(secret)}
        )

    assert 'name="code"' in page
    assert refused.status_code == 400 and still_on
    assert with_code.status_code == 302
    assert cookie_token(with_code) not in (None, client.token)  # new id (A15)
    stored = await Person.get(id=person.id)
    assert not stored.totp_enabled and stored.totp_secret is None
    assert stored.totp_last_step is None
    assert not await RecoveryCode.exists(person_id=person.id)


async def test_switching_off_within_ten_minutes_needs_the_password_only(app, account):
    person = account["person"]
    await enable_2fa(app, person)
    with time_machine.travel(START, tick=False) as clock:
        client = await _signed_in(app, person)
        clock.shift(timedelta(minutes=9))
        page = await (await client.get("/account/2fa/disable")).get_data(True)
        no_password = await client.post(
            "/account/2fa/disable", form={"csrf_token": client.csrf}
        )
        response = await client.post(
            "/account/2fa/disable",
            form={"csrf_token": client.csrf, "password": PASSWORD},
        )

    assert 'name="code"' not in page
    assert no_password.status_code == 400
    assert response.status_code == 302
    assert not (await Person.get(id=person.id)).totp_enabled


@pytest.mark.parametrize(
    ("case", "status"),
    [("required", 403), ("school", 403), ("staff", 403), ("short", 400)],
)
async def test_switching_off_is_refused_where_2fa_is_required_or_the_password_short(
    app, account, case, status
):
    person, school = account["person"], account["school"]
    await enable_2fa(app, person)
    password = PASSWORD
    if case == "required":
        await Person.filter(id=person.id).update(require_2fa=True)
    elif case == "school":
        await School.filter(id=school.id).update(require_2fa=True)
    elif case == "staff":
        await Person.filter(id=person.id).update(staff_role="care")
    else:
        password = "short pass 14"  # 13 characters: too short alone
        await Person.filter(id=person.id).update(password_hash=hash_password(password))
    person = await Person.get(id=person.id)
    client = await _signed_in(app, person)

    response = await client.post(
        "/account/2fa/disable",
        form={"csrf_token": client.csrf, "password": password},
    )

    assert response.status_code == status
    assert (await Person.get(id=person.id)).totp_enabled


# ---------------------------------------------------------------- the log


async def test_2fa_events_go_to_the_security_log_with_ids_only(
    app, client, account, caplog
):
    person = account["person"]
    caplog.set_level(logging.INFO, logger=SECURITY_LOG)
    with time_machine.travel(START, tick=False) as clock:
        await password_step(client, person)  # set-up is not required: no 2FA
        client = await _signed_in(app, person)
        await client.post("/account/2fa/setup/start", form={"csrf_token": client.csrf})
        page = await (await client.get("/account/2fa/setup")).get_data(True)
        secret = key_on_page(page)
        done = await client.post(
            "/account/2fa/setup",
            form={"csrf_token": client.csrf, "code": now_code(secret)},
        )
        codes = re.findall(r"<code>([A-Z2-7-]{27})</code>", await done.get_data(True))
        other = app.test_client()
        await password_step(other, person)
        wrong = wrong_code(secret)
        await post_code(other, wrong)
        await post_code(other, wrong)  # throttled
        clock.shift(40)
        good = now_code(secret)
        await post_code(other, good)
        token = await csrf(other)
        await other.post(
            "/account/2fa/disable", form={"csrf_token": token, "password": PASSWORD}
        )

    lines = [r.getMessage() for r in caplog.records if r.name == SECURITY_LOG]
    expected = [
        f"2fa enabled person={person.id}",
        f"sign-in password ok, 2fa code next person={person.id}",
        f"2fa code failed person={person.id} failures=1",
        f"2fa code throttled person={person.id}",
        f"2fa sign-in person={person.id} method=code",
        f"2fa disabled person={person.id}",
    ]
    for line in expected:
        assert line in lines, line
    secrets_seen = [secret, wrong, good, *codes, PASSWORD, person.email]
    for line in lines:
        assert not any(s in line for s in secrets_seen), line
        assert not any(s in unquote(line) for s in secrets_seen), line
    assert pyotp.TOTP(secret).now()  # the key was a real key
