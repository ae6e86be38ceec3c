"""Sending messages through the access rules, and reading them back by the same."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from models.access import portal_view
from models.cases import _build as build_case
from models.cases import read_rows
from models.entities import (
    CARER,
    GUARDIAN,
    PARENT,
    SECTIONS,
    SELF,
    Approval,
    Message,
    MessageRecipient,
    NotificationSetting,
    Outbox,
    PendingNotice,
    Person,
    Relation,
    School,
    Student,
)
from models.messages import (
    DAILY,
    InvalidMessage,
    badge_for_token,
    count_unread,
    delete_for,
    inbox_page,
    mark_read,
    open_message,
    send_message,
    send_to_class,
    send_to_guardians_of_student,
)
from models.sessions import start_session
from tests.factories import (
    approve,
    link,
    make_class,
    make_person,
    make_school,
    make_student,
)
from tests.models.test_access_cases import SHARED_TABLE

# 00:30 on 1 March in Amsterdam, still 28 February in UTC: a student born on
# 1 March 2010 turns 16 on this local day, one born on 29 February 2008 18.
NOW = datetime(2026, 2, 28, 23, 30, tzinfo=UTC)


def message(**fields) -> dict:
    fields.setdefault("sender", None)
    fields.setdefault("kind", "section")
    fields.setdefault("section", "results")
    fields.setdefault("subject", "New results")
    fields.setdefault("body", "Have a look.")
    fields.setdefault("now", NOW)
    return fields


async def seventeen_year_old(school):
    student = await make_student(school, birth_date=date(2009, 1, 10))
    guardian, own = await make_person(school), await make_person(school)
    await link(guardian, student)
    await link(own, student, SELF)
    return student, guardian, own


async def test_a_guardian_of_a_17_year_old_is_left_out_of_a_section(database):
    school = await make_school()
    student, guardian, own = await seventeen_year_old(school)

    result = await send_message(
        **message(school=school, student=student, recipients=[guardian, own])
    )

    assert [p.id for p in result.delivered] == [own.id]
    assert [p.id for p in result.left_out] == [guardian.id]
    assert await MessageRecipient.filter(person_id=guardian.id).count() == 0
    assert await count_unread(guardian, NOW) == 0
    assert await count_unread(own, NOW) == 1


async def test_the_students_approval_lets_the_guardian_receive(database):
    school = await make_school()
    student, guardian, own = await seventeen_year_old(school)
    await approve(own, guardian, student, "results")

    result = await send_message(
        **message(school=school, student=student, recipients=[guardian])
    )

    assert [p.id for p in result.delivered] == [guardian.id]
    assert result.left_out == []


async def test_a_withdrawn_approval_hides_the_message_and_its_count(database):
    school = await make_school()
    student = await make_student(school)
    guardian, carer = await make_person(school), await make_person(school)
    await link(guardian, student)
    await link(carer, student, CARER)
    approval = await approve(guardian, carer, student, "care")
    result = await send_message(
        **message(school=school, student=student, recipients=[carer], section="care")
    )
    message_id = result.message.id
    assert await count_unread(carer, NOW) == 1
    assert await open_message(carer, message_id, NOW) is not None

    await approval.delete()

    assert await count_unread(carer, NOW) == 0
    assert await open_message(carer, message_id, NOW) is None
    assert (await inbox_page(carer, 1, now=NOW)).items == []
    assert await delete_for(carer, message_id, NOW) is False
    # Given again, it is readable again: hidden, never lost.
    await approve(guardian, carer, student, "care")
    assert await count_unread(carer, NOW) == 1


async def test_the_16th_birthday_hides_a_guardians_message(database):
    school = await make_school()
    student = await make_student(school, birth_date=date(2010, 3, 1))
    guardian = await make_person(school)
    await link(guardian, student)
    day_before = NOW - timedelta(days=1)
    result = await send_message(
        **message(school=school, student=student, recipients=[guardian], now=day_before)
    )

    assert result.delivered and await count_unread(guardian, day_before) == 1
    assert await count_unread(guardian, NOW) == 0
    assert await open_message(guardian, result.message.id, NOW) is None


async def test_sharing_reaches_deciders_and_the_student_only(database):
    school = await make_school()
    student = await make_student(school)
    guardian, own, carer = [await make_person(school) for _ in range(3)]
    await link(guardian, student, authorised=False)
    await link(own, student, SELF)
    await link(carer, student, CARER)

    result = await send_message(
        **message(
            school=school,
            student=student,
            recipients=[guardian, own, carer],
            kind="sharing",
            section=None,
        )
    )

    # A guardian decides even without portal authorisation (SPEC.md section 4).
    assert {p.id for p in result.delivered} == {guardian.id, own.id}
    assert [p.id for p in result.left_out] == [carer.id]
    assert await count_unread(guardian, NOW) == 1


async def test_general_news_reaches_the_school_and_no_other(database):
    school, elsewhere = await make_school("ONE"), await make_school("TWO")
    ours, theirs = await make_person(school), await make_person(elsewhere)

    result = await send_message(
        **message(
            school=school,
            student=None,
            recipients=[ours, theirs],
            kind="general",
            section=None,
        )
    )

    assert [p.id for p in result.delivered] == [ours.id]
    assert [p.id for p in result.left_out] == [theirs.id]
    assert await count_unread(ours, NOW) == 1


async def test_staff_receive_by_their_role_not_by_family_consent(database):
    school = await make_school()
    mentor = await make_person(school, staff_role="mentor")
    other_mentor = await make_person(school, staff_role="mentor")
    student = await make_student(school, homeroom=await make_class(school, mentor))

    result = await send_message(
        **message(school=school, student=student, recipients=[mentor, other_mentor])
    )

    assert [p.id for p in result.delivered] == [mentor.id]
    assert await count_unread(mentor, NOW) == 1
    token = await start_session(mentor)
    assert (await badge_for_token(token, NOW)).unread == 1
    await Student.filter(id=student.id).update(homeroom_id=None)
    assert await count_unread(mentor, NOW) == 0
    assert (await badge_for_token(token, NOW)).unread == 0


async def test_badge_counts_new_read_and_deleted_per_person(database):
    school = await make_school()
    student = await make_student(school)
    first, second = await make_person(school), await make_person(school)
    await link(first, student)
    await link(second, student)
    sent = [
        await send_to_guardians_of_student(
            student=student, **message(subject=f"Subject {n}", body=f"Body {n}")
        )
        for n in range(3)
    ]
    assert [await count_unread(p, NOW) for p in (first, second)] == [3, 3]

    item = await open_message(first, sent[0].message.id, NOW)
    await mark_read(item, NOW)
    assert [await count_unread(p, NOW) for p in (first, second)] == [2, 3]

    assert await delete_for(first, sent[1].message.id, NOW)
    assert [await count_unread(p, NOW) for p in (first, second)] == [1, 3]
    page = await inbox_page(first, 1, now=NOW)
    assert [i.subject for i in page.items] == ["Subject 2", "Subject 0"]
    assert page.items[1].read_at is not None and page.items[0].read_at is None
    # The other guardian's copy is untouched.
    assert len((await inbox_page(second, 1, now=NOW)).items) == 3


async def test_nobody_reads_or_deletes_anothers_message(database):
    school = await make_school()
    student = await make_student(school)
    mine, stranger = await make_person(school), await make_person(school)
    await link(mine, student)
    await link(stranger, await make_student(school))
    sent = await send_message(
        **message(school=school, student=student, recipients=[mine])
    )

    assert await open_message(stranger, sent.message.id, NOW) is None
    assert await delete_for(stranger, sent.message.id, NOW) is False
    assert await count_unread(stranger, NOW) == 0
    assert await MessageRecipient.filter(deleted_at__isnull=False).count() == 0


async def test_the_inbox_pages_by_25_and_filters_by_child(database):
    school = await make_school()
    kid, sibling = await make_student(school), await make_student(school)
    guardian = await make_person(school)
    await link(guardian, kid)
    await link(guardian, sibling)
    for n in range(27):
        await send_message(
            **message(
                school=school,
                student=kid if n % 3 else sibling,
                recipients=[guardian],
                subject=f"S{n}",
                now=NOW - timedelta(minutes=60 - n),
            )
        )

    first = await inbox_page(guardian, 1, now=NOW)
    second = await inbox_page(guardian, 2, now=NOW)
    siblings = await inbox_page(guardian, 1, student_id=sibling.id, now=NOW)

    assert len(first.items) == 25 and first.has_next
    assert first.items[0].subject == "S26"
    assert [i.subject for i in second.items] == ["S1", "S0"] and not second.has_next
    assert [i.subject for i in siblings.items] == [f"S{n}" for n in range(24, -1, -3)]
    assert {i.student_name for i in siblings.items} == {sibling.name}


async def test_double_submission_makes_one_message(database):
    school = await make_school()
    student = await make_student(school)
    guardian = await make_person(school)
    await link(guardian, student)
    fields = message(
        school=school, student=student, recipients=[guardian], idempotency_key="k1"
    )

    first = await send_message(**fields)
    again = await send_message(**fields)

    assert again.duplicate and again.message.id == first.message.id
    assert await Message.all().count() == 1
    assert await MessageRecipient.all().count() == 1
    assert await Outbox.all().count() == 1


async def test_concurrent_double_submission_makes_one_message(database):
    school = await make_school()
    student = await make_student(school)
    guardian = await make_person(school)
    await link(guardian, student)
    fields = message(
        school=school, student=student, recipients=[guardian], idempotency_key="k2"
    )

    results = await asyncio.gather(send_message(**fields), send_message(**fields))

    assert len({r.message.id for r in results}) == 1
    assert await Message.all().count() == 1
    assert await Outbox.all().count() == 1


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"subject": "Hi\r\nBcc: x@evil.test"}, "one line"),
        ({"subject": "Hi\nBcc: x@evil.test"}, "one line"),
        ({"subject": "  "}, "Write a subject"),
        ({"subject": "x" * 201}, "at most 200"),
        ({"body": ""}, "Write a message"),
        ({"body": "a\x00b"}, "cannot be shown"),
        ({"kind": "gossip"}, "section, general, or sharing"),
        ({"section": "nope"}, "known section"),
        ({"student": None}, "must name the student"),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(database, fields, error):
    school = await make_school()
    student = await make_student(school)
    guardian = await make_person(school)
    await link(guardian, student)

    with pytest.raises(InvalidMessage, match=error):
        await send_message(
            **message(**{"school": school, "student": student, **fields}),
            recipients=[guardian],
        )

    assert await Message.all().count() == 0
    assert await Outbox.all().count() == 0


async def test_ten_messages_in_a_minute_give_one_notice(database):
    school = await make_school()
    student = await make_student(school)
    guardian = await make_person(school)
    await link(guardian, student)

    for n in range(10):
        await send_to_guardians_of_student(
            student=student, **message(now=NOW + timedelta(seconds=6 * n))
        )
    notices = await Outbox.filter(kind="notice").values("person_id", "payload")
    assert notices == [{"person_id": guardian.id, "payload": {}}]

    # A quarter of an hour after the first, the next message may tell again.
    await send_to_guardians_of_student(
        student=student, **message(now=NOW + timedelta(minutes=15))
    )
    assert await Outbox.filter(kind="notice").count() == 2


async def test_a_daily_choice_waits_for_the_summary(database):
    school = await make_school()
    student = await make_student(school)
    daily, off = await make_person(school), await make_person(school)
    for person in (daily, off):
        await link(person, student)
    await NotificationSetting.create(person=daily, event="message", mode=DAILY)
    await NotificationSetting.create(person=off, event="message", mode="off")

    await send_to_guardians_of_student(student=student, **message())

    assert await Outbox.all().count() == 0
    pending = await PendingNotice.all().values("person_id", "event", "sent_at")
    assert pending == [{"person_id": daily.id, "event": "message", "sent_at": None}]


async def test_a_class_message_is_one_message_per_student(database):
    school = await make_school()
    homeroom = await make_class(school)
    kids = [await make_student(school, homeroom=homeroom) for _ in range(3)]
    for kid in kids:
        await link(await make_person(school), kid)
        await link(await make_person(school), kid)

    results = await send_to_class(school_class=homeroom, **message())

    assert len(results) == 3
    rows = await Message.all().values_list("student_id", flat=True)
    assert sorted(rows) == sorted(k.id for k in kids)
    assert await MessageRecipient.all().count() == 6
    for student, result in results:
        assert len(result.delivered) == 2 and result.message.student_id == student.id


# ------------------------------------------------- the SQL keeps the rules


async def _visible_by_sql(person: Person, now: datetime = NOW) -> set[str]:
    page = await inbox_page(person, 1, now=now)
    assert await count_unread(person, now) == len(page.items)
    # The badge's own statement (session and count in one) agrees.
    badge = await badge_for_token(await start_session(person), now)
    assert badge.unread == len(page.items)
    return {item.section for item in page.items}


async def _plant_section_messages(school, student, persons) -> None:
    """Write one message per section straight to each person, unchecked."""
    for section in SECTIONS:
        planted = await Message.create(
            school=school,
            student=student,
            kind="section",
            section=section,
            subject=section,
            body="x",
            created_at=NOW,
        )
        for person in persons:
            await MessageRecipient.create(message=planted, person=person)


async def test_reading_agrees_with_every_shared_case(database):
    checked = 0
    for label, case in read_rows(SHARED_TABLE):
        assert not isinstance(case, Exception), label
        for model in (MessageRecipient, Message, Approval, Relation, Student):
            await model.all().delete()
        await Person.all().delete()
        await School.all().delete()
        people, student = await build_case(case)
        school = await School.get(code="CASES")
        await _plant_section_messages(school, student, people.values())
        viewer = people[case.viewer]

        seen = await _visible_by_sql(viewer, case.now_utc)

        assert (case.section in seen) == case.visible, label
        checked += 1
    assert checked >= 10


async def test_reading_agrees_with_portal_view_in_random_families(database):
    rng = random.Random(20260301)  # noqa: S311 - a fixed, reproducible mix
    today = date(2026, 3, 1)
    births = [
        None,
        date(2010, 2, 28),
        date(2008, 2, 29),
        date(2010, 3, 1),
        date(2010, 3, 2),
        date(2008, 3, 1),
        date(2008, 3, 2),
        date(2014, 6, 1),
        date(2009, 6, 1),
        today.replace(year=2010),
    ]
    kinds = [GUARDIAN, GUARDIAN, SELF, PARENT, CARER]
    checked = 0
    for n in range(40):
        school = await make_school(
            f"R{n}",
            sections=rng.choice([[], list(SECTIONS), rng.sample(SECTIONS, 5)]),
            guardian_sections_until_18=rng.sample(SECTIONS, rng.randint(0, 2)),
        )
        student = await make_student(
            school, birth_date=rng.choice(births), active=rng.random() > 0.1
        )
        persons = []
        for kind in rng.sample(kinds, rng.randint(1, 5)):
            person = await make_person(school)
            await Relation.create(
                person=person,
                student=student,
                kind=kind,
                authorised=rng.random() > 0.15,
                active=rng.random() > 0.1,
            )
            persons.append(person)
        for _ in range(rng.randint(0, 14)):
            approver, viewer = rng.choice(persons), rng.choice(persons)
            await Approval.get_or_create(
                student=student,
                approver=approver,
                viewer=viewer,
                section=rng.choice(SECTIONS),
            )
        await _plant_section_messages(school, student, persons)

        for person in persons:
            view = await portal_view(person.id, student.id, NOW)
            expected = set(view.sections) if view else set()

            assert await _visible_by_sql(person) == expected, (n, person.id)
            checked += 1
    assert checked > 60


async def test_the_badge_follows_a_school_in_another_time_zone(database):
    # 23:30 UTC on 28 February is already 1 March in Amsterdam, not in New York.
    school = await make_school(timezone="America/New_York")
    student = await make_student(school, birth_date=date(2010, 3, 1))
    guardian = await make_person(school)
    await link(guardian, student)
    await send_message(**message(school=school, student=student, recipients=[guardian]))
    token = await start_session(guardian)

    assert (await badge_for_token(token, NOW)).unread == 1  # still 15 there
    assert (await badge_for_token(token, NOW + timedelta(hours=6))).unread == 0
    assert await badge_for_token("not-a-token", NOW) is None
