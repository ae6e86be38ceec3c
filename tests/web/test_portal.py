"""The family part: welcome page, sections, child switcher, and who gets nothing."""

import re
from datetime import date

import pytest

from models.entities import (
    CARER,
    SELF,
    Absence,
    AccessLog,
    Document,
    Record,
    Result,
)
from models.entities import TestScore as Score  # pytest would collect Test*
from models.records import newest_first, page_query
from tests.factories import (
    approve,
    break_access_log_writes,
    link,
    make_class,
    make_person,
    make_school,
    make_student,
)
from web.records import section_page


@pytest.fixture
async def family(database):
    school = await make_school("DEMO")
    kid = await make_student(school, given_name="Sanne", family_name="de Vries")
    other = await make_student(school, given_name="Bram", family_name="Jansen")
    g1 = await make_person(school)
    g2 = await make_person(school)
    carer = await make_person(school)
    await link(g1, kid)
    await link(g2, kid)
    await link(carer, kid, CARER)
    await Result.create(
        student=kid, date=date(2026, 10, 1), subject="Rekenen", score="7,5"
    )
    await Result.create(
        student=other, date=date(2026, 10, 1), subject="Taal", score="4,1"
    )
    return dict(school=school, kid=kid, other=other, g1=g1, g2=g2, carer=carer)


async def test_welcome_lists_sections_and_section_shows_records(family, sign_in):
    client = await sign_in(family["g1"])
    kid = family["kid"]

    welcome = await client.get(f"/students/{kid.id}/")
    page = await client.get(f"/students/{kid.id}/results")

    assert welcome.status_code == 200
    assert "Resultaten" in await welcome.get_data(True)
    body = await page.get_data(True)
    assert page.status_code == 200
    assert body.startswith('<!doctype html>\n<html lang="nl">')
    assert "Rekenen" in body and "7,5" in body
    assert "Taal" not in body


async def test_root_sends_a_guardian_to_their_child(family, sign_in):
    client = await sign_in(family["g1"])

    response = await client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"] == f"/students/{family['kid'].id}/"


@pytest.mark.parametrize("suffix", ["", "results", "personal", "documents/1"])
async def test_guardian_editing_the_url_to_another_student_gets_nothing(
    family, sign_in, suffix
):
    client = await sign_in(family["g1"])
    url = f"/students/{family['other'].id}/{suffix}"

    page = await client.get(url)
    fragment = await client.get(url, headers={"HX-Request": "true"})

    assert page.status_code == 404
    assert fragment.status_code == 404
    for response in (page, fragment):
        body = await response.get_data(True)
        assert "Bram" not in body and "Taal" not in body


async def test_carer_without_approval_gets_nothing(family, sign_in):
    client = await sign_in(family["carer"])
    kid = family["kid"]

    welcome = await client.get(f"/students/{kid.id}/")
    page = await client.get(f"/students/{kid.id}/results")
    fragment = await client.get(
        f"/students/{kid.id}/results", headers={"HX-Request": "true"}
    )

    assert welcome.status_code == 200
    assert "Resultaten" not in await welcome.get_data(True)
    assert page.status_code == 404
    assert fragment.status_code == 404
    assert "7,5" not in await page.get_data(True)
    assert "7,5" not in await fragment.get_data(True)
    # On PostgreSQL the session's statement read the rows ahead; refused,
    # they were neither shown nor logged as seen.
    assert await AccessLog.filter(person_id=family["carer"].id).count() == 0


async def test_carer_sees_a_section_once_both_guardians_approved(family, sign_in):
    kid, carer = family["kid"], family["carer"]
    await approve(family["g1"], carer, kid, "results")
    client = await sign_in(carer)
    assert (await client.get(f"/students/{kid.id}/results")).status_code == 404

    await approve(family["g2"], carer, kid, "results")
    response = await client.get(f"/students/{kid.id}/results")

    assert response.status_code == 200
    assert "7,5" in await response.get_data(True)


async def test_fragment_is_only_the_list_and_page_is_whole(family, sign_in):
    client = await sign_in(family["g1"])
    url = f"/students/{family['kid'].id}/results"

    page = await client.get(url)
    fragment = await client.get(url, headers={"HX-Request": "true"})
    restore = await client.get(
        url, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )

    assert "<html" in await page.get_data(True)
    fragment_body = await fragment.get_data(True)
    assert "<html" not in fragment_body and 'id="records"' in fragment_body
    assert "<html" in await restore.get_data(True)
    assert "HX-Request" in page.headers.get("Vary", "")


async def test_section_pages_hold_50_newest_first(family, sign_in):
    kid = family["kid"]
    for day in range(1, 61):
        await Absence.create(
            student=kid,
            date=date(2026, 1, 1).replace(day=1 + day % 28, month=1 + day // 28),
            reason=f"reason-{day:02d}",
        )
    client = await sign_in(family["g1"])

    first = await (await client.get(f"/students/{kid.id}/absence")).get_data(True)
    second = await (await client.get(f"/students/{kid.id}/absence?page=2")).get_data(
        True
    )

    assert first.count('class="record"') == 50
    assert second.count('class="record"') == 10
    assert first.index("reason-60") < first.index("reason-59")


async def test_a_page_orders_records_by_date_then_by_id_newest_first(family, sign_in):
    kid = family["kid"]
    await Result.filter(student_id=kid.id).delete()
    days = [date(2025, 12, 30), date(2026, 1, 2), date(2026, 10, 1), date(2026, 2, 1)]
    made = [
        await Result.create(student=kid, date=days[n % 4], subject=f"vak-{n:02d}")
        for n in range(55)
    ]
    newest = sorted(made, key=lambda r: (r.date, r.id), reverse=True)[:50]
    client = await sign_in(family["g1"])

    body = await (await client.get(f"/students/{kid.id}/results")).get_data(True)

    shown = re.findall(r"<strong>(vak-\d\d)</strong>", body)
    assert shown == [result.subject for result in newest]


async def test_each_kind_of_section_shows_every_field_of_a_record(family, sign_in):
    kid = family["kid"]
    day = date(2026, 3, 9)
    await Absence.create(
        student=kid, date=day, period="3", kind="late", reason="Bus", authorised=True
    )
    await Result.create(
        student=kid,
        date=day,
        subject="Aardrijkskunde",
        title="Topo",
        period="P2",
        score="8,1",
        comment="Netjes & vlot",
    )
    await Score.create(
        student=kid, date=day, test_name="Cito", part="Lezen", score="212", level="B"
    )
    await Document.create(
        student=kid, date=day, title="OPP", filename="opp.pdf", storage_name="x1"
    )
    await Record.create(
        student=kid, section="notes", date=day, title="Gesprek", body="Goed", author="M"
    )
    shown = {
        "absence": ["Te laat", "lesuur 3", "Bus", "geoorloofd"],
        "results": ["Aardrijkskunde", "Topo", "P2", "8,1", "Netjes &amp; vlot"],
        "tests": ["Cito", "Lezen", "212", ">B<"],
        "documents": ["OPP", "opp.pdf", f"/students/{kid.id}/documents/"],
        "notes": ["Gesprek", "Goed", ">M<"],
    }
    client = await sign_in(family["g1"])

    for section, values in shown.items():
        for headers in ({}, {"HX-Request": "true"}):
            response = await client.get(
                f"/students/{kid.id}/{section}", headers=headers
            )
            body = await response.get_data(True)
            assert response.status_code == 200
            assert '<time datetime="2026-03-09">09-03-2026</time>' in body, section
            for value in values:
                assert value in body, (section, value)


async def test_every_view_is_logged_with_role(family, sign_in):
    kid = family["kid"]
    client = await sign_in(family["g1"])

    await client.get(f"/students/{kid.id}/results")
    await client.get(f"/students/{kid.id}/results", headers={"HX-Request": "true"})

    rows = await AccessLog.filter(student_id=kid.id).values_list(
        "section", "role", "action"
    )
    assert rows == [("results", "guardian", "view")] * 2


async def test_a_view_that_cannot_be_logged_shows_nothing(family, sign_in, monkeypatch):
    kid = family["kid"]
    client = await sign_in(family["g1"])
    break_access_log_writes(monkeypatch)

    for headers in ({}, {"HX-Request": "true"}):
        response = await client.get(f"/students/{kid.id}/results", headers=headers)

        assert response.status_code == 500
        assert "Rekenen" not in await response.get_data(True)
    monkeypatch.undo()
    assert await AccessLog.all().count() == 0


async def test_rows_read_ahead_stand_only_for_their_own_page(family):
    kid = family["kid"]
    wrong = [[0, "2026-01-01", "Read ahead", "", None, "", None]]

    for number, section in ((2, "results"), (1, "absence")):
        ahead = (page_query(kid.id, "results", number), wrong)
        page = await section_page(kid.id, section, 1, read_ahead=ahead)
        assert "Read ahead" not in [item.subject for item in page.items]
    ahead = (page_query(kid.id, "results", 1), wrong)
    page = await section_page(kid.id, "results", 1, read_ahead=ahead)

    assert [item.subject for item in page.items] == ["Read ahead"]


async def test_switcher_lists_each_linked_child(database, sign_in):
    school = await make_school()
    a = await make_student(school, given_name="Anna")
    b = await make_student(school, given_name="Daan")
    parent = await make_person(school)
    await link(parent, a)
    await link(parent, b)
    client = await sign_in(parent)

    body = await (await client.get(f"/students/{a.id}/")).get_data(True)

    assert f'href="/students/{b.id}/"' in body and "Daan" in body


async def test_student_over_16_sees_own_file(database, sign_in):
    school = await make_school()
    kid = await make_student(school, birth_date=date(2008, 5, 5))
    me = await make_person(school)
    await link(me, kid, SELF)
    await Record.create(
        student=kid, section="notes", date=date(2026, 9, 1), title="Gesprek"
    )
    client = await sign_in(me)

    response = await client.get(f"/students/{kid.id}/notes")

    assert response.status_code == 200
    assert "Gesprek" in await response.get_data(True)


async def test_signed_out_visitor_gets_the_sign_in_page(client):
    root = await client.get("/")
    section = await client.get("/students/1/results")
    fragment = await client.get("/students/1/results", headers={"HX-Request": "true"})

    assert root.headers["Location"] == "/login"
    assert section.headers["Location"] == "/login"
    assert fragment.headers["HX-Redirect"] == "/login"


async def test_staff_pages_answer_403_to_non_staff(family, sign_in):
    client = await sign_in(family["g1"])

    assert (await client.get("/staff/")).status_code == 403
    assert (await client.get(f"/staff/students/{family['kid'].id}/")).status_code == 403


async def test_mentor_sees_only_students_of_their_classes(database, sign_in):
    school = await make_school()
    mentor = await make_person(school, staff_role="mentor")
    mine = await make_class(school, mentor)
    theirs = await make_class(school)
    in_class = await make_student(school, homeroom=mine, given_name="Mila")
    outside = await make_student(school, homeroom=theirs, given_name="Noah")
    await Result.create(
        student=outside, date=date(2026, 10, 1), subject="Aardrijkskunde"
    )
    client = await sign_in(mentor)

    listing = await (await client.get("/staff/")).get_data(True)
    own = await client.get(f"/staff/students/{in_class.id}/results")
    other = await client.get(f"/staff/students/{outside.id}/results")
    other_fragment = await client.get(
        f"/staff/students/{outside.id}/results", headers={"HX-Request": "true"}
    )

    assert "Mila" in listing and "Noah" not in listing
    assert own.status_code == 200
    assert other.status_code == 404 and other_fragment.status_code == 404
    assert "Aardrijkskunde" not in await other.get_data(True)


async def test_staff_never_cross_schools(database, sign_in):
    one = await make_school("ONE")
    two = await make_school("TWO")
    admin = await make_person(one, staff_role="admin")
    elsewhere = await make_student(two)
    client = await sign_in(admin)

    assert (await client.get(f"/staff/students/{elsewhere.id}/")).status_code == 404


async def test_staff_who_is_also_guardian_has_both_parts(database, sign_in):
    school = await make_school()
    teacher = await make_person(school, staff_role="mentor")
    own_child = await make_student(school)
    await link(teacher, own_child)
    client = await sign_in(teacher)

    portal = await client.get(f"/students/{own_child.id}/results")
    staff = await client.get(f"/staff/students/{own_child.id}/results")
    await client.get("/staff/")

    assert portal.status_code == 200
    # Not their homeroom: as staff the mentor has no right to this student.
    assert staff.status_code == 404
    roles = await AccessLog.filter(student_id=own_child.id).values_list(
        "role", flat=True
    )
    assert roles == ["guardian"]


async def test_refused_access_is_written_to_the_security_log(family, sign_in, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="inzage.security")
    client = await sign_in(family["carer"])

    await client.get(f"/students/{family['other'].id}/")
    await client.get(f"/students/{family['kid'].id}/results")

    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refusals == [
        f"portal access refused person={family['carer'].id} "
        f"student={family['other'].id}",
        f"portal access refused person={family['carer'].id} "
        f"student={family['kid'].id} section=results",
    ]


async def test_withdrawn_result_is_not_shown_to_the_guardian(family, sign_in):
    kid = family["kid"]
    await Result.create(
        student=kid,
        date=date(2026, 10, 2),
        subject="Aardrijkskunde",
        score="3,2",
        sourced_id="r-withdrawn",
        active=False,
    )
    client = await sign_in(family["g1"])

    page = await client.get(f"/students/{kid.id}/results")

    body = await page.get_data(True)
    assert page.status_code == 200
    assert body.startswith('<!doctype html>\n<html lang="nl">')
    assert "Rekenen" in body and "7,5" in body
    assert "Aardrijkskunde" not in body and "3,2" not in body


async def test_403_for_a_missing_right_does_not_talk_about_forms(family, sign_in):
    client = await sign_in(family["g1"])

    staff_page = await (await client.get("/staff/")).get_data(True)
    refused_form = await client.post("/language", form={"language": "en"})

    assert "Geen toegang" in staff_page and "formulier" not in staff_page
    assert "formulier" in await refused_form.get_data(True)


async def test_switching_language_returns_to_the_same_page(family, sign_in):
    kid = family["kid"]
    client = await sign_in(family["g1"])
    page = await (await client.get(f"/students/{kid.id}/results?page=1")).get_data(True)
    assert f'name="next" value="/students/{kid.id}/results?page=1"' in page

    back = await client.post(
        "/language",
        form=client.form(language="en", next=f"/students/{kid.id}/results?page=1"),
    )

    assert back.status_code == 302
    assert back.headers["Location"] == f"/students/{kid.id}/results?page=1"


@pytest.mark.parametrize(
    "forged", ["https://evil.example/", "//evil.example/x", "/\\evil.example", ""]
)
async def test_the_language_switch_never_leaves_the_site(family, sign_in, forged):
    client = await sign_in(family["g1"])

    back = await client.post("/language", form=client.form(language="en", next=forged))

    assert back.status_code == 302 and back.headers["Location"] == "/"


@pytest.mark.parametrize("suffix", ["", "results", "documents/1", "sharing", "log"])
async def test_an_expired_session_gets_nothing_of_the_file(family, sign_in, suffix):
    # The pages of a file read the view with the session: an ended session
    # must still end there, before any of the file is shown.
    from datetime import timedelta

    from models.access import utcnow
    from models.entities import Session

    client = await sign_in(family["g1"])
    url = f"/students/{family['kid'].id}/{suffix}"
    assert (await client.get(url)).status_code in (200, 404)
    await Session.filter(person_id=family["g1"].id).update(
        last_seen_at=utcnow() - timedelta(minutes=31)
    )

    page = await client.get(url)
    fragment = await client.get(url, headers={"HX-Request": "true"})

    assert page.status_code == 302 and page.headers["Location"] == "/login"
    assert fragment.status_code == 401 and "HX-Redirect" in fragment.headers
    for response in (page, fragment):
        assert "Sanne" not in await response.get_data(True)
    assert await Session.filter(person_id=family["g1"].id).count() == 0


async def test_a_paged_fragment_tells_the_language_switch_where_the_page_is(
    family, sign_in
):
    kid = family["kid"]
    await Result.bulk_create(
        [
            Result(student=kid, date=date(2026, 9, 1), subject=f"Vak {n}")
            for n in range(60)
        ]
    )
    client = await sign_in(family["g1"])
    url = f"/students/{kid.id}/results"

    page = await (await client.get(url + "?page=2")).get_data(True)
    fragment = await (
        await client.get(url + "?page=2", headers={"HX-Request": "true"})
    ).get_data(True)

    # The whole page has the footer's field once; the fragment replaces it.
    assert page.count('id="language-next"') == 1
    assert f'id="language-next" name="next" value="{url}?page=2">' in page
    assert fragment.count('id="language-next"') == 1
    assert (
        f'id="language-next" name="next" value="{url}?page=2" hx-swap-oob="true">'
        in fragment
    )


def test_rows_read_ahead_are_ordered_newest_first_whatever_order_they_came_in():
    rows = [
        [3, "2026-01-02", "c"],
        [9, "2025-12-30", "d"],
        [1, "2026-10-01", "a"],
        [7, "2026-01-02", "b"],
    ]

    assert [row[2] for row in newest_first(rows)] == ["a", "b", "c", "d"]
