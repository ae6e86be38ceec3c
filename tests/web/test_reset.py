"""Forgot password and the password link (SPEC.md section 2; SECURITY-BASELINE
A11, A12, A34, A38)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine

from models.access import utcnow
from models.entities import Outbox, Person, ResetLink, Session
from models.outbox import reset_token, token_hash
from models.passwords import verify_password
from tasks import queue
from tests.factories import link, make_person, make_school, make_student
from tests.web.conftest import PASSWORD_HASH, sign_in_with_form

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
NEW_PASSWORD = "a kettle of purple herons at dawn"
RESET_COOKIE = "__Secure-reset"


@pytest.fixture
def app(app):
    app.config["FORGOT_MIN_DURATION_S"] = 0
    return app


@pytest.fixture
async def account(database):
    school = await make_school("DEMO", name="Het Talent")
    person = await make_person(
        school, email="sam@example.test", password_hash=PASSWORD_HASH
    )
    kid = await make_student(school, given_name="Sanne", family_name="de Vries")
    await link(person, kid)
    return dict(school=school, person=person, kid=kid)


async def csrf_of(client, path: str) -> str:
    page = await (await client.get(path)).get_data(True)
    return CSRF_FIELD.search(page).group(1)


async def ask_link(client, school="DEMO", email="sam@example.test"):
    token = await csrf_of(client, "/forgot")
    return await client.post(
        "/forgot", form={"csrf_token": token, "school": school, "email": email}
    )


async def newest_token(app, person) -> str:
    row = await Outbox.filter(person_id=person.id, kind="reset").order_by("-id").first()
    return reset_token(app.config["SECRET_KEY"], row.id)


async def open_link(client, token: str):
    return await client.get(f"/reset?token={token}")


async def save_password(client, password=NEW_PASSWORD, again=None):
    csrf = await csrf_of(client, "/reset")
    return await client.post(
        "/reset",
        form={
            "csrf_token": csrf,
            "password": password,
            "password_again": password if again is None else again,
        },
    )


async def use_link_in(app, token: str, password=NEW_PASSWORD):
    client = app.test_client()
    await open_link(client, token)
    return await save_password(client, password)


def body_without_csrf(body: str) -> str:
    return CSRF_FIELD.sub("", body)


@pytest.fixture(autouse=True)
async def drain_jobs():
    yield
    await queue.drain()


# ------------------------------------------------------------- forgot


async def test_the_sign_in_page_links_to_forgot_password(app, database):
    body = await (await app.test_client().get("/login")).get_data(True)

    assert 'href="/forgot"' in body


async def test_forgot_answers_the_same_for_known_and_unknown_accounts(app, account):
    client = app.test_client()
    known = await ask_link(client)
    unknown_email = await ask_link(client, email="nobody@example.test")
    unknown_school = await ask_link(client, school="NOPE")
    await Person.filter(id=account["person"].id).update(can_sign_in=False)
    cannot_sign_in = await ask_link(client)

    first = (known.status_code, body_without_csrf(await known.get_data(True)))
    assert first[0] == 200
    for other in (unknown_email, unknown_school, cannot_sign_in):
        assert (other.status_code, body_without_csrf(await other.get_data(True))) == (
            first
        )
        assert set(other.headers.keys()) == set(known.headers.keys())
    assert await Outbox.all().count() == 1
    assert await ResetLink.all().count() == 1


async def test_forgot_with_a_known_account_commits_outbox_and_hashed_link(app, account):
    response = await ask_link(app.test_client())
    await queue.drain()

    outbox = await Outbox.get(person_id=account["person"].id)
    link_row = await ResetLink.get(person_id=account["person"].id)
    token = reset_token(app.config["SECRET_KEY"], outbox.id)
    assert response.status_code == 200
    assert outbox.kind == "reset" and outbox.status == "sent"
    assert link_row.outbox_id == outbox.id
    assert link_row.token_hash == token_hash(token)
    # 256 bits, and the table holds only the hash.
    assert len(token) == 43
    assert token not in str(await ResetLink.all().values())
    assert link_row.expires_at - link_row.created_at == timedelta(minutes=15)


async def test_forgot_with_empty_fields_says_what_is_missing(app, account):
    response = await ask_link(app.test_client(), school="", email="")

    assert response.status_code == 400
    assert 'role="alert"' in await response.get_data(True)
    assert await Outbox.all().count() == 0


async def test_at_most_three_reset_e_mails_an_hour_with_the_same_answer(app, account):
    """A34: 20 requests for one account, 3 e-mails; the last link stays valid."""
    client = app.test_client()
    answers = set()
    for _ in range(20):
        response = await ask_link(client)
        answers.add(
            (response.status_code, body_without_csrf(await response.get_data(True)))
        )

    assert len(answers) == 1
    assert await Outbox.filter(kind="reset").count() == 3
    token = await newest_token(app, account["person"])
    assert (await use_link_in(app, token)).status_code == 200

    with time_machine.travel(utcnow() + timedelta(minutes=61), tick=False):
        await ask_link(app.test_client())
        assert await Outbox.filter(kind="reset").count() == 4


# ------------------------------------------------------------- the link


async def test_opening_the_link_moves_the_token_out_of_the_address(app, account):
    await ask_link(app.test_client())
    token = await newest_token(app, account["person"])
    client = app.test_client()

    response = await open_link(client, token)

    assert response.status_code == 303
    assert response.headers["Location"] == "/reset"
    cookie = [c for c in response.headers.getlist("Set-Cookie") if RESET_COOKIE in c]
    attributes = {part.strip().lower() for part in cookie[0].split(";")}
    assert {"secure", "httponly", "samesite=strict", "path=/reset"} <= attributes
    form = await client.get("/reset")
    body = await form.get_data(True)
    assert form.status_code == 200 and 'name="password"' in body
    assert token not in body
    # A password manager files the new password under the account's address.
    email = account["person"].email
    assert f'value="{email}" autocomplete="username"' in body
    assert form.headers["Referrer-Policy"] == "no-referrer"


async def test_a_mail_scanner_opening_the_link_leaves_it_usable(app, account):
    await ask_link(app.test_client())
    token = await newest_token(app, account["person"])

    scanner = app.test_client()
    await open_link(scanner, token)
    await scanner.get("/reset")
    await app.test_client().get(f"/reset?token={token}")

    assert (await ResetLink.get(person_id=account["person"].id)).used_at is None
    response = await use_link_in(app, token)
    assert response.status_code == 200


async def test_saving_a_password_uses_the_link_and_ends_every_session(
    app, account, sign_in
):
    person = account["person"]
    other_device = await sign_in(person)
    await ask_link(app.test_client())
    token = await newest_token(app, person)

    response = await use_link_in(app, token)

    assert response.status_code == 200
    after = await Person.get(id=person.id)
    assert await verify_password(after.password_hash, NEW_PASSWORD)
    assert after.password_changed_at is not None
    assert await Session.filter(person_id=person.id).count() == 0
    # The reset signs nobody in; the old device is out.
    assert "__Host-sid" not in " ".join(response.headers.getlist("Set-Cookie"))
    page = await other_device.get(f"/students/{account['kid'].id}/")
    assert page.status_code == 302 and page.headers["Location"] == "/login"
    # ... and the person signs in as usual with the new password.
    signed = await sign_in_with_form(
        app.test_client(), "DEMO", "sam@example.test", NEW_PASSWORD
    )
    assert signed.status_code == 302


async def assert_refused(app, token: str, person_id: int):
    before = (await Person.get(id=person_id)).password_hash
    response = await use_link_in(app, token, "another long passphrase for us")
    body = await response.get_data(True)

    assert response.status_code == 400
    assert "niet meer geldig" in body  # Dutch, the default language
    assert (await Person.get(id=person_id)).password_hash == before


async def test_a_used_link_is_refused(app, account):
    await ask_link(app.test_client())
    token = await newest_token(app, account["person"])
    assert (await use_link_in(app, token)).status_code == 200

    await assert_refused(app, token, account["person"].id)


async def test_a_link_expires_after_15_minutes(app, account):
    await ask_link(app.test_client())
    token = await newest_token(app, account["person"])

    with time_machine.travel(utcnow() + timedelta(minutes=16), tick=False):
        await assert_refused(app, token, account["person"].id)
    with time_machine.travel(utcnow() + timedelta(minutes=14), tick=False):
        assert (await use_link_in(app, token)).status_code == 200


async def test_a_newer_link_voids_the_older_one(app, account):
    await ask_link(app.test_client())
    older = await newest_token(app, account["person"])
    await ask_link(app.test_client())
    newer = await newest_token(app, account["person"])

    assert older != newer
    await assert_refused(app, older, account["person"].id)
    assert (await use_link_in(app, newer)).status_code == 200


async def test_a_link_older_than_a_password_change_is_refused(app, account):
    await ask_link(app.test_client())
    token = await newest_token(app, account["person"])
    await Person.filter(id=account["person"].id).update(
        password_changed_at=utcnow() + timedelta(seconds=1)
    )

    await assert_refused(app, token, account["person"].id)


async def test_an_invented_token_is_refused(app, account):
    await assert_refused(app, "x" * 43, account["person"].id)


async def test_a_weak_new_password_is_refused_with_the_reason_and_keeps_the_link(
    app, account
):
    await ask_link(app.test_client())
    token = await newest_token(app, account["person"])
    client = app.test_client()
    await open_link(client, token)

    short = await save_password(client, "too short pw")
    mismatch = await save_password(client, NEW_PASSWORD, again=NEW_PASSWORD + "x")
    common = await save_password(client, "passwordpassword")
    named = await save_password(client, "het talent 2025 portal")

    for response, reason in (
        (short, "minstens 15 tekens"),
        (mismatch, "niet gelijk"),
        (common, "makkelijk te raden"),
        (named, "naam van de school"),
    ):
        assert response.status_code == 400
        assert reason in await response.get_data(True)
    assert (await ResetLink.get(person_id=account["person"].id)).used_at is None
    assert (await save_password(client)).status_code == 200


async def test_the_forgot_pages_speak_dutch(app, account):
    client = app.test_client()
    sign_in_page = await (await client.get("/login")).get_data(True)
    sent = await (await ask_link(client)).get_data(True)

    assert "Wachtwoord vergeten? Eerste keer inloggen?" in sign_in_page
    assert "Kijk in uw e-mail" in sent
