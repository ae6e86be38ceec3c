"""The Postkantoor pages: inbox, message, delete, writing to the school, the badge."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from tortoise import Tortoise

from models.access import utcnow
from models.entities import (
    CARER,
    Message,
    MessageRecipient,
    NotificationSetting,
    Outbox,
    Person,
    School,
    Session,
    Student,
)
from models.messages import BADGE_SQL, send_message
from models.sessions import TOUCH_INTERVAL
from tests.factories import (
    approve,
    link,
    make_class,
    make_person,
    make_school,
    make_student,
)
from web.api import api_key_hash, new_api_key, replace_api_key
from web.inbox import body_parts

HTMX = {"HX-Request": "true"}


@pytest.fixture
async def family(database):
    school = await make_school()
    mentor = await make_person(
        school, staff_role="mentor", given_name="Marijke", language="en"
    )
    admin = await make_person(school, staff_role="admin", language="en")
    homeroom = await make_class(school, mentor)
    kid = await make_student(
        school, given_name="Sanne", family_name="Smit", homeroom=homeroom
    )
    sibling = await make_student(school, given_name="Bram", family_name="Smit")
    guardian = await make_person(school, language="en")
    other = await make_person(school, language="en")
    await link(guardian, kid)
    await link(guardian, sibling)
    stranger_kid = await make_student(school, given_name="Noor")
    await link(other, stranger_kid)
    return dict(
        school=school,
        mentor=mentor,
        admin=admin,
        kid=kid,
        sibling=sibling,
        guardian=guardian,
        other=other,
        stranger_kid=stranger_kid,
    )


async def send(f, student=None, to=None, **fields):
    fields.setdefault("subject", "Report ready")
    fields.setdefault("body", "Have a look.")
    fields.setdefault("kind", "section")
    fields.setdefault("section", "reports")
    return await send_message(
        school=f["school"],
        sender=f["mentor"],
        recipients=to or [f["guardian"]],
        student=student or f["kid"],
        **fields,
    )


async def badge_of(client) -> int:
    body = await (await client.get("/inbox/badge", headers=HTMX)).get_data(True)
    found = re.search(r'class="badge"[^>]*>(\d+)<', body)
    return int(found.group(1)) if found else 0


async def snapshot() -> dict:
    tables = {}
    for models in Tortoise.apps.values():
        for model in models.values():
            if model._meta.db_table != "session":
                tables[model._meta.db_table] = await model.all().values()
    return tables


# ---------------------------------------------------------- both renderings


async def test_inbox_page_and_fragment(family, sign_in):
    await send(family, subject="About the trip")
    client = await sign_in(family["guardian"])

    page = await client.get("/inbox/")
    fragment = await client.get("/inbox/", headers=HTMX)

    page_body, fragment_body = await page.get_data(True), await fragment.get_data(True)
    assert page.status_code == fragment.status_code == 200
    assert "<html" in page_body and 'id="inbox"' in page_body
    assert "<html" not in fragment_body
    assert 'id="inbox"' in fragment_body and "About the trip" in fragment_body
    assert "About Sanne Smit" in fragment_body  # every message names the student
    assert "Unread" in fragment_body


async def test_history_restore_gets_the_whole_page(family, sign_in):
    client = await sign_in(family["guardian"])

    restore = await client.get(
        "/inbox/", headers={**HTMX, "HX-History-Restore-Request": "true"}
    )

    assert "<html" in await restore.get_data(True)


@pytest.mark.parametrize(
    ("url", "marker"),
    [
        ("/inbox/{id}", 'id="message"'),
        ("/inbox/{id}/delete", 'id="confirm-delete"'),
        ("/inbox/new", 'id="new-message"'),
        ("/inbox/badge", 'class="badge"'),
    ],
)
async def test_every_view_has_a_page_and_a_fragment(family, sign_in, url, marker):
    sent = await send(family)
    client = await sign_in(family["guardian"])
    url = url.format(id=sent.message.id)

    fragment = await client.get(url, headers=HTMX)
    page = await client.get(url)

    for response in (page, fragment):
        assert response.status_code == 200, url
    page_body, fragment_body = await page.get_data(True), await fragment.get_data(True)
    assert "<html" in page_body and "<html" not in fragment_body
    if marker != 'class="badge"':
        assert marker in page_body
    assert marker in fragment_body or "unread" in fragment_body


async def test_sending_has_a_page_and_a_fragment(family, sign_in):
    client = await sign_in(family["guardian"])
    kid = family["kid"]

    page = await client.post(
        "/inbox/new",
        form=client.form(child=str(kid.id), subject="Ill", body="Sick today"),
    )
    fragment = await client.post(
        "/inbox/new",
        form=client.form(child=str(kid.id), subject="Ill", body="Sick again"),
        headers=HTMX,
    )

    assert page.status_code == fragment.status_code == 200
    assert "<html" in await page.get_data(True)
    body = await fragment.get_data(True)
    assert "<html" not in body and "Message sent" in body and "Sanne Smit" in body


# ---------------------------------------------------------- reading


async def test_reading_marks_read_and_the_badge_follows(family, sign_in):
    first, second = await send(family), await send(family, subject="Second")
    client = await sign_in(family["guardian"])
    assert await badge_of(client) == 2

    page = await client.get(f"/inbox/{first.message.id}", headers=HTMX)
    assert page.headers["HX-Trigger"] == "inbox-changed"
    assert await badge_of(client) == 1
    again = await client.get(f"/inbox/{first.message.id}", headers=HTMX)
    assert "HX-Trigger" not in again.headers

    deleted = await client.post(
        f"/inbox/{second.message.id}/delete", form=client.form()
    )
    assert deleted.status_code == 303 and deleted.headers["Location"] == "/inbox/"
    assert await badge_of(client) == 0
    assert (await client.get(f"/inbox/{second.message.id}")).status_code == 404
    # Per person: the mentor's and the other guardian's badges are their own.
    assert await badge_of(await sign_in(family["other"])) == 0


async def test_badge_is_per_person(family, sign_in):
    await link(family["other"], family["kid"])
    await send(family, to=[family["guardian"], family["other"]])
    await send(family, to=[family["guardian"]])

    mine, theirs = await sign_in(family["guardian"]), await sign_in(family["other"])

    assert await badge_of(mine) == 2
    assert await badge_of(theirs) == 1


async def test_nobody_reads_deletes_or_counts_anothers_message(family, sign_in):
    sent = await send(family)
    client = await sign_in(family["other"])
    message_id = sent.message.id
    before = await snapshot()

    for response in (
        await client.get(f"/inbox/{message_id}"),
        await client.get(f"/inbox/{message_id}", headers=HTMX),
        await client.get(f"/inbox/{message_id}/delete"),
        await client.post(f"/inbox/{message_id}/delete", form=client.form()),
    ):
        assert response.status_code == 404
        assert "Report ready" not in await response.get_data(True)
    assert await badge_of(client) == 0
    assert "Report ready" not in await (await client.get("/inbox/")).get_data(True)

    assert await snapshot() == before


async def test_a_withdrawn_approval_hides_the_message_from_the_carer(family, sign_in):
    carer = await make_person(family["school"], language="en")
    await link(carer, family["kid"], CARER)
    approval = await approve(family["guardian"], carer, family["kid"], "reports")
    sent = await send(family, to=[carer])
    client = await sign_in(carer)
    assert await badge_of(client) == 1

    await approval.delete()

    assert await badge_of(client) == 0
    assert (await client.get(f"/inbox/{sent.message.id}")).status_code == 404
    assert "Report ready" not in await (await client.get("/inbox/")).get_data(True)


async def test_body_is_text_links_only_https_and_mailto(family, sign_in):
    body = (
        '<div hx-get="/admin/x" hx-trigger="load">x</div>\n'
        "{{7*7}} javascript:alert(1) http://plain.test\n"
        "See https://school.test/trip?a=1&b=2. Or mailto:office@school.test"
    )
    sent = await send(family, body=body, subject='"><img src=x onerror=alert(1)>')
    client = await sign_in(family["guardian"])

    for headers in ({}, HTMX):
        page = await (
            await client.get(f"/inbox/{sent.message.id}", headers=headers)
        ).get_data(True)

        assert '<div hx-get="/admin/x"' not in page and "<img src=x" not in page
        assert "&lt;div hx-get=&#34;/admin/x&#34;" in page
        assert "{{7*7}} javascript:alert(1)" in page
        assert 'href="javascript:' not in page and 'href="http://plain' not in page
        assert '<a href="https://school.test/trip?a=1&amp;b=2" rel=' in page
        assert '<a href="mailto:office@school.test" rel=' in page
        assert "There is no reply button" in page


def test_body_parts_stop_links_at_punctuation_and_refuse_other_schemes():
    parts = body_parts("Go to https://a.test/x). Or JAVASCRIPT:x, https:// alone")

    assert [(p.text, p.is_link) for p in parts if p.is_link] == [
        ("https://a.test/x", True)
    ]
    assert "".join(p.text for p in parts) == (
        "Go to https://a.test/x). Or JAVASCRIPT:x, https:// alone"
    )


async def test_back_control_returns_to_the_page_and_child(family, sign_in):
    for n in range(27):
        await send(family, subject=f"S{n}", student=family["sibling"])
    client = await sign_in(family["guardian"])
    sibling = family["sibling"].id

    listing = await (
        await client.get(f"/inbox/?page=2&child={sibling}", headers=HTMX)
    ).get_data(True)
    link_to = re.search(r'href="(/inbox/\d+\?[^"]+)"', listing).group(1)
    message = await (await client.get(link_to.replace("&amp;", "&"))).get_data(True)

    assert f"page=2&amp;child={sibling}" in link_to
    back = re.search(r'class="back" href="([^"]+)"', message).group(1)
    assert back == f"/inbox/?page=2&amp;child={sibling}"
    assert "S1" in listing and "S26" not in listing


# ---------------------------------------------------------- writing


async def test_a_guardian_writes_to_the_mentor(family, sign_in):
    client = await sign_in(family["guardian"])
    kid = family["kid"]

    response = await client.post(
        "/inbox/new",
        form=client.form(
            child=str(kid.id), subject="Dentist", body="Away at 10.", nonce="n1"
        ),
    )

    assert response.status_code == 200
    message = await Message.get()
    assert (message.student_id, message.sender_id) == (kid.id, family["guardian"].id)
    recipients = await MessageRecipient.all().values_list("person_id", flat=True)
    assert recipients == [family["mentor"].id]
    assert await badge_of(await sign_in(family["mentor"])) == 1


async def test_staff_reading_a_message_are_sent_to_the_staff_form(family, sign_in):
    client = await sign_in(family["guardian"])
    kid = family["kid"]
    await client.post(
        "/inbox/new",
        form=client.form(child=str(kid.id), subject="Dentist", body="Away at 10."),
    )
    message = await Message.get()
    mentor = await sign_in(family["mentor"])

    page = await (await mentor.get(f"/inbox/{message.id}")).get_data(True)
    form = await mentor.get(f"/staff/messages/students/{kid.id}")

    assert f'href="/staff/messages/students/{kid.id}"' in page
    assert "/inbox/new" not in page
    assert form.status_code == 200


async def test_without_a_mentor_the_admins_get_it(family, sign_in):
    client = await sign_in(family["guardian"])

    await client.post(
        "/inbox/new",
        form=client.form(
            child=str(family["sibling"].id), subject="Hello", body="Question"
        ),
    )

    recipients = await MessageRecipient.all().values_list("person_id", flat=True)
    assert recipients == [family["admin"].id]


async def test_writing_about_a_stranger_is_404_and_changes_nothing(family, sign_in):
    client = await sign_in(family["guardian"])
    before = await snapshot()

    for headers in ({}, HTMX):
        response = await client.post(
            "/inbox/new",
            form=client.form(
                child=str(family["stranger_kid"].id), subject="Hi", body="x"
            ),
            headers=headers,
        )
        assert response.status_code == 404

    assert await snapshot() == before


async def test_bad_input_gets_a_clear_message_and_nothing_is_sent(family, sign_in):
    client = await sign_in(family["guardian"])

    response = await client.post(
        "/inbox/new",
        form=client.form(
            child=str(family["kid"].id),
            subject="Hi\r\nBcc: x@evil.test",
            body="Body",
        ),
    )

    assert response.status_code == 400
    assert "without line breaks" in await response.get_data(True)
    assert await Message.all().count() == 0 and await Outbox.all().count() == 0


async def test_the_same_form_sent_twice_makes_one_message(family, sign_in):
    client = await sign_in(family["guardian"])
    form = client.form(
        child=str(family["kid"].id), subject="Twice", body="Once", nonce="same"
    )

    first = await client.post("/inbox/new", form=form)
    second = await client.post("/inbox/new", form=form)

    assert first.status_code == second.status_code == 200
    assert await Message.all().count() == 1
    assert await MessageRecipient.all().count() == 1
    assert await Outbox.filter(kind="notice").count() == 1


# ---------------------------------------------------------- the badge


async def test_badge_polling_does_not_keep_the_session_alive(family, sign_in):
    client = await sign_in(family["guardian"])
    long_ago = utcnow() - TOUCH_INTERVAL - timedelta(seconds=5)
    await Session.filter(person_id=family["guardian"].id).update(last_seen_at=long_ago)

    await client.get("/inbox/badge", headers=HTMX)
    await client.get("/inbox/badge")

    session = await Session.get(person_id=family["guardian"].id)
    assert session.last_seen_at == long_ago
    # Any other page does count as activity.
    await client.get("/inbox/")
    assert (await Session.get(id=session.id)).last_seen_at > long_ago


async def test_badge_of_an_idle_session_signs_out(family, sign_in):
    client = await sign_in(family["guardian"])
    await Session.filter(person_id=family["guardian"].id).update(
        last_seen_at=utcnow() - timedelta(minutes=31)
    )

    response = await client.get("/inbox/badge", headers=HTMX)

    assert response.status_code == 401 and response.headers["HX-Redirect"] == "/login"
    assert await Session.all().count() == 0


async def test_every_page_carries_the_polling_badge(family, sign_in):
    client = await sign_in(family["guardian"])

    body = await (await client.get(f"/students/{family['kid'].id}/")).get_data(True)

    badge = re.search(r'<span id="unread-badge"[^>]*>', body).group(0)
    assert 'hx-get="/inbox/badge"' in badge
    assert 'hx-trigger="load, every 30s, inbox-changed from:body"' in badge


async def test_the_inbox_speaks_dutch_to_a_dutch_parent(family, sign_in):
    await Person.filter(id=family["guardian"].id).update(language="nl")
    await send(family)
    client = await sign_in(family["guardian"])

    body = await (await client.get("/inbox/")).get_data(True)
    badge = await (await client.get("/inbox/badge", headers=HTMX)).get_data(True)

    assert "Postkantoor" in body and "Over Sanne Smit" in body and "Ongelezen" in body
    assert "Ongelezen berichten: 1" in badge


# ---------------------------------------------------------- staff sending


async def test_staff_send_to_guardians_and_are_told_who_was_left_out(family, sign_in):
    school, kid = family["school"], family["kid"]
    older = await make_student(
        school,
        given_name="Mees",
        birth_date=date(2009, 1, 1),
        homeroom_id=kid.homeroom_id,
    )
    await link(family["other"], older)
    client = await sign_in(family["mentor"])

    for headers in ({}, HTMX):
        response = await client.post(
            f"/staff/messages/students/{older.id}",
            form=client.form(topic="results", subject="Grades", body="See them."),
            headers=headers,
        )
        body = await response.get_data(True)
        assert response.status_code == 200
        assert ("<html" in body) is not bool(headers)
        assert "Left out" in body and family["other"].name in body
    assert await Message.all().count() == 0  # nobody could receive it


async def test_staff_send_to_a_class_one_message_per_student(family, sign_in):
    await link(family["other"], family["kid"])
    client = await sign_in(family["mentor"])
    homeroom = family["kid"].homeroom_id

    page = await client.get(f"/staff/messages/classes/{homeroom}")
    fragment = await client.get(f"/staff/messages/classes/{homeroom}", headers=HTMX)
    response = await client.post(
        f"/staff/messages/classes/{homeroom}",
        form=client.form(topic="general", subject="Trip", body="Bring lunch."),
    )

    assert "<html" in await page.get_data(True)
    assert "<html" not in await fragment.get_data(True)
    assert response.status_code == 200
    messages = await Message.all().values("student_id", "subject")
    assert messages == [{"student_id": family["kid"].id, "subject": "Trip"}]
    assert await MessageRecipient.all().count() == 2


async def test_staff_outside_their_role_get_404_and_nothing_is_sent(family, sign_in):
    other_mentor = await make_person(family["school"], staff_role="mentor")
    client = await sign_in(other_mentor)
    before = await snapshot()

    for url in (
        f"/staff/messages/students/{family['kid'].id}",
        f"/staff/messages/classes/{family['kid'].homeroom_id}",
    ):
        assert (await client.get(url)).status_code == 404
        posted = await client.post(
            url, form=client.form(topic="general", subject="x", body="y")
        )
        assert posted.status_code == 404
    guardian = await sign_in(family["guardian"])
    assert (await guardian.get("/staff/messages/")).status_code == 403

    assert await snapshot() == before


# ---------------------------------------------------------- the API


@pytest.fixture
async def api_key(family):
    key = new_api_key(family["school"])
    await School.filter(id=family["school"].id).update(api_key_hash=api_key_hash(key))
    await Student.filter(id=family["kid"].id).update(sourced_id="stu-1")
    return key


async def test_api_sends_with_a_key_and_no_cookie(app, family, api_key):
    client = app.test_client()
    payload = {
        "student": "stu-1",
        "kind": "section",
        "section": "absence",
        "subject": "Absent today",
        "body": "Sanne was not in class.",
        "idempotencyKey": "absence-2026-05-04",
    }
    headers = {"Authorization": f"Bearer {api_key}"}

    first = await client.post("/api/messages", json=payload, headers=headers)
    again = await client.post("/api/messages", json=payload, headers=headers)

    assert first.status_code == 201 and again.status_code == 200
    answer = await first.get_json()
    assert [p["id"] for p in answer["delivered"]] == [family["guardian"].id]
    assert (await again.get_json())["duplicate"] is True
    assert await Message.all().count() == 1
    assert await MessageRecipient.all().count() == 1
    assert await Outbox.all().count() == 1
    message = await Message.get()
    assert message.sender_id is None and message.student_id == family["kid"].id


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong", "Bearer TEST.wrong", "Basic abc", "Bearer "],
)
async def test_api_refuses_a_wrong_key(app, family, api_key, header):
    headers = {"Authorization": header} if header else {}

    response = await app.test_client().post(
        "/api/messages",
        json={"student": "stu-1", "subject": "x", "body": "y"},
        headers=headers,
    )

    assert response.status_code == 401
    assert await Message.all().count() == 0


async def test_api_unknown_student_is_404(app, family, api_key):
    response = await app.test_client().post(
        "/api/messages",
        json={"student": "nobody", "subject": "x", "body": "y"},
        headers={"Authorization": f"Bearer {api_key}"},
    )

    assert response.status_code == 404
    assert await Message.all().count() == 0


async def test_api_bad_input_is_400(app, family, api_key):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {api_key}"}

    for payload in (
        [1, 2],
        {"student": "stu-1", "subject": "a\r\nBcc: x@evil.test", "body": "y"},
        {"student": "stu-1", "subject": "x", "body": "y", "kind": "gossip"},
        {"student": 5, "subject": "x", "body": "y"},
    ):
        response = await client.post("/api/messages", json=payload, headers=headers)
        assert response.status_code == 400, payload
    assert await Message.all().count() == 0


async def test_a_key_of_another_school_does_not_open_this_one(app, family, api_key):
    elsewhere = await make_school("ELSE")
    key = new_api_key(elsewhere)
    await School.filter(id=elsewhere.id).update(api_key_hash=api_key_hash(key))

    response = await app.test_client().post(
        "/api/messages",
        json={"student": "stu-1", "subject": "x", "body": "y"},
        headers={"Authorization": f"Bearer {key}"},
    )

    assert response.status_code == 404  # stu-1 is not a student of ELSE


async def test_api_key_command_replaces_the_key(app, family, api_key):
    from web.cli import _parser

    args = _parser().parse_args(["api-key", "--school", "test"])
    key = await replace_api_key(args.school)

    assert key.startswith("TEST.") and key != api_key
    school = await School.get(id=family["school"].id)
    assert school.api_key_hash == api_key_hash(key)
    assert await replace_api_key("NOPE") is None
    old = await app.test_client().post(
        "/api/messages",
        json={"student": "stu-1", "subject": "x", "body": "y"},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert old.status_code == 401


# ---------------------------------------------------------- notifications


async def test_notifications_defaults_and_saving(family, sign_in):
    client = await sign_in(family["guardian"])

    page = await (await client.get("/notifications")).get_data(True)
    fragment = await (await client.get("/notifications", headers=HTMX)).get_data(True)
    assert "<html" in page and "<html" not in fragment
    checked = re.findall(r'name="event-(\w+)" value="(\w+)" checked', fragment)
    # Only events the product produces today: no document, change request
    # or new-data choices before those features exist.
    assert dict(checked) == {"message": "immediate", "approval_awaited": "immediate"}

    saved = await client.post(
        "/notifications",
        form=client.form(
            **{
                "event-message": "daily",
                "event-approval_awaited": "bogus",
                "event-document": "daily",
            }
        ),
    )
    assert saved.status_code == 302
    rows = await NotificationSetting.all().values("person_id", "event", "mode")
    assert rows == [
        {"person_id": family["guardian"].id, "event": "message", "mode": "daily"}
    ]
    htmx_saved = await client.post(
        "/notifications",
        form=client.form(**{"event-message": "off"}),
        headers=HTMX,
    )
    assert "Your choices are saved." in await htmx_saved.get_data(True)
    assert (await NotificationSetting.get()).mode == "off"


async def test_the_badge_is_one_statement_whatever_the_messages(
    family, sign_in, monkeypatch
):
    from tests.web.test_security import QueryCounter

    client = await sign_in(family["guardian"])
    await badge_of(client)  # the school's time zone is read once per process
    counter = QueryCounter(monkeypatch)

    empty = await counter.count(lambda: badge_of(client))
    for n in range(30):
        student = family["kid"] if n % 2 else family["sibling"]
        section = ("reports", "results", "care")[n % 3]
        await send(family, student=student, section=section, subject=f"S{n}")
    full = await counter.count(lambda: badge_of(client))

    assert empty == full == 1
    assert counter.queries[-1].startswith(BADGE_SQL[:40])
    assert await badge_of(client) == 30
