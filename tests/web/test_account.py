"""One's own account: password change, sessions, time-outs, sign-in throttling,
rehash, the security log and add-staff (SECURITY-BASELINE A04, A05, A13, A15,
A17-A19, A35, A37, A39)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from argon2 import PasswordHasher

from models.access import utcnow
from models.entities import Outbox, Person, Session, Throttle
from models.passwords import verify_password
from models.sessions import token_hash
from tasks import queue
from tests.factories import link, make_person, make_school, make_student
from tests.web.conftest import PASSWORD, PASSWORD_HASH, sign_in_with_form
from tests.web.test_sign_in import cookie_value, set_cookies, with_cookie

ROOT = Path(__file__).resolve().parents[2]
NEW_PASSWORD = "a kettle of purple herons at dawn"
HTMX = {"HX-Request": "true"}


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


@pytest.fixture(autouse=True)
async def drain_jobs():
    yield
    await queue.drain()


async def change_password(client, current=PASSWORD, new=NEW_PASSWORD, others=True):
    form = dict(current_password=current, password=new, password_again=new)
    if others:
        form["sign_out_others"] = "yes"
    return await client.post("/account/password", form=client.form(**form))


async def alive(app, token: str, kid_id: int) -> bool:
    response = await with_cookie(app, token).get(f"/students/{kid_id}/")
    return response.status_code == 200


# ------------------------------------------------------------- pages


async def test_the_header_links_to_the_account_page(account, sign_in):
    client = await sign_in(account["person"])

    welcome = await (await client.get(f"/students/{account['kid'].id}/")).get_data(True)
    page = await client.get("/account/")

    assert 'href="/account/"' in welcome
    assert page.status_code == 200
    assert "sam@example.test" in await page.get_data(True)


async def test_signed_out_account_pages_go_to_sign_in(app, database):
    client = app.test_client()
    for path in ("/account/", "/account/password", "/account/sessions"):
        page = await client.get(path)
        fragment = await client.get(path, headers=HTMX)

        assert page.status_code == 302 and page.headers["Location"] == "/login"
        assert fragment.headers["HX-Redirect"] == "/login"


# ------------------------------------------------------------- A04, A18


async def test_a_wrong_current_password_changes_nothing(app, account, sign_in):
    client = await sign_in(account["person"])

    response = await change_password(client, current="wrong " + PASSWORD)

    assert response.status_code == 400
    assert (await Person.get(id=account["person"].id)).password_hash == PASSWORD_HASH
    assert await alive(app, client.token, account["kid"].id)


async def test_the_current_password_is_required(app, account, sign_in):
    client = await sign_in(account["person"])

    response = await client.post(
        "/account/password",
        form=client.form(password=NEW_PASSWORD, password_again=NEW_PASSWORD),
    )

    assert response.status_code == 400
    assert (await Person.get(id=account["person"].id)).password_hash == PASSWORD_HASH


async def test_a_weak_new_password_is_refused_with_the_reason(account, sign_in):
    client = await sign_in(account["person"])

    response = await change_password(client, new="iloveyouiloveyou")

    assert response.status_code == 400
    assert "makkelijk te raden" in await response.get_data(True)
    assert (await Person.get(id=account["person"].id)).password_hash == PASSWORD_HASH


async def test_a_password_change_rehashes_and_renews_the_session(app, account, sign_in):
    client = await sign_in(account["person"])
    old_token = client.token

    response = await change_password(client, others=False)

    assert response.status_code == 303
    assert response.headers["Location"] == "/account/?done=password"
    person = await Person.get(id=account["person"].id)
    assert person.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert await verify_password(person.password_hash, NEW_PASSWORD)
    assert person.password_changed_at is not None
    new_token = cookie_value(response)
    assert new_token != old_token  # A15
    assert not await alive(app, old_token, account["kid"].id)
    assert await alive(app, new_token, account["kid"].id)


# ------------------------------------------------------------- A19


async def test_a_password_change_can_sign_out_the_other_sessions(app, account, sign_in):
    person, kid = account["person"], account["kid"]
    browser_a = await sign_in(person)
    browser_b = await sign_in(person)

    response = await change_password(browser_a, others=True)

    assert not await alive(app, browser_b.token, kid.id)
    assert await alive(app, cookie_value(response), kid.id)
    assert await Session.filter(person_id=person.id).count() == 1


async def test_without_the_box_the_other_sessions_stay(app, account, sign_in):
    person, kid = account["person"], account["kid"]
    browser_a = await sign_in(person)
    browser_b = await sign_in(person)

    await change_password(browser_a, others=False)

    assert await alive(app, browser_b.token, kid.id)


async def test_the_sessions_page_lists_and_ends_one_other_session(
    app, account, sign_in
):
    person, kid = account["person"], account["kid"]
    client = await sign_in(person)
    other = await sign_in(person)
    firefox = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) "
        "Gecko/20100101 Firefox/133.0"
    )
    signed_in_at = datetime.now(UTC) - timedelta(hours=1)
    local = signed_in_at.astimezone(ZoneInfo(account["school"].timezone))
    await Session.filter(person_id=person.id).update(
        user_agent=firefox, created_at=signed_in_at
    )
    stranger = await make_person(account["school"])
    strangers = await sign_in(stranger)

    page = await (await client.get("/account/sessions")).get_data(True)
    other_row = await Session.filter(person_id=person.id).order_by("-id").first()
    foreign = await Session.get(person_id=stranger.id)
    refused = await client.post(
        "/account/sessions/end", form=client.form(session_id=str(foreign.id))
    )
    ended = await client.post(
        "/account/sessions/end", form=client.form(session_id=str(other_row.id))
    )

    assert "Firefox op Windows" in page and page.count('name="session_id"') == 1
    assert f"Ingelogd {local:%d-%m-%Y %H:%M}" in page and firefox not in page
    assert refused.status_code == 404
    assert await alive(app, strangers.token, kid.id) is False  # not linked
    assert await Session.filter(id=foreign.id).exists()
    assert ended.status_code == 303
    assert not await alive(app, other.token, kid.id)
    assert await alive(app, client.token, kid.id)


async def test_sign_out_everywhere_ends_this_session_too(app, account, sign_in):
    person, kid = account["person"], account["kid"]
    client = await sign_in(person)
    other = await sign_in(person)

    response = await client.post("/account/sessions/end-all", form=client.form())

    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert "Max-Age=0" in set_cookies(response)["__Host-sid"]
    assert await Session.filter(person_id=person.id).count() == 0
    assert not await alive(app, client.token, kid.id)
    assert not await alive(app, other.token, kid.id)


# ------------------------------------------------------------- A17


async def test_thirty_minutes_idle_ends_the_session(app, account, sign_in):
    client = await sign_in(account["person"])
    url = f"/students/{account['kid'].id}/"

    with time_machine.travel(utcnow() + timedelta(minutes=29), tick=False):
        assert (await client.get(url)).status_code == 200
    with time_machine.travel(utcnow() + timedelta(minutes=29 + 31), tick=False):
        page = await client.get(url)
    client2 = await sign_in(account["person"])
    with time_machine.travel(utcnow() + timedelta(minutes=31), tick=False):
        fragment = await client2.get(f"{url}results", headers=HTMX)

    assert page.status_code == 302 and page.headers["Location"] == "/login"
    assert fragment.status_code == 401 and fragment.headers["HX-Redirect"] == "/login"


async def test_twelve_hours_in_all_even_when_active(app, account, sign_in):
    client = await sign_in(account["person"])
    url = f"/students/{account['kid'].id}/"
    start = utcnow()

    statuses = []
    for minutes in range(10, 12 * 60, 10):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            statuses.append((await client.get(url)).status_code)
    with time_machine.travel(start + timedelta(hours=12, minutes=1), tick=False):
        last = await client.get(url)

    assert set(statuses) == {200}
    assert last.status_code == 302 and last.headers["Location"] == "/login"


# ------------------------------------------------------------- A05, A39


async def attempt(app, password: str, headers=None):
    client = app.test_client()
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.get_data(True))
    response = await client.post(
        "/login",
        form={
            "csrf_token": token.group(1),
            "school": "DEMO",
            "email": "sam@example.test",
            "password": password,
        },
        headers=headers or {},
    )
    return response.status_code, (await response.get_data(True)).replace(
        token.group(1), ""
    )


async def test_five_failures_then_even_the_right_password_is_refused(app, account):
    wrong = [
        await attempt(app, "wrong", {"X-Forwarded-For": f"10.0.0.{n}"})
        for n in range(5)
    ]

    during = await attempt(app, PASSWORD, {"X-Forwarded-For": "10.9.9.9"})

    assert len(set(wrong)) == 1 and wrong[0][0] == 400
    assert during == wrong[0]  # the same answer: no oracle
    assert await Session.all().count() == 0
    with time_machine.travel(utcnow() + timedelta(seconds=31), tick=False):
        status, _ = await attempt(app, PASSWORD)
    assert status == 302
    # A success resets the account counter.
    assert not await Throttle.filter(key__startswith="login:acct:").exists()


async def test_unknown_accounts_are_throttled_the_same(app, account):
    await Person.filter(id=account["person"].id).update(email="else@example.test")
    answers = [await attempt(app, "wrong") for _ in range(6)]

    assert len(set(answers)) == 1
    # Five failures count; the sixth attempt falls in the delay.
    row = await Throttle.get(key__startswith="login:acct:")
    assert row.failures == 5 and row.blocked_until is not None


async def test_the_client_address_is_the_socket_peer_not_a_header(app, account):
    for n in range(20):
        await attempt(app, "wrong", {"X-Forwarded-For": f"1.2.3.{n}"})
    await Throttle.filter(key__startswith="login:acct:").delete()

    status, _ = await attempt(app, PASSWORD, {"X-Forwarded-For": "5.6.7.8"})

    assert status == 400  # 21st POST from this peer in the minute
    keys = await Throttle.all().values_list("key", flat=True)
    assert not [k for k in keys if "1.2.3" in k or "5.6.7.8" in k]
    with time_machine.travel(utcnow() + timedelta(seconds=61), tick=False):
        status, _ = await attempt(app, PASSWORD)
    assert status == 302


# ------------------------------------------------------------- A35


async def test_a_hash_with_old_parameters_is_upgraded_at_sign_in(app, account):
    old = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(PASSWORD)
    await Person.filter(id=account["person"].id).update(password_hash=old)

    response = await sign_in_with_form(
        app.test_client(), "DEMO", "sam@example.test", PASSWORD
    )

    stored = (await Person.get(id=account["person"].id)).password_hash
    assert response.status_code == 302
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert await verify_password(stored, PASSWORD)


# ------------------------------------------------------------- A37


async def test_security_events_are_logged_once_each_with_ids_only(
    app, account, sign_in, caplog
):
    caplog.set_level(logging.INFO, logger="inzage.security")
    person = account["person"]
    await attempt(app, "wrong password here")
    await attempt(app, PASSWORD)
    client = app.test_client()
    page = await (await client.get("/forgot")).get_data(True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    await client.post(
        "/forgot",
        form={"csrf_token": csrf, "school": "DEMO", "email": "sam@example.test"},
    )
    from tests.web.test_reset import newest_token, use_link_in

    token = await newest_token(app, person)
    await use_link_in(app, token)
    signed = await sign_in(await Person.get(id=person.id))
    from tests.web.test_reset import NEW_PASSWORD as RESET_PASSWORD

    await change_password(signed, current=RESET_PASSWORD, new=NEW_PASSWORD)

    lines = [r.getMessage() for r in caplog.records if r.name == "inzage.security"]
    for event in (
        "sign-in failed",
        "reset requested",
        "reset used",
        "password changed",
    ):
        assert len([line for line in lines if line.startswith(event)]) == 1, event
    assert any(line.startswith("sign-in person=") for line in lines)
    for line in lines:
        assert "\n" not in line
        assert f"person={person.id}" in line or "person=None" in line or "key=" in line
        for secret in ("sam@example.test", PASSWORD, NEW_PASSWORD, token):
            assert secret not in line


# ------------------------------------------------------------- A13


def run_cli(database, *args) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "INZAGE_DATA_DIR": str(database.data_dir),
        "INZAGE_DATABASE_URL": database.db_url,
        "INZAGE_SECRET_KEY": database.secret_key,
        "INZAGE_BASE_URL": database.base_url,
    }
    env.pop("INZAGE_REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_add_staff_adds_no_password_and_sends_the_invitation(database, account):
    result = run_cli(
        database,
        "add-staff",
        "--school",
        "demo",
        "--email",
        "New.Mentor@Example.test",
        "--role",
        "mentor",
    )

    assert result.returncode == 0, result.stderr
    person = await Person.get(email="new.mentor@example.test")
    assert person.staff_role == "mentor" and person.password_hash is None
    outbox = await Outbox.get(person_id=person.id)
    assert outbox.kind == "invite" and outbox.status == "sent"
    mail = (database.mail_dir / f"outbox-{outbox.id}-invite.eml").read_text()
    assert "/forgot" in mail
    output = result.stdout + result.stderr
    assert "password" not in output.lower().replace("forgot your password", "")
    assert "new.mentor@example.test" not in result.stderr.lower()


async def test_add_staff_refuses_a_second_account_and_an_unknown_school(
    database, account
):
    twice = run_cli(
        database,
        "add-staff",
        "--school",
        "DEMO",
        "--email",
        "sam@example.test",
        "--role",
        "admin",
    )
    nowhere = run_cli(
        database,
        "add-staff",
        "--school",
        "NOPE",
        "--email",
        "x@example.test",
        "--role",
        "admin",
    )

    assert twice.returncode == 1 and nowhere.returncode == 1
    assert await Person.filter(staff_role="admin").count() == 0


def test_no_template_offers_a_password_hint_or_security_question():
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text().lower()
        assert "hint" not in text, path
        assert "security question" not in text, path


async def test_the_account_page_links_to_2fa_and_notifications(account, sign_in):
    client = await sign_in(account["person"])

    body = await (await client.get("/account/")).get_data(True)

    assert "<dt>Tweestapsverificatie</dt><dd>uit</dd>" in body
    for url in ("/account/2fa/setup", "/notifications"):
        assert f'href="{url}"' in body
        assert (await client.get(url)).status_code == 200


async def test_a_half_finished_sign_in_is_listed_as_not_finished(account, sign_in):
    person = account["person"]
    client = await sign_in(person)
    half = await sign_in(person)
    await Session.filter(token_hash=token_hash(half.token)).update(pending_2fa=True)

    page = await (await client.get("/account/sessions")).get_data(True)

    assert page.count("Inloggen niet afgemaakt") == 1
    assert page.count("Ingelogd ") == 1  # this device only
