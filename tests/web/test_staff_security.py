"""The staff part's 2FA policy: school setting, require and reset per person."""

from __future__ import annotations

import logging

import pytest

from models import totp
from models.entities import Outbox, Person, RecoveryCode, School, Session
from tests.factories import link, make_person, make_school, make_student
from tests.web.conftest import PASSWORD, PASSWORD_HASH, sign_in_with_form

HTMX = {"HX-Request": "true"}
URL = "/staff/security/"


@pytest.fixture
async def people(app):
    school = await make_school("DEMO", name="De Regenboog")
    kid = await make_student(school, given_name="Sanne")
    guardian = await make_person(
        school, given_name="Gea", email="gea@example.test", password_hash=PASSWORD_HASH
    )
    await link(guardian, kid)
    other_school = await make_school("ELSE")
    return dict(
        school=school,
        guardian=guardian,
        admin=await make_person(school, staff_role="admin"),
        mentor=await make_person(school, staff_role="mentor"),
        care=await make_person(school, staff_role="care"),
        stranger=await make_person(other_school, require_2fa=False),
        other_admin=await make_person(other_school, staff_role="admin"),
    )


async def post(client, path: str, headers=None, **fields):
    return await client.post(
        "/staff/security" + path, form=client.form(**fields), headers=headers or {}
    )


@pytest.mark.parametrize("role", ["guardian", "mentor", "care"])
async def test_only_admins_get_in(people, sign_in, role):
    client = await sign_in(people[role])
    target = people["guardian"]

    responses = [
        await client.get(URL),
        await client.get(URL, headers=HTMX),
        await post(client, "/school", required="on"),
        await post(client, "/people/require", person_id=target.id, required="on"),
        await post(client, "/people/reset", person_id=target.id),
    ]

    assert [r.status_code for r in responses] == [403] * 5
    assert not (await School.get(id=people["school"].id)).require_2fa
    assert not (await Person.get(id=target.id)).require_2fa
    assert not await Outbox.exists()


async def test_signed_out_goes_to_sign_in(client, people):
    response = await client.get(URL)

    assert response.status_code == 302 and response.headers["Location"] == "/login"


async def test_the_overview_lists_the_schools_people_only(people, sign_in):
    client = await sign_in(people["admin"])

    response = await client.get(URL)
    body = await response.get_data(True)
    found = await client.get(URL + "?q=gea@")

    assert response.status_code == 200
    assert "Gea" in body and people["stranger"].family_name not in body
    assert people["mentor"].family_name in body
    assert "Gea" in await found.get_data(True)
    assert people["mentor"].family_name not in await found.get_data(True)


async def test_the_school_setting_sends_everyone_through_set_up(
    app, people, sign_in, caplog
):
    caplog.set_level(logging.INFO, logger="inzage.security")
    admin = await sign_in(people["admin"])

    on = await post(admin, "/school", required="on")
    again = await post(admin, "/school", required="on")  # a wanted state, no toggle
    school = await School.get(id=people["school"].id)
    guardian = app.test_client()
    response = await sign_in_with_form(guardian, "DEMO", "gea@example.test", PASSWORD)

    assert on.status_code == again.status_code == 302
    assert school.require_2fa
    assert response.headers["Location"] == "/account/2fa/setup"
    assert (
        f"2fa school setting school={school.id} required=True by={people['admin'].id}"
        in caplog.messages
    )

    await post(admin, "/school", required="off")
    assert not (await School.get(id=school.id)).require_2fa
    # The other school is untouched.
    assert not (await School.get(id=people["stranger"].school_id)).require_2fa


async def test_require_2fa_of_one_person_with_an_explicit_state(people, sign_in):
    client = await sign_in(people["admin"])
    target = people["guardian"]

    await post(client, "/people/require", person_id=target.id, required="on")
    await post(client, "/people/require", person_id=target.id, required="on")
    required = (await Person.get(id=target.id)).require_2fa
    fragment = await post(
        client, "/people/require", HTMX, person_id=target.id, required="off"
    )
    odd = await post(client, "/people/require", person_id=target.id, required="1")

    assert required
    assert fragment.status_code == 200
    body = await fragment.get_data(True)
    assert body.lstrip().startswith(f'<li class="person" id="person-{target.id}"')
    assert 'value="on"' in body  # the button now offers to require it again
    assert not (await Person.get(id=target.id)).require_2fa
    assert odd.status_code == 400


async def test_another_schools_person_is_not_found(people, sign_in):
    client = await sign_in(people["admin"])
    stranger = people["stranger"]

    required = await post(
        client, "/people/require", person_id=stranger.id, required="on"
    )
    reset = await post(client, "/people/reset", person_id=stranger.id)
    junk = await post(client, "/people/reset", person_id="abc")

    assert required.status_code == reset.status_code == 404
    assert junk.status_code == 400
    assert not (await Person.get(id=stranger.id)).require_2fa
    assert not await Outbox.exists()


async def test_reset_clears_2fa_queues_the_e_mail_and_means_set_up_next_time(
    app, people, sign_in, caplog
):
    caplog.set_level(logging.INFO, logger="inzage.security")
    target = people["guardian"]
    secret = totp.new_secret()
    stored = totp.encrypt_secret(secret, app.config["SECRET_KEY"], target.id)
    await Person.filter(id=target.id).update(
        totp_secret=stored, totp_enabled=True, totp_last_step=123
    )
    await totp.replace_recovery_codes(target.id)
    client = await sign_in(people["admin"])

    response = await post(client, "/people/reset", person_id=target.id)

    assert response.status_code == 302
    person = await Person.get(id=target.id)
    assert person.totp_secret is None and not person.totp_enabled
    assert person.totp_last_step is None and person.require_2fa
    assert not await RecoveryCode.exists(person_id=target.id)
    mail = await Outbox.get(person_id=target.id)
    assert mail.kind == "2fa-reset" and mail.payload == {}
    assert f"2fa reset person={target.id} by={people['admin'].id}" in caplog.messages

    guardian = app.test_client()
    response = await sign_in_with_form(guardian, "DEMO", "gea@example.test", PASSWORD)
    assert response.headers["Location"] == "/account/2fa/setup"
    assert (await Session.get(person_id=target.id)).pending_2fa


async def test_a_failed_reset_queues_no_e_mail(app, people, sign_in, monkeypatch):
    target = people["guardian"]
    await Person.filter(id=target.id).update(totp_enabled=True, totp_secret="v1:x")
    client = await sign_in(people["admin"])

    async def broken(*args, **kwargs):
        raise RuntimeError("outbox down")

    monkeypatch.setattr("web.staff_security.add_email", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = await post(client, "/people/reset", person_id=target.id)

    assert response.status_code == 500
    # One transaction: the e-mail failed, so the 2FA is not reset either.
    assert (await Person.get(id=target.id)).totp_enabled
    assert not await Outbox.exists()


async def test_people_sort_on_the_surname_without_its_prefix_across_pages(
    sign_in, monkeypatch
):
    from web import staff_security

    school = await make_school("SORT")
    admin = await make_person(school, staff_role="admin", family_name="Visser")
    for family_name in ("van Dijk", "Bakker", "el Amrani", "Jansen", "de Wit"):
        await make_person(school, family_name=family_name, given_name="Kim")
    monkeypatch.setattr(staff_security, "PAGE_SIZE", 4)
    client = await sign_in(admin)

    pages = [await (await client.get(f"{URL}?page={n}")).get_data(True) for n in (1, 2)]

    names = ["el Amrani", "Bakker", "van Dijk", "Jansen", "Visser", "de Wit"]
    order = [p.find(f"<strong>{name},") for p in pages for name in names]
    assert all(found >= 0 for found in order[:4] + order[10:])
    assert order[:4] == sorted(order[:4]) and order[10:] == sorted(order[10:])
    assert order[4:10] == [-1] * 6  # the first four are on page 1 only
