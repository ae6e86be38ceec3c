"""E-mail about messages: the notice, its throttle, and the daily summary.

No e-mail may carry a message's subject, body or sender, or a student's name.
Outbox rows go through the real delivery job (tasks.email.send_email) to a
real SMTP server (aiosmtpd), and the received e-mails are checked whole.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr

import pytest

from models.entities import (
    Message,
    MessageRecipient,
    NotificationSetting,
    Outbox,
    PendingNotice,
    Person,
)
from models.messages import record_event, send_message, send_to_guardians_of_student
from tasks.email import send_email
from tasks.notices import send_daily_summaries
from tests.factories import link, make_person, make_school, make_student

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
SECRET_SUBJECT = "Sanne's maths resit"
SECRET_BODY = "Sanne failed the test; call Mrs Jansen on 06-12345678."


@pytest.fixture
def smtp(settings, sink):
    handler, port = sink
    yield (
        handler,
        dataclasses.replace(
            settings,
            smtp_host="127.0.0.1",
            smtp_port=port,
            base_url="https://inzage.test",
        ),
    )


async def deliver(smtp, row: Outbox) -> tuple[list[str], EmailMessage, str, str]:
    """Send one outbox row through the delivery job; return what arrived."""
    sink, settings = smtp
    before = len(sink.received)

    assert await send_email({"settings": settings}, row.id) == "sent"
    assert len(sink.received) == before + 1
    recipients, message = sink.received[-1]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return recipients, message, text, html


@pytest.fixture
async def family(database):
    school = await make_school()
    mentor = await make_person(school, staff_role="mentor", given_name="Eve")
    student = await make_student(school, given_name="Sanne", family_name="Vermeer")
    guardian = await make_person(school, given_name="Anna", language="en")
    await link(guardian, student)
    return school, mentor, student, guardian


async def send(family, **fields):
    school, mentor, student, guardian = family
    fields.setdefault("subject", SECRET_SUBJECT)
    fields.setdefault("body", SECRET_BODY)
    fields.setdefault("now", NOW)
    return await send_message(
        school=school,
        sender=mentor,
        recipients=[guardian],
        student=student,
        kind="section",
        section="results",
        **fields,
    )


def forbidden(family) -> list[str]:
    _, mentor, student, _ = family
    return [
        SECRET_SUBJECT,
        "maths",
        "06-12345678",
        student.given_name,
        student.family_name,
        mentor.given_name,
        mentor.family_name,
    ]


async def test_the_notice_says_only_that_messages_wait(family, smtp):
    await send(family)

    row = await Outbox.get(kind="notice")
    recipients, message, text, html = await deliver(smtp, row)

    assert row.person_id == family[3].id and row.payload == {}
    assert recipients == [family[3].email]
    assert "There are new messages for you in Inzage" in text
    assert "https://inzage.test/login" in text and 'href="https://' in html
    whole = message.as_string()
    for word in forbidden(family):
        assert word not in whole and word not in text and word not in html, word
        assert word not in str(row.payload)


async def test_the_notice_is_dutch_for_a_dutch_reader(family, smtp):
    await Person.filter(id=family[3].id).update(language="nl")
    family[3].language = "nl"

    await send(family)
    row = await Outbox.get(kind="notice")
    _, _, text, html = await deliver(smtp, row)

    assert row.language == "nl"
    assert "Er zijn nieuwe berichten voor u in Inzage" in text
    assert "Er zijn nieuwe berichten voor u in Inzage" in html


async def test_ten_messages_in_a_minute_give_one_notice_e_mail(family):
    for n in range(10):
        await send(family, now=NOW + timedelta(seconds=6 * n))

    assert await Message.all().count() == 10
    assert await Outbox.filter(kind="notice").count() == 1
    person = await Person.get(id=family[3].id)
    assert person.last_notice_at == NOW


async def test_a28_a_display_name_with_a_header_cannot_add_a_recipient(family, smtp):
    school, mentor, student, guardian = family
    evil = "Eve\r\nBcc: x@evil.test"
    await Person.filter(id=mentor.id).update(given_name=evil)
    mentor.given_name = evil
    await Person.filter(id=guardian.id).update(family_name=evil)
    guardian.family_name = evil

    await send(family)
    row = await Outbox.get(kind="notice")
    recipients, message, text, html = await deliver(smtp, row)

    # Nothing of the sender reaches the e-mail; one recipient, no Bcc.
    assert recipients == [guardian.email] and "Bcc" not in message
    assert "evil" not in message.as_string() and row.payload == {}
    assert await MessageRecipient.all().count() == 1
    assert await Outbox.all().count() == 1
    # A header built with the recipient's display name is refused whole.
    mail = EmailMessage()
    with pytest.raises(ValueError, match="linefeed|carriage"):
        mail["To"] = formataddr((guardian.name, guardian.email))
    mail["To"] = guardian.email
    mail["Subject"] = "Inzage"
    mail.set_content(text)
    assert "Bcc" not in mail and mail.get_all("To") == [guardian.email]


async def test_a_subject_with_a_header_is_refused(family):
    with pytest.raises(ValueError, match="one line"):
        await send(family, subject="Hi\r\nBcc: x@evil.test")

    assert await Outbox.all().count() == 0 and await Message.all().count() == 0


async def test_the_daily_summary_holds_each_persons_own_events(family, smtp):
    school, mentor, student, guardian = family
    dutch = await make_person(school, language="nl")
    quiet = await make_person(school)
    await link(dutch, student)
    await link(quiet, student)
    for person in (guardian, dutch):
        await NotificationSetting.create(person=person, event="message", mode="daily")
    await NotificationSetting.create(person=dutch, event="document", mode="daily")
    for n in range(3):
        await send_to_guardians_of_student(
            student=student,
            sender=mentor,
            kind="section",
            section="results",
            subject=SECRET_SUBJECT,
            body=SECRET_BODY,
            now=NOW + timedelta(minutes=n),
        )
    await record_event([dutch, quiet], "document", NOW)
    assert await Outbox.filter(person_id=quiet.id).count() == 1  # its own notice

    written = await send_daily_summaries(now=NOW + timedelta(hours=20))

    assert written == 2
    rows = {
        r.person_id: r
        for r in await Outbox.filter(kind="summary").order_by("person_id")
    }
    assert set(rows) == {guardian.id, dutch.id}
    assert rows[guardian.id].payload == {"events": [["message", 3]]}
    assert rows[dutch.id].payload == {"events": [["message", 3], ["document", 1]]}
    to_english, _, english_text, _ = await deliver(smtp, rows[guardian.id])
    to_dutch, mail, dutch_text, dutch_html = await deliver(smtp, rows[dutch.id])
    assert (to_english, to_dutch) == ([guardian.email], [dutch.email])
    assert "New messages: 3" in english_text and "Documents" not in english_text
    assert "Nieuwe berichten: 3" in dutch_text and "Documenten klaar: 1" in dutch_text
    assert "Nieuwe berichten: 3" in dutch_html
    for word in forbidden(family):
        assert word not in english_text and word not in mail.as_string(), word
    assert await PendingNotice.filter(sent_at=None).count() == 0


async def test_the_daily_summary_is_sent_once(family):
    school, mentor, student, guardian = family
    await NotificationSetting.create(person=guardian, event="message", mode="daily")
    await send(family)

    first = await send_daily_summaries(now=NOW + timedelta(hours=1))
    second = await send_daily_summaries(now=NOW + timedelta(hours=2))

    assert (first, second) == (1, 0)
    assert await Outbox.filter(kind="summary").count() == 1


async def test_two_summary_runs_at_once_write_one_summary(family):
    # Each web process runs the daily job without Redis: two runs may overlap.
    school, mentor, student, guardian = family
    await NotificationSetting.create(person=guardian, event="message", mode="daily")
    await send(family)
    await send(family, subject="Another", idempotency_key="another")

    later = NOW + timedelta(hours=1)
    results = await asyncio.gather(*(send_daily_summaries(now=later) for _ in range(3)))

    assert sum(results) == 1
    [summary] = await Outbox.filter(kind="summary")
    assert summary.payload == {"events": [["message", 2]]}
    assert await PendingNotice.filter(sent_at=None).count() == 0


async def test_a_newer_event_waits_for_the_next_summary(family):
    school, mentor, student, guardian = family
    await NotificationSetting.create(person=guardian, event="message", mode="daily")
    await send(family, now=NOW + timedelta(hours=5))

    assert await send_daily_summaries(now=NOW) == 0
    assert await send_daily_summaries(now=NOW + timedelta(hours=6)) == 1


def test_the_worker_runs_the_summary_once_a_day():
    from tasks.worker import WorkerSettings

    jobs = [job for job in WorkerSettings.cron_jobs if job.name.endswith("summaries")]

    assert len(jobs) == 1
    assert jobs[0].hour == {5} and jobs[0].minute == {30}
