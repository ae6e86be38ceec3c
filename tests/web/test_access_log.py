"""The access log: what is written, "who looked" for deciders, and the staff log."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from models.consent import change_detail
from models.entities import CARER, PARENT, SELF, AccessLog, Result, Student
from tests.factories import (
    approve,
    link,
    make_class,
    make_person,
    make_school,
    make_student,
)

HTMX = {"HX-Request": "true"}
AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
async def world(database):
    school = await make_school("LOG")
    mentor = await make_person(school, staff_role="mentor")
    homeroom = await make_class(school, mentor)
    kid = await make_student(school, given_name="Sanne", homeroom=homeroom)
    other = await make_student(school, given_name="Bram")
    g1 = await make_person(school, given_name="Anna", family_name="Smit")
    g2 = await make_person(school, given_name="Piet", family_name="Smit")
    carer = await make_person(school, given_name="Jan", family_name="Scholten")
    own = await make_person(school)
    parent = await make_person(school)
    other_guardian = await make_person(school, given_name="Olga")
    await link(g1, kid)
    await link(g2, kid)
    await link(carer, kid, CARER)
    await link(own, kid, SELF)
    await link(parent, kid, PARENT)
    await link(other_guardian, other)
    admin = await make_person(school, staff_role="admin")
    await Result.create(student=kid, date=date(2026, 10, 1), subject="Rekenen")
    return dict(
        school=school,
        kid=kid,
        other=other,
        g1=g1,
        g2=g2,
        carer=carer,
        own=own,
        parent=parent,
        other_guardian=other_guardian,
        mentor=mentor,
        admin=admin,
    )


async def log_row(person, student, section="results", action="view", at=AT, **kw):
    return await AccessLog.create(
        at=at,
        person=person,
        student=student,
        section=section,
        action=action,
        role=kw.pop("role", "guardian"),
        **kw,
    )


def entries(body: str) -> int:
    return body.count('<li class="log-entry">')


# ------------------------------------------------------------- what is written


async def test_views_and_changes_are_written_with_who_what_and_role(world, sign_in):
    kid, carer = world["kid"], world["carer"]
    await approve(world["g1"], carer, kid, "results")
    await approve(world["g2"], carer, kid, "results")
    viewer = await sign_in(carer)
    mentor = await sign_in(world["mentor"])
    guardian = await sign_in(world["g1"])

    await viewer.get(f"/students/{kid.id}/results")
    await viewer.get(f"/students/{kid.id}/results", headers=HTMX)
    await mentor.get(f"/staff/students/{kid.id}/results")
    await guardian.post(
        f"/students/{kid.id}/sharing",
        form=guardian.form(viewer=str(carer.id), section="results", want="withdraw"),
    )

    rows = await AccessLog.all().order_by("id")
    assert [(r.person_id, r.student_id, r.section, r.action, r.role) for r in rows] == [
        (carer.id, kid.id, "results", "view", "carer"),
        (carer.id, kid.id, "results", "view", "carer"),
        (world["mentor"].id, kid.id, "results", "view", "staff:mentor"),
        (world["g1"].id, kid.id, "results", "withdraw", "guardian"),
    ]
    assert rows[-1].detail == change_detail(carer.id, world["g1"].id, False)
    assert all(abs(r.at - datetime.now(UTC)) < timedelta(minutes=1) for r in rows)


# ------------------------------------------------------------- who looked


async def test_a_guardian_reads_who_looked_as_page_and_fragment(world, sign_in):
    kid = world["kid"]
    await log_row(world["carer"], kid, "absence", role="carer")
    await log_row(world["mentor"], kid, "care", role="staff:mentor")
    await log_row(world["other_guardian"], world["other"], "results")
    client = await sign_in(world["g1"])

    page = await client.get(f"/students/{kid.id}/log")
    fragment = await client.get(f"/students/{kid.id}/log", headers=HTMX)

    body, part = await page.get_data(True), await fragment.get_data(True)
    assert page.status_code == fragment.status_code == 200
    assert "<html" in body and "<html" not in part
    assert part.lstrip().startswith('<div id="log"')
    assert entries(part) == 2
    assert "Jan Scholten" in part and "bekeek Verzuim" in part
    assert "hulpverlener" in part and "school: mentor" in part
    # 09:30 UTC is 10:30 in Amsterdam in November.
    assert "02-11-2026 10:30" in part
    assert "Olga" not in part


@pytest.mark.parametrize("who", ["carer", "own", "parent", "other_guardian"])
async def test_only_the_deciders_read_who_looked(world, sign_in, who):
    kid = world["kid"]
    await log_row(world["carer"], kid, role="carer")
    client = await sign_in(world[who])

    for headers in ({}, HTMX):
        response = await client.get(f"/students/{kid.id}/log", headers=headers)
        assert response.status_code == 404
        assert entries(await response.get_data(True)) == 0


async def test_from_16_the_student_reads_who_looked_and_guardians_do_not(
    database, sign_in
):
    school = await make_school()
    kid = await make_student(school, birth_date=date(2009, 1, 15))
    g1, own = await make_person(school), await make_person(school)
    await link(g1, kid)
    await link(own, kid, SELF)
    await log_row(g1, kid, role="guardian")

    student = await (await sign_in(own)).get(f"/students/{kid.id}/log")
    guardian = await (await sign_in(g1)).get(f"/students/{kid.id}/log")

    assert student.status_code == 200 and entries(await student.get_data(True)) == 1
    assert guardian.status_code == 404


async def test_who_looked_holds_50_entries_to_a_page(world, sign_in):
    kid = world["kid"]
    await AccessLog.bulk_create(
        [
            AccessLog(
                at=AT + timedelta(minutes=n),
                person=world["carer"],
                student=kid,
                section="absence",
                action="view",
                role="carer",
            )
            for n in range(51)
        ]
    )
    client = await sign_in(world["g2"])

    first = await (await client.get(f"/students/{kid.id}/log")).get_data(True)
    second = await client.get(f"/students/{kid.id}/log?page=2", headers=HTMX)

    assert entries(first) == 50 and "Volgende pagina" in first
    # Newest first: the 51st minute on top, the first one on page 2.
    assert "02-11-2026 11:20" in first.split('<li class="log-entry">')[1]
    part = await second.get_data(True)
    assert entries(part) == 1 and "02-11-2026 10:30" in part
    assert "Vorige pagina" in part and "Volgende pagina" not in part


async def test_a_paper_approval_says_so_in_the_log(world, sign_in):
    kid, carer = world["kid"], world["carer"]
    admin = await sign_in(world["admin"])
    await admin.post(
        f"/staff/students/{kid.id}/sharing",
        form=admin.form(
            decider=str(world["g2"].id),
            viewer=str(carer.id),
            section="tests",
            want="approve",
        ),
    )

    family = await (await sign_in(world["g1"])).get(f"/students/{kid.id}/log")
    staff = await admin.get(f"/staff/log?student={kid.id}")

    for response in (family, staff):
        body = await response.get_data(True)
        assert "gaf toestemming voor Toetsen aan Jan Scholten" in body
        assert "namens Piet Smit, op papier gegeven" in body
        assert "school: beheerder" in body


# ------------------------------------------------------------- the staff log


async def test_staff_read_the_log_with_filters_as_page_and_fragment(world, sign_in):
    kid, other = world["kid"], world["other"]
    await log_row(world["carer"], kid, "absence", role="carer")
    await log_row(world["g1"], kid, "care", at=AT + timedelta(days=3))
    await log_row(world["other_guardian"], other, "results")
    foreign_school = await make_school("ELSEWHERE")
    stranger = await make_student(foreign_school, given_name="Vreemd")
    await log_row(await make_person(foreign_school), stranger)
    admin = await sign_in(world["admin"])

    everything = await (await admin.get("/staff/log")).get_data(True)
    one_student = await admin.get(f"/staff/log?student={kid.id}", headers=HTMX)
    one_person = await (
        await admin.get(f"/staff/log?person={world['g1'].id}")
    ).get_data(True)
    period = await (
        await admin.get("/staff/log?from=2026-11-01&to=2026-11-02")
    ).get_data(True)
    bad = await (await admin.get("/staff/log?from=gisteren&student=x")).get_data(True)

    assert entries(everything) == 3 and "Vreemd" not in everything
    part = await one_student.get_data(True)
    assert "<html" not in part and entries(part) == 2 and "Olga" not in part
    assert entries(one_person) == 1 and "bekeek Zorg en begeleiding" in one_person
    assert entries(period) == 2
    assert "niet begrepen" in bad and entries(bad) == 3


async def test_a_mentor_reads_only_the_log_of_their_students(world, sign_in):
    await log_row(world["carer"], world["kid"], role="carer")
    await log_row(world["other_guardian"], world["other"])
    mentor = await sign_in(world["mentor"])

    everything = await (await mentor.get("/staff/log")).get_data(True)
    outside = await mentor.get(f"/staff/log?student={world['other'].id}")
    by_person = await (
        await mentor.get(f"/staff/log?person={world['other_guardian'].id}")
    ).get_data(True)

    assert entries(everything) == 1 and "Olga" not in everything
    assert outside.status_code == 404
    assert entries(by_person) == 0


async def test_the_staff_log_is_for_staff(world, sign_in):
    for who in ("g1", "carer", "own"):
        client = await sign_in(world[who])
        assert (await client.get("/staff/log")).status_code == 403


async def test_the_staff_log_holds_50_entries_to_a_page(world, sign_in):
    await AccessLog.bulk_create(
        [
            AccessLog(
                at=AT + timedelta(minutes=n),
                person=world["carer"],
                student=world["kid"],
                section="absence",
                action="view",
                role="carer",
            )
            for n in range(120)
        ]
    )
    admin = await sign_in(world["admin"])

    pages = [
        await (await admin.get(f"/staff/log?page={n}")).get_data(True)
        for n in (1, 2, 3)
    ]

    assert [entries(p) for p in pages] == [50, 50, 20]
    assert await Student.filter(id=world["kid"].id).exists()


async def test_a_filtered_fragment_keeps_the_student_column_and_says_when_empty(
    world, sign_in
):
    kid = world["kid"]
    await log_row(world["carer"], kid, "absence", role="carer")
    admin = await sign_in(world["admin"])

    page = await (await admin.get("/staff/log")).get_data(True)
    fragment = await (
        await admin.get(f"/staff/log?person={world['carer'].id}", headers=HTMX)
    ).get_data(True)
    later = await (
        await admin.get("/staff/log?from=2030-01-01", headers=HTMX)
    ).get_data(True)
    backwards = await (
        await admin.get("/staff/log?from=2026-11-05&to=2026-11-01", headers=HTMX)
    ).get_data(True)

    student_link = f'student={kid.id}">{kid.given_name}'
    assert student_link in page and student_link in fragment
    assert "Niets in het logboek past bij deze filters." in later
    assert "Er is nog niets vastgelegd." not in later
    assert "De periode eindigt voordat hij begint" in backwards
