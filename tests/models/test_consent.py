"""Approvals, the grid's cells, and changes under concurrency (A40, R5, R6)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime

import pytest
from tortoise import connections

from models.access import load_family
from models.consent import (
    APPROVE,
    OPEN,
    SHARED,
    TICKED,
    WAITING,
    WITHDRAW,
    NotAllowed,
    load_grid,
    load_household,
    parse_detail,
    set_approval,
)
from models.entities import CARER, PARENT, SELF, AccessLog, Approval, School
from tests.factories import (
    approve,
    break_access_log_writes,
    link,
    make_person,
    make_school,
    make_student,
)

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
UNDER_16 = date(2014, 3, 1)
AGED_17 = date(2009, 1, 15)


async def household_of(student, now=NOW):
    school = await School.get(id=student.school_id)
    family = await load_family(student, school, now)
    return await load_household(student, school, family)


async def two_guardians_and_a_carer(**school_fields):
    school = await make_school(**school_fields)
    kid = await make_student(school, birth_date=UNDER_16)
    g1, g2, carer = [await make_person(school) for _ in range(3)]
    await link(g1, kid)
    await link(g2, kid)
    await link(carer, kid, CARER)
    return kid, g1, g2, carer


async def change(kid, decider, viewer, section, wanted, **kwargs):
    household = await household_of(kid)
    return await set_approval(
        household,
        decider_id=decider.id,
        viewer_id=viewer.id,
        section=section,
        wanted=wanted,
        actor_id=kwargs.pop("actor_id", decider.id),
        role=kwargs.pop("role", "guardian"),
        **kwargs,
    )


async def cell_of(kid, viewer, section, seen_by):
    grid = await load_grid(await household_of(kid), seen_by.id)
    row = next(r for r in grid.rows if r.member.id == viewer.id)
    return next(c for c in row.cells if c.section == section)


# ------------------------------------------------------------- approve, withdraw


async def test_approve_writes_the_approval_and_one_log_row(database):
    kid, g1, _, carer = await two_guardians_and_a_carer()

    result = await change(kid, g1, carer, "tests", APPROVE)

    assert result.changed
    approvals = await Approval.filter(student_id=kid.id).values_list(
        "approver_id", "viewer_id", "section", "recorded_by_id"
    )
    assert approvals == [(g1.id, carer.id, "tests", None)]
    log = await AccessLog.all().values(
        "person_id", "student_id", "section", "action", "role", "detail"
    )
    assert log == [
        {
            "person_id": g1.id,
            "student_id": kid.id,
            "section": "tests",
            "action": "approve",
            "role": "guardian",
            "detail": f"viewer={carer.id} approver={g1.id}",
        }
    ]


async def test_a_repeat_changes_nothing_and_writes_no_log_row(database):
    kid, g1, _, carer = await two_guardians_and_a_carer()
    await change(kid, g1, carer, "tests", APPROVE)

    again = await change(kid, g1, carer, "tests", APPROVE)
    await change(kid, g1, carer, "tests", WITHDRAW)
    withdrawn_again = await change(kid, g1, carer, "tests", WITHDRAW)

    assert not again.changed and not withdrawn_again.changed
    assert await Approval.all().count() == 0
    actions = await AccessLog.all().order_by("id").values_list("action", flat=True)
    assert actions == ["approve", "withdraw"]


async def test_withdraw_removes_only_this_deciders_approval(database):
    kid, g1, g2, carer = await two_guardians_and_a_carer()
    await approve(g1, carer, kid, "tests")
    await approve(g2, carer, kid, "tests")

    result = await change(kid, g2, carer, "tests", WITHDRAW)

    assert result.changed
    assert await Approval.all().values_list("approver_id", flat=True) == [g1.id]
    assert result.cell.state == WAITING and result.cell.waits_for_me


async def test_an_unknown_wanted_state_is_refused(database):
    kid, g1, _, carer = await two_guardians_and_a_carer()

    with pytest.raises(ValueError, match="wanted must be one of"):
        await change(kid, g1, carer, "tests", "toggle")
    assert await AccessLog.all().count() == 0


async def test_paper_approval_records_the_staff_member(database):
    kid, g1, _, carer = await two_guardians_and_a_carer()
    school = await School.get(id=kid.school_id)
    admin = await make_person(school, staff_role="admin")

    result = await change(
        kid,
        g1,
        carer,
        "care",
        APPROVE,
        actor_id=admin.id,
        role="staff:admin",
        recorded_by_id=admin.id,
    )

    approval = await Approval.get(student_id=kid.id)
    assert approval.approver_id == g1.id and approval.recorded_by_id == admin.id
    row = await AccessLog.get(student_id=kid.id)
    assert (row.person_id, row.role) == (admin.id, "staff:admin")
    assert parse_detail(row.detail) == {
        "viewer": carer.id,
        "approver": g1.id,
        "paper": True,
    }
    assert result.cell.paper_ids == frozenset({g1.id})


# ------------------------------------------------------------- who may change


@pytest.mark.parametrize("who", ["carer", "parent", "student", "other_guardian"])
async def test_a_person_who_does_not_decide_cannot_change_a_cell(database, who):
    kid, g1, _, carer = await two_guardians_and_a_carer()
    school = await School.get(id=kid.school_id)
    parent, own = await make_person(school), await make_person(school)
    await link(parent, kid, PARENT)
    await link(own, kid, SELF)
    stranger = await make_person(school)
    await link(stranger, await make_student(school))
    actor = {"carer": carer, "parent": parent, "student": own}.get(who, stranger)

    for wanted in (APPROVE, WITHDRAW):
        with pytest.raises(NotAllowed):
            await change(kid, actor, carer, "tests", wanted)

    assert await Approval.all().count() == 0
    assert await AccessLog.all().count() == 0


async def test_only_persons_who_can_be_given_access_are_cells(database):
    kid, g1, g2, carer = await two_guardians_and_a_carer(
        sections=["absence", "results"]
    )
    school = await School.get(id=kid.school_id)
    unauthorised = await make_person(school)
    await link(unauthorised, kid, CARER, authorised=False)

    for viewer, section in (
        (g2, "absence"),  # a guardian of a child under 16 sees everything
        (unauthorised, "absence"),  # not authorised by the school
        (carer, "care"),  # a section the school does not use
    ):
        with pytest.raises(NotAllowed):
            await change(kid, g1, viewer, section, APPROVE)

    assert await Approval.all().count() == 0


async def test_from_16_the_student_decides_and_guardians_are_rows(database):
    school = await make_school()
    kid = await make_student(school, birth_date=AGED_17)
    g1, own, carer = [await make_person(school) for _ in range(3)]
    await link(g1, kid)
    await link(own, kid, SELF)
    await link(carer, kid, CARER)

    with pytest.raises(NotAllowed):
        await change(kid, g1, carer, "results", APPROVE)
    result = await change(kid, own, g1, "results", APPROVE, role="self")

    assert result.changed and result.cell.state == SHARED
    grid = await load_grid(await household_of(kid), own.id)
    assert [row.member.id for row in grid.rows] == [g1.id, carer.id]


# ------------------------------------------------------------- cell states


async def test_cell_states_as_each_guardian_sees_them(database):
    kid, g1, g2, carer = await two_guardians_and_a_carer()

    assert (await cell_of(kid, carer, "tests", g1)).state == OPEN
    await change(kid, g1, carer, "tests", APPROVE)
    mine = await cell_of(kid, carer, "tests", g1)
    theirs = await cell_of(kid, carer, "tests", g2)
    await change(kid, g2, carer, "tests", APPROVE)
    both = await cell_of(kid, carer, "tests", g1)

    assert mine.state == TICKED and mine.mine and not mine.visible
    assert mine.others_awaited == (g2.id,)
    assert theirs.state == WAITING and theirs.waits_for_me
    assert theirs.approver_ids == (g1.id,) and theirs.wanted == APPROVE
    assert both.state == SHARED and both.visible and both.awaited_ids == ()
    assert both.wanted == WITHDRAW


async def test_guardian_approvals_stop_counting_at_16(database):
    school = await make_school()
    kid = await make_student(school, birth_date=AGED_17)
    g1, own, carer = [await make_person(school) for _ in range(3)]
    await link(g1, kid)
    await link(own, kid, SELF)
    await link(carer, kid, CARER)
    await approve(g1, carer, kid, "results")

    cell = await cell_of(kid, carer, "results", own)

    assert cell.state == OPEN and not cell.visible
    assert cell.approver_ids == () and cell.awaited_ids == (own.id,)


async def test_sections_kept_for_guardians_until_18_show_as_visible(database):
    school = await make_school(guardian_sections_until_18=["results"])
    kid = await make_student(school, birth_date=AGED_17)
    g1, own = await make_person(school), await make_person(school)
    await link(g1, kid)
    await link(own, kid, SELF)

    results = await cell_of(kid, g1, "results", own)
    care = await cell_of(kid, g1, "care", own)

    assert results.visible and results.kept and results.state == SHARED
    assert results.mine is False
    assert not care.visible and not care.kept


async def test_staff_see_cells_without_a_tick_of_their_own(database):
    kid, g1, _, carer = await two_guardians_and_a_carer()
    await approve(g1, carer, kid, "tests")

    grid = await load_grid(await household_of(kid), None)
    cell = next(c for c in grid.rows[0].cells if c.section == "tests")

    assert cell.mine is None and cell.state == WAITING and not cell.waits_for_me


# ------------------------------------------------------------- A40 and R5


async def test_a_failing_log_insert_leaves_neither_row(database, monkeypatch):
    kid, g1, _, carer = await two_guardians_and_a_carer()

    break_access_log_writes(monkeypatch)
    with pytest.raises(RuntimeError):
        await change(kid, g1, carer, "tests", APPROVE)

    assert await Approval.all().count() == 0
    assert await AccessLog.all().count() == 0

    monkeypatch.undo()
    retry = await change(kid, g1, carer, "tests", APPROVE)
    assert retry.changed
    assert await Approval.all().count() == 1
    assert await AccessLog.all().count() == 1


async def test_a_failing_log_insert_keeps_a_withdrawn_approval(database, monkeypatch):
    kid, g1, _, carer = await two_guardians_and_a_carer()
    await approve(g1, carer, kid, "tests")

    break_access_log_writes(monkeypatch)
    with pytest.raises(RuntimeError):
        await change(kid, g1, carer, "tests", WITHDRAW)

    assert await Approval.all().count() == 1
    assert await AccessLog.all().count() == 0


@pytest.mark.postgres  # the SQLite run leaves it out (tests/conftest.py)
async def test_on_postgresql_a_log_row_refused_by_the_database_undoes_the_change(
    database,
):
    # A real failure inside the one statement: a trigger refuses the log row
    # after the approval row was written in that same statement.
    kid, g1, _, carer = await two_guardians_and_a_carer()
    await approve(g1, carer, kid, "care")
    conn = connections.get("default")
    await conn.execute_script(
        "CREATE FUNCTION refuse_log() RETURNS trigger AS $$ BEGIN"
        " RAISE EXCEPTION 'log refused'; END $$ LANGUAGE plpgsql;"
        " CREATE TRIGGER refuse_log BEFORE INSERT ON access_log"
        " FOR EACH ROW EXECUTE FUNCTION refuse_log();"
    )
    try:
        for section, wanted in (("tests", APPROVE), ("care", WITHDRAW)):
            with pytest.raises(Exception, match="log refused"):
                await change(kid, g1, carer, section, wanted)
    finally:
        await conn.execute_script(
            "DROP TRIGGER refuse_log ON access_log; DROP FUNCTION refuse_log();"
        )

    rows = await Approval.all().values_list("section", flat=True)
    assert rows == ["care"]
    assert await AccessLog.all().count() == 0


# ------------------------------------------------------------- query counts


class StatementCounter:
    """Count statements sent to the database, once per outer call."""

    METHODS = ("execute_query", "execute_query_dict", "execute_insert")

    def __init__(self, monkeypatch) -> None:
        self.count = 0
        self._depth = 0
        conn = connections.get("default")
        for name in self.METHODS:
            monkeypatch.setattr(conn, name, self._wrap(getattr(conn, name)))

    def _wrap(self, method):
        async def counted(*args, **kwargs):
            if self._depth == 0:
                self.count += 1
            self._depth += 1
            try:
                return await method(*args, **kwargs)
            finally:
                self._depth -= 1

        return counted


@pytest.mark.parametrize(("persons", "sections"), [(2, 3), (6, 9)])
async def test_the_grid_loads_in_two_statements(
    database, monkeypatch, persons, sections
):
    from models.entities import SECTIONS

    school = await make_school(sections=list(SECTIONS[:sections]))
    kid = await make_student(school, birth_date=UNDER_16)
    g1, g2 = await make_person(school), await make_person(school)
    await link(g1, kid)
    await link(g2, kid)
    viewers = [await make_person(school) for _ in range(persons)]
    for viewer in viewers:
        await link(viewer, kid, CARER)
        for section in SECTIONS[:sections]:
            await approve(g1, viewer, kid, section)
    school = await School.get(id=school.id)
    family = await load_family(kid, school, NOW)
    counter = StatementCounter(monkeypatch)

    household = await load_household(kid, school, family)
    grid = await load_grid(household, g1.id)

    assert counter.count == 2
    assert len(grid.rows) == persons
    assert {len(row.cells) for row in grid.rows} == {sections}
    assert {c.state for row in grid.rows for c in row.cells} == {TICKED}


# ------------------------------------------------------------- concurrency


def replay(actions: list[str]) -> bool:
    """Replay a cell's log in order; each row must change the state."""
    present = False
    for action in actions:
        assert action == (WITHDRAW if present else APPROVE), actions
        present = action == APPROVE
    return present


async def cell_log(kid, decider, viewer, section) -> list[str]:
    rows = await AccessLog.filter(student_id=kid.id, section=section).order_by("id")
    return [
        row.action
        for row in rows
        if parse_detail(row.detail).get("approver") == decider.id
        and parse_detail(row.detail).get("viewer") == viewer.id
    ]


async def test_two_guardians_approving_at_once_both_count(database):
    kid, g1, g2, carer = await two_guardians_and_a_carer()

    for section in ("absence", "results", "tests"):
        results = await asyncio.gather(
            change(kid, g1, carer, section, APPROVE),
            change(kid, g2, carer, section, APPROVE),
        )
        assert all(r.changed for r in results)

    assert await Approval.filter(viewer_id=carer.id).count() == 6
    assert await AccessLog.all().count() == 6
    assert (await cell_of(kid, carer, "tests", g1)).state == SHARED


async def test_a_double_click_is_recorded_once(database):
    kid, g1, _, carer = await two_guardians_and_a_carer()

    results = await asyncio.gather(
        *(change(kid, g1, carer, "tests", APPROVE) for _ in range(5))
    )

    assert sum(r.changed for r in results) == 1
    assert await Approval.all().count() == 1
    assert await AccessLog.all().count() == 1
    assert all(r.cell.mine for r in results)


ROUNDS = 50


async def test_racing_approvals_and_withdrawals_end_as_the_log_says(database):
    # R6 as it applies here: no two deciders share an approval, so the race
    # is one decider's tabs, and two guardians each on their own approval.
    kid, g1, g2, carer = await two_guardians_and_a_carer()
    rng = random.Random(20261203)  # noqa: S311 - shuffles test orders only
    changes = 0

    for _ in range(ROUNDS):
        calls = [
            (g1, APPROVE),
            (g1, WITHDRAW),
            (g2, rng.choice((APPROVE, WITHDRAW))),
            (g1, rng.choice((APPROVE, WITHDRAW))),
        ]
        rng.shuffle(calls)
        results = await asyncio.gather(
            *(change(kid, who, carer, "tests", wanted) for who, wanted in calls)
        )
        changes += sum(r.changed for r in results)

    for guardian in (g1, g2):
        present = await Approval.filter(
            approver_id=guardian.id, viewer_id=carer.id, section="tests"
        ).exists()
        assert replay(await cell_log(kid, guardian, carer, "tests")) == present
    assert await AccessLog.all().count() == changes
    final = await cell_of(kid, carer, "tests", g1)
    in_db = set(await Approval.all().values_list("approver_id", flat=True))
    assert set(final.approver_ids) == in_db
    assert final.visible == (in_db == {g1.id, g2.id})


@pytest.mark.postgres  # the SQLite run leaves it out (tests/conftest.py)
async def test_on_postgresql_the_race_runs_on_several_connections(database):
    kid, g1, g2, carer = await two_guardians_and_a_carer()
    conn = connections.get("default")

    results = await asyncio.gather(
        *(
            change(kid, who, carer, "care", wanted)
            for _ in range(10)
            for who in (g1, g2)
            for wanted in (APPROVE, WITHDRAW, APPROVE)
        )
    )

    assert conn.capabilities.dialect == "postgres"
    assert await AccessLog.all().count() == sum(r.changed for r in results)
    for guardian in (g1, g2):
        present = await Approval.filter(approver_id=guardian.id).exists()
        assert replay(await cell_log(kid, guardian, carer, "care")) == present
