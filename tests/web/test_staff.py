"""The staff part: student list and a student's file."""

from datetime import date

from models.entities import CARER
from tests.factories import link, make_class, make_person, make_school, make_student


async def test_student_list_sorts_on_surname_without_prefix(database, sign_in):
    school = await make_school()
    admin = await make_person(school, staff_role="admin")
    for family_name in ("de Wit", "Bakker", "van den Berg"):
        await make_student(school, family_name=family_name)
    client = await sign_in(admin)

    body = await (await client.get("/staff/")).get_data(True)

    assert body.index("Bakker") < body.index("van den Berg") < body.index("de Wit")


async def test_student_file_shows_class_age_and_everyone_linked(database, sign_in):
    school = await make_school()
    mentor = await make_person(school, staff_role="mentor", family_name="Visser")
    group = await make_class(school, mentor, name="2 havo")
    kid = await make_student(school, homeroom=group, birth_date=date(2012, 1, 1))
    guardian = await make_person(school, given_name="Anouk", family_name="Smit")
    carer = await make_person(school, given_name="Ruud", family_name="Kok")
    await link(guardian, kid)
    await link(carer, kid, CARER, authorised=False)
    client = await sign_in(mentor)

    body = await (await client.get(f"/staff/students/{kid.id}/")).get_data(True)

    assert "2 havo" in body and "01-01-2012" in body
    assert "Anouk Smit" in body and "Ruud Kok" in body
    assert "geen toegang tot het portaal" in body
