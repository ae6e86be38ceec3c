"""Instellen toegang through the web: the grid, its cells, staff on paper, and
the shared case table driven through the real endpoints."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

import pytest
import time_machine

from models import consent
from models.access import turns_16_on
from models.cases import read_rows
from models.entities import (
    CARER,
    GUARDIAN,
    PARENT,
    SECTIONS,
    SELF,
    AccessLog,
    Approval,
    Person,
    Relation,
    Result,
    School,
    Student,
)
from tests.factories import (
    approve,
    break_access_log_writes,
    link,
    make_class,
    make_person,
    make_school,
    make_student,
)
from tests.models.test_access_cases import SHARED_TABLE
from tests.web.conftest import assert_sent_to_sign_in
from tests.web.test_security import QueryCounter

HTMX = {"HX-Request": "true"}
UNDER_16 = date(2014, 3, 1)
AGED_17 = date(2009, 1, 15)


@pytest.fixture
async def family(database):
    school = await make_school("SHARE")
    kid = await make_student(school, given_name="Sanne", birth_date=UNDER_16)
    g1 = await make_person(school, given_name="Anna", family_name="Smit")
    g2 = await make_person(school, given_name="Piet", family_name="Smit")
    carer = await make_person(school, given_name="Jan", family_name="Scholten")
    own = await make_person(school, given_name="Sanne", family_name="Smit")
    parent = await make_person(school, given_name="Kees", family_name="Bos")
    await link(g1, kid)
    await link(g2, kid)
    await link(carer, kid, CARER)
    await link(own, kid, SELF)
    await link(parent, kid, PARENT)
    await Result.create(
        student=kid, date=date(2026, 10, 1), subject="Rekenen", score="7,5"
    )
    return dict(
        school=school, kid=kid, g1=g1, g2=g2, carer=carer, own=own, parent=parent
    )


def url(kid: Student) -> str:
    return f"/students/{kid.id}/sharing"


async def post_cell(client, kid, viewer, section, want, htmx=True, **extra):
    form = client.form(viewer=str(viewer.id), section=section, want=want, **extra)
    headers = {**HTMX, "X-CSRF-Token": client.csrf} if htmx else {}
    return await client.post(url(kid), form=form, headers=headers)


def cell_html(body: str, viewer: Person, section: str) -> str:
    """Return the markup of one cell in a page or fragment."""
    match = re.search(
        rf'<li class="cell cell-(\w+)" id="cell-{viewer.id}-{section}">(.*?)</li>',
        body,
        re.S,
    )
    assert match, f"no cell for {viewer.id} {section}"
    return match.group(0)


def state_of(body: str, viewer: Person, section: str) -> str:
    return re.search(r'class="cell cell-(\w+)"', cell_html(body, viewer, section))[1]


async def snapshot() -> tuple[list, int]:
    approvals = await Approval.all().order_by("id").values()
    return approvals, await AccessLog.all().count()


# ------------------------------------------------------------- the grid


async def test_a_guardian_sees_the_grid_as_page_and_fragment(family, sign_in):
    client = await sign_in(family["g1"])
    kid = family["kid"]
    await approve(family["g2"], family["carer"], kid, "tests")

    page = await client.get(url(kid))
    fragment = await client.get(url(kid), headers=HTMX)

    assert page.status_code == fragment.status_code == 200
    body, part = await page.get_data(True), await fragment.get_data(True)
    assert "<html" in body and "<html" not in part
    assert 'id="sharing-grid"' in body and part.lstrip().startswith(
        '<div id="sharing-grid"'
    )
    assert "Instellen toegang" in body
    # A row for the student, the parent without authority and the carer.
    for person in ("own", "parent", "carer"):
        assert f'id="person-{family[person].id}"' in part
    assert f'id="person-{family["g2"].id}"' not in part
    waiting = cell_html(part, family["carer"], "tests")
    assert "cell-waiting" in waiting and "wacht op uw toestemming" in waiting
    assert "Piet Smit" in waiting and "Anna Smit (u)" in waiting
    assert 'name="want" value="approve"' in waiting
    assert state_of(part, family["carer"], "care") == "open"


async def test_the_menu_names_the_page_after_the_persons_part(family, sign_in):
    kid = family["kid"]
    guardian = await sign_in(family["g1"])
    carer = await sign_in(family["carer"])

    decider_menu = await (await guardian.get(f"/students/{kid.id}/")).get_data(True)
    other_menu = await (await carer.get(f"/students/{kid.id}/")).get_data(True)

    assert f'href="/students/{kid.id}/sharing">Instellen toegang' in decider_menu
    assert f'href="/students/{kid.id}/sharing">Gedeeld met mij' in other_menu
    # Deciders find "who looked" in the menu; the log is theirs only.
    assert f'href="/students/{kid.id}/log">Wie keek er' in decider_menu
    assert f"/students/{kid.id}/log" not in other_menu


async def test_approving_swaps_the_cell_red_then_green(family, sign_in):
    kid, carer = family["kid"], family["carer"]
    g1, g2 = await sign_in(family["g1"]), await sign_in(family["g2"])

    first = await post_cell(g1, kid, carer, "tests", "approve")
    waiting = await (await g2.get(url(kid))).get_data(True)
    second = await post_cell(g2, kid, carer, "tests", "approve")
    reloaded = await (await g1.get(url(kid))).get_data(True)

    assert first.status_code == 200
    red = await first.get_data(True)
    assert red.lstrip().startswith('<li class="cell cell-ticked"')
    assert "<html" not in red
    assert "Nog niet gedeeld: u heeft toestemming gegeven" in red
    assert "Wacht op:" in red and "Piet Smit" in red
    assert 'name="want" value="withdraw"' in red
    assert state_of(waiting, carer, "tests") == "waiting"
    green = await second.get_data(True)
    assert "cell-shared" in green and "Gedeeld: Jan Scholten ziet dit." in green
    # The page's live region is told the new state, for screen readers.
    assert 'id="grid-status" class="visually-hidden" role="status"' in waiting
    announced = re.search(
        r'<p id="grid-status" hx-swap-oob="innerHTML">(.*?)</p>', green
    )
    assert "Jan Scholten: Gedeeld: Jan Scholten ziet dit." in announced.group(1)
    assert state_of(reloaded, carer, "tests") == "shared"
    assert await Approval.filter(viewer_id=carer.id, section="tests").count() == 2


async def test_the_plain_form_redirects_back_to_the_grid(family, sign_in):
    kid, carer = family["kid"], family["carer"]
    client = await sign_in(family["g1"])

    response = await post_cell(client, kid, carer, "care", "approve", htmx=False)

    assert response.status_code == 303
    assert response.headers["Location"] == f"{url(kid)}#cell-{carer.id}-care"
    page = await (await client.get(url(kid))).get_data(True)
    assert state_of(page, carer, "care") == "ticked"


async def test_a_repeat_or_double_click_changes_nothing(family, sign_in):
    kid, carer = family["kid"], family["carer"]
    client = await sign_in(family["g1"])

    for _ in range(3):
        assert (
            await post_cell(client, kid, carer, "care", "approve")
        ).status_code == 200
    approvals, logged = await snapshot()
    for _ in range(2):
        await post_cell(client, kid, carer, "care", "withdraw")
    _, logged_after = await snapshot()

    assert len(approvals) == 1 and logged == 1
    assert await Approval.all().count() == 0 and logged_after == 2


async def test_a_withdrawn_approval_hides_the_section_on_the_next_request(
    family, sign_in
):
    # SECURITY-BASELINE A23: nothing about access is cached in the session.
    kid, carer = family["kid"], family["carer"]
    g1, g2 = await sign_in(family["g1"]), await sign_in(family["g2"])
    viewer = await sign_in(carer)
    await post_cell(g1, kid, carer, "results", "approve")
    await post_cell(g2, kid, carer, "results", "approve")
    section = f"/students/{kid.id}/results"
    assert (await viewer.get(section)).status_code == 200

    await post_cell(g2, kid, carer, "results", "withdraw")

    for headers in ({}, HTMX):
        response = await viewer.get(section, headers=headers)
        assert response.status_code == 404
        assert "Rekenen" not in await response.get_data(True)


# ------------------------------------------------------------- who may change


@pytest.mark.parametrize("who", ["carer", "own", "parent", "stranger"])
async def test_a_person_who_does_not_decide_cannot_change_a_cell(family, sign_in, who):
    kid = family["kid"]
    if who == "stranger":
        person = await make_person(family["school"])
        await link(person, await make_student(family["school"]))
    else:
        person = family[who]
    client = await sign_in(person)
    before = await snapshot()

    answers = []
    for viewer in ("carer", "own", "parent", "g1"):
        for want in ("approve", "withdraw"):
            for htmx in (True, False):
                response = await post_cell(
                    client, kid, family[viewer], "results", want, htmx=htmx
                )
                answers.append(response.status_code)

    assert set(answers) == {404}
    assert await snapshot() == before


async def test_forged_requests_change_nothing(family, sign_in):
    kid, carer = family["kid"], family["carer"]
    client = await sign_in(family["g1"])
    other_kid = await make_student(family["school"])
    before = await snapshot()

    cases = [
        ({"viewer": str(family["g2"].id)}, 404),  # a guardian is no row under 16
        ({"viewer": "999999"}, 404),
        ({"viewer": "abc"}, 400),
        ({"section": "nope"}, 404),
        ({"want": "toggle"}, 400),
        ({"want": ""}, 400),
        ({"decider": str(family["g2"].id), "want": "withdraw"}, 200),
    ]
    answers = []
    for change, _ in cases:
        fields = {"viewer": str(carer.id), "section": "results", "want": "approve"}
        form = client.form(**{**fields, **change})
        response = await client.post(url(kid), form=form, headers=HTMX)
        answers.append(response.status_code)
    stranger = await client.post(
        f"/students/{other_kid.id}/sharing",
        form=client.form(viewer=str(carer.id), section="results", want="approve"),
    )
    no_csrf = await client.post(
        url(kid),
        form={"viewer": str(carer.id), "section": "results", "want": "approve"},
    )

    assert answers == [status for _, status in cases]
    assert stranger.status_code == 404 and no_csrf.status_code == 403
    # The forged decider field is ignored: g1 withdrew g1's own (absent) approval.
    assert await snapshot() == before


async def test_a_guardian_of_a_16_year_old_no_longer_decides(database, sign_in):
    school = await make_school()
    kid = await make_student(school, birth_date=AGED_17)
    g1, own, carer = [await make_person(school) for _ in range(3)]
    await link(g1, kid)
    await link(own, kid, SELF)
    await link(carer, kid, CARER)
    guardian = await sign_in(g1)
    student = await sign_in(own)

    refused = await post_cell(guardian, kid, carer, "results", "approve")
    shared = await (await guardian.get(url(kid))).get_data(True)
    allowed = await post_cell(student, kid, g1, "results", "approve")

    assert refused.status_code == 404
    assert "Gedeeld met mij" in shared and 'name="want"' not in shared
    assert allowed.status_code == 200
    assert "cell-shared" in await allowed.get_data(True)
    log = await AccessLog.get(action="approve")
    assert (log.person_id, log.role) == (own.id, "self")


async def test_a_student_reads_about_their_own_file_not_a_third_persons(
    database, sign_in
):
    """Found in a walkthrough: a student of 16+ read "het dossier van Femke"
    about herself, and "je dossier" beside "u" elsewhere."""
    school = await make_school()
    kid = await make_student(school, given_name="Femke", birth_date=AGED_17)
    young = await make_student(school, given_name="Sem", birth_date=UNDER_16)
    g1, own = await make_person(school), await make_person(school)
    await link(g1, young)
    await link(own, kid, SELF)
    student = await sign_in(own)
    guardian = await sign_in(g1)

    pages = [
        await (await student.get(path)).get_data(True)
        for path in (f"/students/{kid.id}/", url(kid), f"/students/{kid.id}/log")
    ]
    theirs = [
        await (await guardian.get(path)).get_data(True)
        for path in (url(young), f"/students/{young.id}/log")
    ]

    assert "onderdelen van uw dossier:" in pages[0]
    assert "Kies per persoon welke onderdelen van uw dossier" in pages[1]
    assert all("Wie keek in uw dossier" in page for page in pages[1:])
    assert not any("dossier van Femke" in page or " je " in page for page in pages)
    assert all("Wie keek in het dossier van Sem" in page for page in theirs)
    assert "uw dossier" not in "".join(theirs)


# ------------------------------------------------------------- shared with me


async def test_a_carer_reads_what_is_shared_and_by_whom(family, sign_in):
    kid, carer = family["kid"], family["carer"]
    await approve(family["g1"], carer, kid, "absence")
    await approve(family["g2"], carer, kid, "absence")
    await approve(family["g1"], carer, kid, "tests")
    client = await sign_in(carer)

    page = await client.get(url(kid))

    body = await page.get_data(True)
    assert page.status_code == 200
    assert (
        "Gedeeld met mij" in body
        and '<form method="post" action="/students' not in body
    )
    absence = cell_html(body, carer, "absence")
    assert (
        "cell-shared" in absence and "Anna Smit" in absence and "Piet Smit" in absence
    )
    assert "Gedeeld met u: u ziet dit." in absence and "Jan Scholten ziet" not in body
    tests = cell_html(body, carer, "tests")
    assert "cell-waiting" in tests and "Wacht op:" in tests
    # Only the carer's own row: nothing about what others are given.
    assert f"cell-{family['parent'].id}-" not in body


async def test_the_grid_of_a_17_year_old_shows_sections_kept_for_guardians(
    database, sign_in
):
    school = await make_school(guardian_sections_until_18=["results"])
    kid = await make_student(school, birth_date=AGED_17)
    g1, own = await make_person(school), await make_person(school)
    await link(g1, kid)
    await link(own, kid, SELF)
    await Result.create(student=kid, date=date(2026, 1, 5), subject="Wiskunde")
    student, guardian = await sign_in(own), await sign_in(g1)

    grid = await (await student.get(url(kid))).get_data(True)
    shared = await (await guardian.get(url(kid))).get_data(True)

    kept = cell_html(grid, g1, "results")
    assert "cell-shared" in kept
    assert "Zichtbaar voor gezaghebbende ouders tot 18" in kept
    assert "Een toestemming hier telt vanaf 18 jaar." in kept
    # The student decides alone: nobody else is waited for, or waits.
    assert "wacht op u" not in grid and "wacht op anderen" not in grid
    assert state_of(grid, g1, "care") == "open"
    assert "Zichtbaar voor gezaghebbende ouders tot 18" in cell_html(
        shared, g1, "results"
    )
    assert (await guardian.get(f"/students/{kid.id}/results")).status_code == 200
    assert (await guardian.get(f"/students/{kid.id}/care")).status_code == 404


# ------------------------------------------------------------- staff


@pytest.fixture
async def staff(family):
    school = family["school"]
    mentor = await make_person(school, staff_role="mentor")
    other_mentor = await make_person(school, staff_role="mentor")
    homeroom = await make_class(school, mentor)
    await Student.filter(id=family["kid"].id).update(homeroom_id=homeroom.id)
    admin = await make_person(school, staff_role="admin")
    return dict(mentor=mentor, other_mentor=other_mentor, admin=admin)


def staff_url(kid: Student) -> str:
    return f"/staff/students/{kid.id}/sharing"


async def test_staff_see_the_grid_read_only_within_their_role(family, staff, sign_in):
    kid = family["kid"]
    await approve(family["g1"], family["carer"], kid, "tests")
    mentor = await sign_in(staff["mentor"])

    page = await mentor.get(staff_url(kid))
    fragment = await mentor.get(staff_url(kid), headers=HTMX)
    other = await (await sign_in(staff["other_mentor"])).get(staff_url(kid))
    guardian = await (await sign_in(family["g1"])).get(staff_url(kid))

    body = await page.get_data(True)
    assert page.status_code == 200 and "<html" in body
    assert 'name="want"' not in body
    assert state_of(body, family["carer"], "tests") == "waiting"
    part = await fragment.get_data(True)
    assert fragment.status_code == 200 and "<html" not in part
    assert 'id="sharing-grid"' in part
    assert other.status_code == 404 and guardian.status_code == 403


async def test_staff_record_an_approval_given_on_paper(family, staff, sign_in):
    kid, carer, g2 = family["kid"], family["carer"], family["g2"]
    await Relation.filter(person_id=g2.id).update(authorised=False)
    admin = await sign_in(staff["admin"])

    grid = await (await admin.get(staff_url(kid))).get_data(True)
    chosen = await (await admin.get(f"{staff_url(kid)}?decider={g2.id}")).get_data(True)
    form = admin.form(
        decider=str(g2.id), viewer=str(carer.id), section="care", want="approve"
    )
    fragment = await admin.post(
        staff_url(kid), form=form, headers={**HTMX, "X-CSRF-Token": admin.csrf}
    )
    again = await admin.post(staff_url(kid), form=form)

    assert "beslist via de school" in grid
    assert 'name="decider"' in chosen and f'value="{g2.id}"' in chosen
    assert fragment.status_code == 200
    cell = await fragment.get_data(True)
    assert "cell-ticked" in cell and "op papier, vastgelegd door de school" in cell
    # The staff member did not approve: the cell names who did.
    assert "u heeft toestemming gegeven" not in cell
    assert f"{g2.given_name}" in cell.split('class="cell-state"')[1].split("</span>")[0]
    assert again.status_code == 303
    assert again.headers["Location"].startswith(f"{staff_url(kid)}?decider={g2.id}")
    approval = await Approval.get(student_id=kid.id)
    assert approval.approver_id == g2.id
    assert approval.recorded_by_id == staff["admin"].id
    log = await AccessLog.all()
    assert len(log) == 1
    assert (log[0].person_id, log[0].role) == (staff["admin"].id, "staff:admin")
    assert consent.parse_detail(log[0].detail)["paper"] is True
    # The guardian's own grid says the approval was given on paper.
    page = await (await sign_in(family["g1"])).get(url(kid))
    assert "op papier" in cell_html(await page.get_data(True), carer, "care")


async def test_staff_cannot_record_for_someone_who_does_not_decide(
    family, staff, sign_in
):
    kid, carer = family["kid"], family["carer"]
    admin = await sign_in(staff["admin"])
    other = await sign_in(staff["other_mentor"])

    answers = [
        (
            await admin.post(
                staff_url(kid),
                form=admin.form(
                    decider=str(decider),
                    viewer=str(carer.id),
                    section="care",
                    want="approve",
                ),
            )
        ).status_code
        for decider in (carer.id, family["own"].id, 999999)
    ]
    outside = await other.post(
        staff_url(kid),
        form=other.form(
            decider=str(family["g1"].id),
            viewer=str(carer.id),
            section="care",
            want="approve",
        ),
    )
    family_member = await (await sign_in(family["g1"])).post(
        staff_url(kid),
        form=admin.form(
            decider=str(family["g1"].id),
            viewer=str(carer.id),
            section="care",
            want="approve",
        ),
    )

    assert answers == [404, 404, 404]
    assert outside.status_code == 404 and family_member.status_code == 403
    assert await Approval.all().count() == 0


async def test_an_admin_sets_the_sections_kept_for_guardians(family, staff, sign_in):
    admin = await sign_in(staff["admin"])
    mentor = await sign_in(staff["mentor"])

    page = await admin.get("/staff/settings/sharing")
    saved = await admin.post(
        "/staff/settings/sharing",
        data=urlencode(
            [("csrf_token", admin.csrf)]
            + [("section", key) for key in ("results", "absence", "nope")]
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    refused = await mentor.post(
        "/staff/settings/sharing", form=mentor.form(section=["care"])
    )

    assert page.status_code == 200
    assert 'type="checkbox" name="section" value="results"' in await page.get_data(True)
    assert saved.status_code == 303
    school = await School.get(id=family["school"].id)
    assert school.guardian_sections_until_18 == ["absence", "results"]
    assert refused.status_code == 403
    assert (await mentor.get("/staff/settings/sharing")).status_code == 403
    shown = await (await admin.get(saved.headers["Location"])).get_data(True)
    assert "Opgeslagen." in shown and 'value="results" checked' in shown


# ------------------------------------------------------------- failures


async def test_a_failing_log_insert_answers_500_and_changes_nothing(
    family, sign_in, monkeypatch
):
    # SECURITY-BASELINE R5 through the web: the generic error page, no
    # approval without its log row, and a retry succeeds.
    kid, carer = family["kid"], family["carer"]
    client = await sign_in(family["g1"])

    break_access_log_writes(monkeypatch)
    failed = await post_cell(client, kid, carer, "tests", "approve", htmx=False)
    monkeypatch.undo()
    after_failure = await snapshot()
    retry = await post_cell(client, kid, carer, "tests", "approve")

    assert failed.status_code == 500
    assert "connection lost" not in await failed.get_data(True)
    assert after_failure == ([], 0)
    assert retry.status_code == 200
    assert await Approval.all().count() == 1 and await AccessLog.all().count() == 1


# ------------------------------------------------------------- query counts


async def grid_queries(sign_in, monkeypatch, persons: int, sections: int):
    school = await make_school(f"Q{persons}{sections}", sections=SECTIONS[:sections])
    kid = await make_student(school, birth_date=UNDER_16)
    g1, g2 = await make_person(school), await make_person(school)
    await link(g1, kid)
    await link(g2, kid)
    for _ in range(persons):
        viewer = await make_person(school)
        await link(viewer, kid, CARER)
        for section in SECTIONS[:sections]:
            await approve(g2, viewer, kid, section)
    client = await sign_in(g1)
    counter = QueryCounter(monkeypatch)

    async def page():
        assert (await client.get(url(kid))).status_code == 200

    async def fragment():
        assert (await client.get(url(kid), headers=HTMX)).status_code == 200

    result = await counter.count(page), await counter.count(fragment)
    monkeypatch.undo()
    return result


# The session with the relation, student, school and family (one); household;
# approvals.
GRID_QUERIES = 3


async def test_grid_queries_do_not_grow_with_persons_or_sections(
    database, sign_in, monkeypatch
):
    small = await grid_queries(sign_in, monkeypatch, 2, 3)
    large = await grid_queries(sign_in, monkeypatch, 6, 9)

    assert small == large == (GRID_QUERIES, GRID_QUERIES)


# ------------------------------------------------------------- the case table


NAMES = ("student", "parent", "carer")
KINDS = {"student": SELF, "parent": PARENT, "carer": CARER}


def _cases() -> list:
    # A missing table fails its test, not the collection of the whole module.
    if not SHARED_TABLE.exists():
        return [pytest.param(None, id="table-missing")]
    return [pytest.param(case, id=case.id) for _, case in read_rows(SHARED_TABLE)]


def _before_16(case) -> datetime:
    birthday = turns_16_on(case.born)
    return datetime.combine(birthday - timedelta(days=2), datetime.min.time(), UTC)


@pytest.mark.parametrize("case", _cases())
async def test_the_shared_case_table_through_the_web(database, sign_in, case):
    assert case is not None, f"no case table at {SHARED_TABLE}: set INZAGE_SHARED_DIR"
    assert not isinstance(case, Exception), case
    school = await make_school(
        f"C{case.id}", timezone="Europe/Amsterdam", sections=list(SECTIONS)
    )
    student = await make_student(school, birth_date=case.born)
    await Result.create(student=student, date=date(2026, 1, 5), subject="Marker")
    people = {}
    for name in case.persons():
        people[name] = await make_person(school, given_name=name)
        kind = GUARDIAN if name in case.guardians else KINDS[name]
        await link(people[name], student, kind)

    for approver, viewer, section in case.approvals:
        # Guardians decide before the 16th birthday; from then, the student.
        moment = case.now_utc
        if (
            approver != "student"
            and case.born
            and turns_16_on(case.born) <= (case.now_utc.date())
        ):
            moment = _before_16(case)
        with time_machine.travel(moment, tick=True):
            client = await sign_in(people[approver])
            response = await post_cell(
                client, student, people[viewer], section, "approve"
            )
            assert response.status_code == 200, (case.id, approver, viewer)
            assert await response.get_data(True)

    with time_machine.travel(case.now_utc, tick=True):
        client = await sign_in(people[case.viewer])
        response = await client.get(f"/students/{student.id}/{case.section}")

    assert response.status_code == (200 if case.visible else 404), case.id
    if case.visible and case.section == "results":
        assert "Marker" in await response.get_data(True)


@pytest.mark.parametrize("htmx", [True, False])
async def test_a_cell_changed_after_the_session_ended_goes_to_sign_in(
    family, sign_in, htmx
):
    # Signed out in another tab, or idle too long: the page's token belongs
    # to a session that is gone. The answer is sign-in, not "reload", and
    # nothing changes.
    from models.entities import Session

    kid, carer = family["kid"], family["carer"]
    client = await sign_in(family["g1"])
    await Session.filter(person_id=family["g1"].id).delete()
    before = await snapshot()

    response = await post_cell(client, kid, carer, "results", "approve", htmx=htmx)

    assert_sent_to_sign_in(response, htmx)
    assert await snapshot() == before


async def test_a_signed_in_request_with_a_wrong_token_is_still_refused(family, sign_in):
    kid, carer = family["kid"], family["carer"]
    client = await sign_in(family["g1"])
    before = await snapshot()

    form = {"viewer": str(carer.id), "section": "results", "want": "approve"}
    response = await client.post(
        url(kid), form={**form, "csrf_token": "wrong"}, headers=HTMX
    )

    assert response.status_code == 403
    assert await snapshot() == before
