"""The Postkantoor: send messages about a student, and read them back.

``send_message`` is the one door other features use: "tell these persons
this, about this student, in this section". A message reaches only the
recipients who may see its section when it is sent (``models.access``), and
the sender learns who was left out. Reading follows the same rules at every
request: the inbox, the message page and the unread badge run one statement
each, whose condition (``VISIBLE_SQL``) is ``models.access.section_visible``
written in SQL; a test holds the two to the same answers.

E-mail never carries a message: a notice says only that something is
waiting, at most once a quarter hour per person, or a daily summary counts
the events.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import SimpleNamespace

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.signals import post_save
from tortoise.transactions import in_transaction

from models import sql
from models.access import (
    AGE_OF_CONSENT,
    AGE_OF_MAJORITY,
    deciders,
    load_family,
    local_today,
    portal_view,
    staff_student,
    utcnow,
)
from models.entities import (
    GUARDIAN,
    SECTIONS,
    Message,
    MessageRecipient,
    NotificationSetting,
    PendingNotice,
    Person,
    School,
    Session,
    Student,
)
from models.outbox import add_email
from models.sessions import expired, token_hash

logger = logging.getLogger(__name__)

SECTION = "section"
GENERAL = "general"
SHARING = "sharing"
MESSAGE_KINDS: tuple[str, ...] = (SECTION, GENERAL, SHARING)

PAGE_SIZE = 25
SUBJECT_MAX_CHARS = 200
BODY_MAX_CHARS = 10_000
IDEMPOTENCY_KEY_MAX_CHARS = 64
NOTICE_INTERVAL = timedelta(minutes=15)

# Events a person can be told about by e-mail (SPEC.md section 8), and how.
EVENT_MESSAGE = "message"
EVENT_DOCUMENT = "document"
EVENT_CHANGE_ANSWERED = "change_answered"
EVENT_APPROVAL_AWAITED = "approval_awaited"
EVENT_NEW_DATA = "new_data"
EVENTS: tuple[str, ...] = (
    EVENT_MESSAGE,
    EVENT_DOCUMENT,
    EVENT_CHANGE_ANSWERED,
    EVENT_APPROVAL_AWAITED,
    EVENT_NEW_DATA,
)
OFF, IMMEDIATE, DAILY = "off", "immediate", "daily"
MODES: tuple[str, ...] = (OFF, IMMEDIATE, DAILY)
DEFAULT_MODES: dict[str, str] = {
    EVENT_MESSAGE: IMMEDIATE,
    EVENT_DOCUMENT: OFF,
    EVENT_CHANGE_ANSWERED: OFF,
    EVENT_APPROVAL_AWAITED: IMMEDIATE,
    EVENT_NEW_DATA: OFF,
}

# Control characters other than tab and line breaks; a subject may hold none
# of them and no line break either (no header injection, SECURITY A28).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
_LINE_BREAK = re.compile(r"[\r\n]")


class InvalidMessage(ValueError):
    """Raised for a message that cannot be sent; the text says what is wrong."""


@dataclass
class SendResult:
    """What became of a message: who got it and who was left out.

    ``message`` is None when nobody may receive it; ``duplicate`` is true
    when the idempotency key had been used, and the first message is returned.
    """

    message: Message | None
    delivered: list[Person] = field(default_factory=list)
    left_out: list[Person] = field(default_factory=list)
    duplicate: bool = False


# ---------------------------------------------------------------- input


def clean_subject(subject: str) -> str:
    """Return the trimmed subject, or raise InvalidMessage saying why not."""
    text = (subject or "").strip()
    if not text:
        raise InvalidMessage("Write a subject.")
    if _LINE_BREAK.search(text) or _CONTROL.search(text):
        raise InvalidMessage("A subject is one line of text, without line breaks.")
    if len(text) > SUBJECT_MAX_CHARS:
        raise InvalidMessage("A subject holds at most 200 characters.")
    return text


def clean_body(body: str) -> str:
    """Return the body with line breaks made plain, or raise InvalidMessage."""
    text = (body or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise InvalidMessage("Write a message.")
    if _CONTROL.search(text):
        raise InvalidMessage("The message holds characters that cannot be shown.")
    if len(text) > BODY_MAX_CHARS:
        raise InvalidMessage("A message holds at most 10,000 characters.")
    return text


def _check_kind(kind: str, section: str | None, student: Student | None) -> None:
    if kind not in MESSAGE_KINDS:
        raise InvalidMessage("A message is about a section, general, or sharing.")
    if kind == SECTION and section not in SECTIONS:
        raise InvalidMessage("A message about a section names a known section.")
    if kind != SECTION and section is not None:
        raise InvalidMessage("Only a message about a section names a section.")
    if kind in (SECTION, SHARING) and student is None:
        raise InvalidMessage("This message must name the student it is about.")


# ---------------------------------------------------------------- sending


async def may_receive(
    person: Person,
    *,
    school: School,
    student: Student | None,
    kind: str,
    section: str | None,
    now: datetime,
) -> bool:
    """Decide through ``models.access`` whether a person may get a message now."""
    if person.school_id != school.id or not person.active:
        return False
    if kind == GENERAL:
        # News without student data reaches anyone of the school.
        return True
    if student is None or student.school_id != school.id or not student.active:
        return False
    if person.staff_role and await staff_student(person, student.id) is not None:
        return True
    if kind == SHARING:
        family = await load_family(student, school, now)
        return person.id in deciders(family) | family.self_ids
    view = await portal_view(person.id, student.id, now)
    return view is not None and view.sees(section or "")


async def send_message(
    *,
    school: School,
    sender: Person | None,
    recipients: Iterable[Person],
    student: Student | None,
    kind: str,
    section: str | None = None,
    subject: str,
    body: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
    event: str = EVENT_MESSAGE,
) -> SendResult:
    """Send one message to the recipients who may see it; say who was left out.

    Raises InvalidMessage for bad input, before anything is written. The same
    idempotency key (per school and sender) gives the first message back.
    ``event`` is what the recipients are told of by e-mail, as they chose
    under Notificaties: a new message, or for instance an approval awaited.
    """
    _check_kind(kind, section, student)
    subject, body = clean_subject(subject), clean_body(body)
    if idempotency_key is not None and not (
        0 < len(idempotency_key) <= IDEMPOTENCY_KEY_MAX_CHARS
    ):
        raise InvalidMessage("An idempotency key holds 1 to 64 characters.")
    now = now or utcnow()
    wanted = list({person.id: person for person in recipients}.values())
    key = _scoped_key(school, sender, idempotency_key)

    if key is not None:
        existing = await Message.get_or_none(idempotency_key=key)
        if existing is not None:
            return await _earlier_result(existing, wanted)

    delivered, left_out = [], []
    for person in wanted:
        allowed = await may_receive(
            person, school=school, student=student, kind=kind, section=section, now=now
        )
        (delivered if allowed else left_out).append(person)
    if not delivered:
        return SendResult(None, [], left_out)

    try:
        async with in_transaction():
            message = await Message.create(
                school=school,
                sender=sender,
                student=student,
                kind=kind,
                section=section,
                subject=subject,
                body=body,
                created_at=now,
                idempotency_key=key,
            )
            await MessageRecipient.bulk_create(
                [MessageRecipient(message=message, person=p) for p in delivered]
            )
            await record_event(delivered, event, now)
    except IntegrityError:
        # Two submissions at once: the unique key let only one through.
        existing = await Message.get_or_none(idempotency_key=key) if key else None
        if existing is None:
            raise
        return await _earlier_result(existing, wanted)
    logger.info(
        "message %s sent school=%s delivered=%d left_out=%d",
        message.id,
        school.id,
        len(delivered),
        len(left_out),
    )
    return SendResult(message, delivered, left_out)


def _scoped_key(school: School, sender: Person | None, key: str | None) -> str | None:
    # Scoped, so that one school's key can never return another's message.
    if key is None:
        return None
    return f"{school.id}:{sender.id if sender else 'api'}:{key}"


async def already_sent(
    school: School, sender: Person | None, keys: Iterable[str]
) -> set[str]:
    """Return which of these idempotency keys a message was sent with, in one query."""
    scoped = {_scoped_key(school, sender, key): key for key in keys}
    found = await Message.filter(idempotency_key__in=list(scoped)).values_list(
        "idempotency_key", flat=True
    )
    return {scoped[key] for key in found}


async def _earlier_result(message: Message, wanted: list[Person]) -> SendResult:
    got = set(
        await MessageRecipient.filter(message_id=message.id).values_list(
            "person_id", flat=True
        )
    )
    return SendResult(
        message,
        [p for p in wanted if p.id in got],
        [p for p in wanted if p.id not in got],
        duplicate=True,
    )


async def guardians_of(student: Student) -> list[Person]:
    """Return the active persons linked to a student as guardian."""
    return await Person.filter(
        relations__student_id=student.id,
        relations__kind=GUARDIAN,
        relations__active=True,
        active=True,
    ).order_by("id")


async def send_to_guardians_of_student(
    *, student: Student, school: School | None = None, **message
) -> SendResult:
    """Send one message to every guardian of a student."""
    school = school or await School.get(id=student.school_id)
    recipients = await guardians_of(student)
    return await send_message(
        school=school, student=student, recipients=recipients, **message
    )


async def send_to_class(
    *, school_class, school: School | None = None, idempotency_key=None, **message
) -> list[tuple[Student, SendResult]]:
    """Send one message per active student of a class, to that student's guardians."""
    school = school or await School.get(id=school_class.school_id)
    students = await Student.filter(homeroom_id=school_class.id, active=True).order_by(
        "family_name", "given_name", "id"
    )
    results = []
    for student in students:
        key = f"{idempotency_key}:{student.id}" if idempotency_key else None
        result = await send_to_guardians_of_student(
            student=student, school=school, idempotency_key=key, **message
        )
        results.append((student, result))
    return results


# ---------------------------------------------------------------- events


async def modes_for(person_ids: Iterable[int], event: str) -> dict[int, str]:
    """Return each person's mode for an event, the default where none is set."""
    ids = list(person_ids)
    chosen = dict(
        await NotificationSetting.filter(person_id__in=ids, event=event).values_list(
            "person_id", "mode"
        )
    )
    return {pid: chosen.get(pid, DEFAULT_MODES[event]) for pid in ids}


async def record_event(
    persons: Iterable[Person], event: str, now: datetime | None = None
) -> None:
    """Tell persons by e-mail that something happened, as each of them chose.

    Call it inside the transaction of the change: an immediate choice writes
    a notice to the outbox (throttled), a daily one a pending notice.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    now = now or utcnow()
    people = {p.id: p for p in persons}
    modes = await modes_for(people, event)
    daily = [pid for pid, mode in modes.items() if mode == DAILY]
    if daily:
        await PendingNotice.bulk_create(
            [PendingNotice(person_id=pid, event=event, created_at=now) for pid in daily]
        )
    for pid, mode in modes.items():
        if mode == IMMEDIATE:
            await send_notice(people[pid], now)


async def send_notice(person: Person, now: datetime | None = None) -> bool:
    """Write "there is something new" to the outbox, at most once a quarter hour.

    The throttle is one conditional UPDATE: of two senders at once, only the
    one whose update matched writes the e-mail.
    """
    if not person.email:
        return False
    now = now or utcnow()
    claimed = await Person.filter(
        Q(id=person.id)
        & (
            Q(last_notice_at__isnull=True)
            | Q(last_notice_at__lte=now - NOTICE_INTERVAL)
        )
    ).update(last_notice_at=now)
    if not claimed:
        return False
    # Nothing about the message travels: no sender, subject, body or student.
    await add_email(person, "notice", {})
    return True


# ---------------------------------------------------------------- reading

# Whether recipient ``mr.person_id`` may read message ``m`` now: the rules
# of models.access.section_visible, staff_sees_student and deciders in SQL,
# for one statement per read. Placeholders, in order: see _visible_params.
VISIBLE_SQL = (
    " AND (m.kind = 'general' OR (s.active = ? AND ("
    # Staff: admin and care see their school's students, a mentor their class.
    " (? AND s.school_id = ?)"
    " OR (? AND s.school_id = ? AND EXISTS (SELECT 1 FROM school_class k"
    "   WHERE k.id = s.homeroom_id AND k.mentor_id = mr.person_id))"
    # Sharing notices reach the deciders and the student's own account.
    " OR (m.kind = 'sharing' AND EXISTS (SELECT 1 FROM relation r"
    "   WHERE r.person_id = mr.person_id AND r.student_id = s.id AND r.active = ?"
    "   AND ((r.kind = 'self' AND r.authorised = ?)"
    "   OR (r.kind = 'guardian' AND s.birth_date > ?))))"
    # A section: linked and authorised, the section in use, and then by age.
    " OR (m.kind = 'section'"
    "   AND (CAST(c.sections AS TEXT) = '[]'"
    "   OR CAST(c.sections AS TEXT) LIKE '%\"' || m.section || '\"%')"
    "   AND EXISTS (SELECT 1 FROM relation r"
    "   WHERE r.person_id = mr.person_id AND r.student_id = s.id"
    "   AND r.active = ? AND r.authorised = ?"
    # Under 16: guardians always; others when every guardian approved.
    "   AND ((s.birth_date > ? AND (r.kind = 'guardian'"
    "   OR (r.kind IN ('self', 'parent', 'carer')"
    "   AND EXISTS (SELECT 1 FROM relation g WHERE g.student_id = s.id"
    "   AND g.kind = 'guardian' AND g.active = ?)"
    "   AND NOT EXISTS (SELECT 1 FROM relation g WHERE g.student_id = s.id"
    "   AND g.kind = 'guardian' AND g.active = ?"
    "   AND NOT EXISTS (SELECT 1 FROM approval a WHERE a.student_id = s.id"
    "   AND a.viewer_id = r.person_id AND a.section = m.section"
    "   AND a.approver_id = g.person_id)))))"
    # From 16: the student; guardians of 16 and 17 for the school's sections;
    # others when the student's own account approved.
    "   OR (s.birth_date <= ? AND (r.kind = 'self'"
    "   OR (r.kind = 'guardian' AND s.birth_date > ?"
    "   AND CAST(c.guardian_sections_until_18 AS TEXT)"
    "   LIKE '%\"' || m.section || '\"%')"
    "   OR (r.kind IN ('guardian', 'parent', 'carer') AND EXISTS ("
    "   SELECT 1 FROM approval a JOIN relation o ON o.person_id = a.approver_id"
    "   AND o.student_id = a.student_id"
    "   WHERE a.student_id = s.id AND a.viewer_id = r.person_id"
    "   AND a.section = m.section AND o.kind = 'self'"
    "   AND o.active = ? AND o.authorised = ?))))))))))"
)

_FROM = (
    " FROM message_recipient mr"
    " JOIN message m ON m.id = mr.message_id"
    " JOIN school c ON c.id = m.school_id"
    " LEFT JOIN student s ON s.id = m.student_id"
)

# The badge: one statement on the (person_id, deleted_at, read_at) index.
COUNT_UNREAD_SQL = (
    "SELECT COUNT(*) AS n"
    + _FROM
    + " WHERE mr.person_id = ? AND mr.deleted_at IS NULL AND mr.read_at IS NULL"
    + VISIBLE_SQL
)

_COLUMNS = (
    "SELECT m.id AS id, m.subject AS subject, m.created_at AS created_at,"
    " m.kind AS kind, m.section AS section, m.student_id AS student_id,"
    " m.sender_id AS sender_id, mr.id AS recipient_id, mr.read_at AS read_at,"
    " s.given_name AS student_given_name, s.family_name AS student_family_name,"
    " p.given_name AS sender_given_name, p.family_name AS sender_family_name"
)

# One page of the inbox, newest first; the child filter is 0 for all.
INBOX_PAGE_SQL = (
    _COLUMNS
    + _FROM
    + " LEFT JOIN person p ON p.id = m.sender_id"
    + " WHERE mr.person_id = ? AND mr.deleted_at IS NULL"
    + " AND (? = 0 OR m.student_id = ?)"
    + VISIBLE_SQL
    + " ORDER BY m.created_at DESC, m.id DESC LIMIT ? OFFSET ?"
)

OPEN_MESSAGE_SQL = (
    _COLUMNS
    + ", m.body AS body"
    + _FROM
    + " LEFT JOIN person p ON p.id = m.sender_id"
    + " WHERE mr.person_id = ? AND m.id = ? AND mr.deleted_at IS NULL"
    + VISIBLE_SQL
)


# The school's time zone decides a student's age. It is read once per
# process and forgotten when the school is saved; a time zone changed by
# another process's queryset update is seen after a restart, which is
# acceptable for a value that is set when a school is created.
_school_timezones: dict[int, str] = {}


@post_save(School)
async def _forget_timezone(sender, instance, created, using_db, update_fields):
    _school_timezones.pop(instance.id, None)


async def school_timezone(school_id: int) -> str:
    """Return a school's time zone, read once per process."""
    timezone = _school_timezones.get(school_id)
    if timezone is None:
        timezone = await School.filter(id=school_id).values_list("timezone", flat=True)
        timezone = timezone[0] if timezone else "Europe/Amsterdam"
        _school_timezones[school_id] = timezone
    return timezone


def born_on_or_before(today: date, years: int) -> date:
    """Return the last birth date of someone at least ``years`` old on ``today``.

    Those born on 29 February have their birthday on 1 March in other years
    (SPEC.md section 4), so the day before 1 March is the limit.
    """
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return date(today.year - years, 2, 28)


async def _visible_params(person: Person, now: datetime | None) -> tuple:
    today = local_today(now or utcnow(), await school_timezone(person.school_id))
    cut16 = sql.date_param(born_on_or_before(today, AGE_OF_CONSENT))
    cut18 = sql.date_param(born_on_or_before(today, AGE_OF_MAJORITY))
    role = person.staff_role
    return (
        True,
        role in ("admin", "care"),
        person.school_id,
        role == "mentor",
        person.school_id,
        True,
        True,
        cut16,
        True,
        True,
        cut16,
        True,
        True,
        cut16,
        cut18,
        True,
        True,
    )


async def count_unread(person: Person, now: datetime | None = None) -> int:
    """Return how many unread messages the person may read now (one statement)."""
    params = await _visible_params(person, now)
    rows = await sql.fetch(COUNT_UNREAD_SQL, person.id, *params)
    return int(rows[0]["n"])


@dataclass
class InboxPage:
    items: list
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def _item(row: dict) -> SimpleNamespace:
    item = SimpleNamespace(**row)
    item.created_at = sql.as_datetime(row["created_at"])
    item.read_at = sql.as_datetime(row["read_at"])
    item.student_name = (
        f"{row['student_given_name']} {row['student_family_name']}"
        if row["student_id"] is not None
        else ""
    )
    item.sender_name = (
        f"{row['sender_given_name'] or ''} {row['sender_family_name'] or ''}".strip()
        if row["sender_id"] is not None
        else ""
    )
    return item


async def inbox_page(
    person: Person,
    number: int = 1,
    student_id: int | None = None,
    now: datetime | None = None,
) -> InboxPage:
    """Return one page of the person's readable messages, newest first."""
    params = await _visible_params(person, now)
    child = student_id or 0
    rows = await sql.fetch(
        INBOX_PAGE_SQL,
        person.id,
        child,
        child,
        *params,
        PAGE_SIZE + 1,
        (number - 1) * PAGE_SIZE,
    )
    items = [_item(row) for row in rows[:PAGE_SIZE]]
    return InboxPage(items, number, len(rows) > PAGE_SIZE)


async def open_message(
    person: Person, message_id: int, now: datetime | None = None
) -> SimpleNamespace | None:
    """Return a message the person may read now, or None."""
    params = await _visible_params(person, now)
    rows = await sql.fetch(OPEN_MESSAGE_SQL, person.id, message_id, *params)
    return _item(rows[0]) if rows else None


async def mark_read(item: SimpleNamespace, now: datetime | None = None) -> None:
    """Set the read marker of a message opened with ``open_message``."""
    if item.read_at is None:
        now = now or utcnow()
        await MessageRecipient.filter(id=item.recipient_id, read_at=None).update(
            read_at=now
        )
        item.read_at = now


async def delete_for(
    person: Person, message_id: int, now: datetime | None = None
) -> bool:
    """Delete a message for this person only; False when they cannot read it."""
    item = await open_message(person, message_id, now)
    if item is None:
        return False
    await MessageRecipient.filter(id=item.recipient_id, person_id=person.id).update(
        deleted_at=now or utcnow()
    )
    return True


# ---------------------------------------------------------------- the badge

# The badge is the most requested URL: the session check and the count in
# one statement. Staff rights come from the person's row here, not from
# parameters; the rest of the condition is VISIBLE_SQL itself.
_BADGE_VISIBLE_SQL = (
    VISIBLE_SQL.replace("mr.person_id", "m.person_id")
    .replace(
        " (? AND s.school_id = ?)",
        " (p.staff_role IN ('admin', 'care') AND s.school_id = p.school_id)",
    )
    .replace(
        " OR (? AND s.school_id = ? AND EXISTS",
        " OR (p.staff_role = 'mentor' AND s.school_id = p.school_id AND EXISTS",
    )
)

# The unread messages are first counted per (student, kind, section), so the
# access rules run once per group, not once per message.
_BADGE_GROUPS = (
    " LEFT JOIN (SELECT mr.person_id AS person_id, g.school_id AS school_id,"
    " g.student_id AS student_id, g.kind AS kind, g.section AS section,"
    " COUNT(*) AS n FROM message_recipient mr"
    " JOIN message g ON g.id = mr.message_id"
    " WHERE mr.person_id = (SELECT y.person_id FROM session y WHERE y.token_hash = ?)"
    " AND mr.deleted_at IS NULL AND mr.read_at IS NULL"
    " GROUP BY mr.person_id, g.school_id, g.student_id, g.kind, g.section) m"
    " ON m.person_id = p.id"
    " LEFT JOIN school c ON c.id = m.school_id"
    " LEFT JOIN student s ON s.id = m.student_id"
)
_BADGE_COLUMNS = (
    "x.id, x.created_at, x.last_seen_at, x.pending_2fa, p.id, p.school_id,"
    " p.staff_role, p.active, p.can_sign_in, p.language, ps.timezone"
)
_BADGE_SELECT = (
    "SELECT x.id AS session_id, x.created_at AS created_at,"
    " x.last_seen_at AS last_seen_at, x.pending_2fa AS pending_2fa,"
    " p.id AS person_id, p.school_id AS school_id, p.staff_role AS staff_role,"
    " p.active AS active, p.can_sign_in AS can_sign_in, p.language AS language,"
    " ps.timezone AS timezone,"
)
_SESSION_TIME = Session._meta.fields_map["last_seen_at"]
BADGE_SQL = (
    _BADGE_SELECT
    + " COALESCE(SUM(CASE WHEN TRUE"
    + _BADGE_VISIBLE_SQL
    + " THEN m.n ELSE 0 END), 0) AS n"
    + " FROM session x JOIN person p ON p.id = x.person_id"
    + " JOIN school ps ON ps.id = p.school_id"
    + _BADGE_GROUPS
    + " WHERE x.token_hash = ? GROUP BY "
    + _BADGE_COLUMNS
)


# The time zone the badge statement assumes; a person of a school in another
# zone costs one more statement, and the guess follows the last one seen.
_badge_timezone = "Europe/Amsterdam"


@dataclass(frozen=True)
class Badge:
    person_id: int
    language: str
    unread: int
    # Signed in with the password, the second step still to come.
    pending_2fa: bool = False


async def badge_for_token(token: str | None, now: datetime | None = None):
    """Return the unread count for a session token, or None when signed out.

    Checks the session as ``models.sessions.load_session`` does, without
    touching it: polling must not keep an idle session alive.
    """
    global _badge_timezone
    if not token or len(token) > 100:
        return None
    now = now or utcnow()
    zone = _badge_timezone
    today = local_today(now, zone)
    cut16 = sql.date_param(born_on_or_before(today, AGE_OF_CONSENT))
    cut18 = sql.date_param(born_on_or_before(today, AGE_OF_MAJORITY))
    rows = await sql.fetch(
        BADGE_SQL,
        True,
        True,
        True,
        cut16,
        True,
        True,
        cut16,
        True,
        True,
        cut16,
        cut18,
        True,
        True,
        token_hash(token),
        token_hash(token),
    )
    if not rows:
        return None
    row = rows[0]
    session = Session(
        created_at=_SESSION_TIME.to_python_value(row["created_at"]),
        last_seen_at=_SESSION_TIME.to_python_value(row["last_seen_at"]),
    )
    if expired(session, now) or not row["active"] or not row["can_sign_in"]:
        await Session.filter(id=row["session_id"]).delete()
        return None
    if row["pending_2fa"]:
        return Badge(row["person_id"], row["language"], 0, pending_2fa=True)
    unread = int(row["n"])
    if row["timezone"] != zone:
        _badge_timezone = row["timezone"]
        person = SimpleNamespace(
            id=row["person_id"],
            school_id=row["school_id"],
            staff_role=row["staff_role"],
        )
        unread = await count_unread(person, now)
    return Badge(row["person_id"], row["language"], unread)
