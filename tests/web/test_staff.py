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


async def test_the_staff_start_page_links_to_every_staff_tool(database, sign_in):
    school = await make_school()
    admin = await make_person(school, staff_role="admin")
    mentor = await make_person(school, staff_role="mentor")
    kid = await make_student(school, homeroom=await make_class(school, mentor))
    admin_tools = ('href="/staff/security/"', 'href="/staff/settings/sharing"')
    everyone = ('href="/staff/messages/"', 'href="/staff/log"')

    as_admin = await (await (await sign_in(admin)).get("/staff/")).get_data(True)
    mentor_client = await sign_in(mentor)
    as_mentor = await (await mentor_client.get("/staff/")).get_data(True)
    file = await (await mentor_client.get(f"/staff/students/{kid.id}/")).get_data(True)

    assert all(link in as_admin for link in (*everyone, *admin_tools))
    assert all(link in as_mentor for link in everyone)
    assert not any(link in as_mentor for link in admin_tools)
    assert f'href="/staff/messages/students/{kid.id}"' in file
    for path in (*everyone, *admin_tools):
        url = path.split('"')[1]
        client = await sign_in(admin)
        assert (await client.get(url)).status_code == 200, url
