"""The access rules as loaded from the database."""

from datetime import UTC, date, datetime

import pytest

from models.access import portal_view
from models.entities import CARER, SELF
from tests.factories import approve, link, make_person, make_school, make_student

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


async def test_carer_sees_only_what_both_guardians_approved(database):
    school = await make_school()
    kid = await make_student(school, birth_date=date(2014, 3, 1))
    g1, g2, carer = [await make_person(school) for _ in range(3)]
    await link(g1, kid)
    await link(g2, kid)
    await link(carer, kid, CARER)
    await approve(g1, carer, kid, "absence")
    await approve(g2, carer, kid, "absence")
    await approve(g1, carer, kid, "results")

    view = await portal_view(carer.id, kid.id, NOW)

    assert view is not None
    assert view.sections == ("absence",)


async def test_unauthorised_relation_sees_nothing(database):
    school = await make_school()
    kid = await make_student(school)
    g1 = await make_person(school)
    await link(g1, kid, authorised=False)

    assert await portal_view(g1.id, kid.id, NOW) is None


async def test_student_over_16_sees_everything(database):
    school = await make_school()
    kid = await make_student(school, birth_date=date(2009, 1, 15))
    me = await make_person(school)
    await link(me, kid, SELF)

    view = await portal_view(me.id, kid.id, NOW)

    assert view.sections == tuple(school.sections_in_use())


@pytest.mark.parametrize(
    ("statement", "model", "alias"),
    [
        ("models.access.VIEW_SQL", "Student", "s"),
        ("models.access.VIEW_SQL", "School", "c"),
        ("models.sessions.SESSION_SQL", "Session", "x"),
        ("models.sessions.SESSION_SQL", "Person", "p"),
    ],
)
def test_hand_written_statements_read_every_column(database, statement, model, alias):
    import importlib

    from models import entities

    module, _, name = statement.rpartition(".")
    text = getattr(importlib.import_module(module), name)
    columns = getattr(entities, model)._meta.fields_db_projection.values()

    assert "school_id" in columns or model in ("Session", "School")
    for column in columns:
        assert f" {alias}.{column} AS {alias}_{column}" in text, column


async def test_children_for_the_switcher_come_with_the_view(database):
    school = await make_school()
    anna = await make_student(school, given_name="Anna")
    daan = await make_student(school, given_name="Daan")
    hidden = await make_student(school, given_name="Zoë")
    parent = await make_person(school)
    await link(parent, daan)
    await link(parent, anna)
    await link(parent, hidden, authorised=False)

    view = await portal_view(parent.id, daan.id, NOW)

    assert [(c.id, c.given_name) for c in view.children] == [
        (anna.id, "Anna"),
        (daan.id, "Daan"),
    ]
    assert view.student.name == daan.name and view.student.school_id == school.id


async def test_the_view_read_with_the_session_is_the_views_own(database):
    """The pages of a file read the person's view in the session's statement;
    for every kind of person it is the view portal_view gives."""
    from models.sessions import load_session, start_session

    school = await make_school()
    kid = await make_student(school, birth_date=date(2014, 3, 1))
    sister = await make_student(school, given_name="Anna")
    gone = await make_student(school, active=False)
    g1, g2, carer, parent, stranger, unauthorised = [
        await make_person(school) for _ in range(6)
    ]
    for guardian in (g1, g2):
        await link(guardian, kid)
        await link(guardian, gone)
    await link(g1, sister)
    await link(carer, kid, CARER)
    await link(parent, kid, "parent")
    await link(unauthorised, kid, authorised=False)
    await approve(g1, carer, kid, "absence")
    await approve(g2, carer, kid, "absence")
    await approve(g1, carer, kid, "results")
    await approve(g1, parent, kid, "results")

    cases = [(person, kid) for person in (g1, g2, carer, parent, stranger)]
    cases += [(unauthorised, kid), (g1, gone), (g1, sister), (carer, sister)]
    seen = []
    for person, student in cases:
        token = await start_session(person)
        active = await load_session(token, student_id=student.id)
        expected = await portal_view(person.id, student.id, datetime.now(UTC))

        assert active.person.id == person.id
        assert active.portal_view == (student.id, expected)
        seen.append(expected is not None)
    assert seen == [True, True, True, True, False, False, False, True, False]


async def test_a_session_read_without_a_student_carries_no_view(database):
    from models.sessions import load_session, start_session

    school = await make_school()
    kid = await make_student(school)
    guardian = await make_person(school)
    await link(guardian, kid)

    active = await load_session(await start_session(guardian))

    assert active.person.id == guardian.id and active.portal_view is None
