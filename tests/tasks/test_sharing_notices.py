"""Notices about sharing: approvals awaited, thirty days before 16, the birthday."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from models.access import load_family
from models.consent import (
    APPROVE,
    NOTICE_BEFORE_16,
    NOTICE_BIRTHDAY_16,
    WITHDRAW,
    load_household,
    set_approval,
)
from models.entities import (
    CARER,
    SELF,
    Message,
    MessageRecipient,
    NotificationSetting,
    Outbox,
    PendingNotice,
    School,
    StudentNotice,
)
from tasks.sharing_notices import send_sharing_notices
from tasks.worker import WorkerSettings
from tests.factories import link, make_person, make_school, make_student

BORN = date(2010, 6, 20)
BIRTHDAY = date(2026, 6, 20)
DUE = BIRTHDAY - timedelta(days=30)


async def family(**school_fields):
    school = await make_school(**school_fields)
    kid = await make_student(school, given_name="Sanne", birth_date=BORN)
    g1 = await make_person(school, given_name="Anna", language="nl")
    g2 = await make_person(school, given_name="Peter", language="en")
    own = await make_person(school, language="nl")
    carer = await make_person(school, given_name="Jan", family_name="Scholten")
    await link(g1, kid)
    await link(g2, kid)
    await link(own, kid, SELF)
    await link(carer, kid, CARER)
    return kid, g1, g2, own, carer


async def inbox(person) -> list[Message]:
    ids = await MessageRecipient.filter(person_id=person.id).values_list(
        "message_id", flat=True
    )
    return await Message.filter(id__in=ids).order_by("id")


# ------------------------------------------------------------- turning 16


async def test_thirty_days_before_16_the_student_and_guardians_are_told(database):
    kid, g1, g2, own, carer = await family(guardian_sections_until_18=["results"])

    assert await send_sharing_notices({}, today=DUE - timedelta(days=1)) == 0
    sent = await send_sharing_notices({}, today=DUE)
    again = await send_sharing_notices({}, today=DUE)
    next_day = await send_sharing_notices({}, today=DUE + timedelta(days=1))

    assert (sent, again, next_day) == (1, 0, 0)
    for person in (g1, own):
        [message] = await inbox(person)
        assert message.kind == "sharing" and message.student_id == kid.id
        assert "Sanne wordt 16 op 20-06-2026" == message.subject
        assert "Resultaten" in message.body  # kept for guardians until 18
    [english] = await inbox(g2)
    assert english.subject == "Sanne turns 16 on 20-06-2026"
    assert await inbox(carer) == []
    notice = await StudentNotice.get(student_id=kid.id)
    assert (notice.kind, notice.due_on) == (NOTICE_BEFORE_16, DUE)


async def test_a_late_first_run_still_sends_once(database):
    kid, g1, *_ = await family()

    first = await send_sharing_notices({}, today=DUE + timedelta(days=12))
    second = await send_sharing_notices({}, today=DUE + timedelta(days=13))

    assert (first, second) == (1, 0)
    assert len(await inbox(g1)) == 1


async def test_two_runs_at_once_send_once(database):
    kid, g1, g2, own, _ = await family()

    results = await asyncio.gather(
        *(send_sharing_notices({}, today=DUE) for _ in range(3))
    )

    assert sum(results) == 1
    assert await StudentNotice.all().count() == 1
    assert [len(await inbox(p)) for p in (g1, g2, own)] == [1, 1, 1]


async def test_on_the_birthday_the_student_is_invited_to_decide(database):
    kid, g1, g2, own, _ = await family()

    sent = await send_sharing_notices({}, today=BIRTHDAY)
    again = await send_sharing_notices({}, today=BIRTHDAY + timedelta(days=1))

    assert (sent, again) == (1, 0)
    [message] = await inbox(own)
    # The portal says "u" to everyone, a student of 16 included.
    assert message.subject == "Vanaf vandaag beslist u wie uw dossier ziet"
    assert "Nu u 16 bent, beslist u" in message.body
    assert await inbox(g1) == [] and await inbox(g2) == []
    notice = await StudentNotice.get(student_id=kid.id)
    assert (notice.kind, notice.due_on) == (NOTICE_BIRTHDAY_16, BIRTHDAY)


async def test_no_notice_long_after_the_birthday(database):
    await family()

    assert await send_sharing_notices({}, today=BIRTHDAY + timedelta(days=60)) == 0
    assert await Message.all().count() == 0


async def test_the_daily_job_is_in_the_worker():
    names = {job.name for job in WorkerSettings.cron_jobs}

    assert any("send_sharing_notices" in name for name in names)


# ------------------------------------------------------------- approval awaited


async def change(kid, decider, viewer, wanted):
    # A day when Sanne was 15, so that the guardians decide.
    moment = _noon(DUE - timedelta(days=100))
    school = await School.get(id=kid.school_id)
    family_ = await load_family(kid, school, moment)
    household = await load_household(kid, school, family_)
    return await set_approval(
        household,
        decider_id=decider.id,
        viewer_id=viewer.id,
        section="care",
        wanted=wanted,
        actor_id=decider.id,
        role="guardian",
        now=moment,
    )


def _noon(day: date):
    from datetime import UTC, datetime, time

    return datetime.combine(day, time(12), UTC)


async def test_an_approval_tells_the_other_guardian_theirs_is_awaited(database):
    kid, g1, g2, own, carer = await family()

    await change(kid, g1, carer, APPROVE)
    await change(kid, g1, carer, WITHDRAW)
    await change(kid, g1, carer, APPROVE)
    await change(kid, g2, carer, APPROVE)

    [message] = await inbox(g2)
    assert message.kind == "sharing" and message.student_id == kid.id
    assert message.subject == "Your approval is awaited"
    assert "Anna" in message.body and "Jan Scholten" in message.body
    assert "Care and support" in message.body
    # Nobody else is waited for once both approved; g1 is never told.
    assert await inbox(g1) == []
    assert await Message.all().count() == 1


async def test_the_awaited_notice_follows_the_approval_awaited_setting(database):
    # Messages in a daily summary, approvals awaited at once (SPEC.md 8).
    kid, g1, g2, own, carer = await family()
    await NotificationSetting.create(person=g2, event="message", mode="daily")
    await NotificationSetting.create(
        person=g2, event="approval_awaited", mode="immediate"
    )

    await change(kid, g1, carer, APPROVE)

    assert [m.subject for m in await inbox(g2)] == ["Your approval is awaited"]
    assert await Outbox.filter(person_id=g2.id, kind="notice").count() == 1
    assert await PendingNotice.filter(person_id=g2.id).count() == 0
