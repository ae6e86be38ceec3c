"""Sharing: the deciders' approvals and the Instellen toegang grid.

``models.access`` decides who sees what; this module records the approvals it
reads, and lays out, for one student, who may be given access to which
section and who has approved it. A change of an approval and its row in the
access log commit together, in one transaction.

The grid loads in a fixed number of statements, whatever the number of
persons and sections: the household (everyone linked, with names) and the
student's approvals, one each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from models import sql
from models.access import (
    AGE_OF_CONSENT,
    AGE_OF_MAJORITY,
    Family,
    deciders,
    local_today,
    section_visible,
    turns_16_on,
    utcnow,
)
from models.catalog import SECTION_TITLES, known_language, lazy, translate
from models.entities import (
    CARER,
    GUARDIAN,
    PARENT,
    SELF,
    AccessLog,
    Person,
    School,
    Student,
)

logger = logging.getLogger(__name__)

APPROVE = "approve"
WITHDRAW = "withdraw"
WANTED_STATES: tuple[str, ...] = (APPROVE, WITHDRAW)

# Who can be given access: under 16 the guardians decide for the others; from
# 16 the student decides for everyone else, guardians included.
GRANTABLE_UNDER_16: tuple[str, ...] = (SELF, PARENT, CARER)
GRANTABLE_FROM_16: tuple[str, ...] = (GUARDIAN, PARENT, CARER)
ROW_ORDER: dict[str, int] = {SELF: 0, GUARDIAN: 1, PARENT: 2, CARER: 3}

# Cell states as a decider sees them (SPEC.md section 4).
SHARED = "shared"  # every decider approved: the person sees it (green)
TICKED = "ticked"  # this decider approved, not everyone has (red)
WAITING = "waiting"  # others approved, this decider has not (neutral)
OPEN = "open"  # this decider has not approved, nor has anyone else (neutral)


class NotAllowed(Exception):
    """Raised when a change is not this person's to make; the web says 404."""


# ---------------------------------------------------------------- the household


@dataclass(frozen=True)
class Member:
    """A person linked to the student, as the grid names them."""

    id: int
    name: str
    kind: str
    authorised: bool
    can_sign_in: bool
    language: str = "nl"

    @property
    def through_school(self) -> bool:
        """True for someone who cannot use the portal and decides on paper."""
        return not (self.authorised and self.can_sign_in)


@dataclass(frozen=True)
class Household:
    """One student at one moment: the rules' Family and everyone linked."""

    student: Student
    school: School
    family: Family
    members: dict[int, Member]

    @property
    def decider_ids(self) -> tuple[int, ...]:
        """Return the deciders, ordered by name."""
        ids = deciders(self.family)
        return tuple(m.id for m in self._by_name() if m.id in ids)

    def grantable(self) -> list[Member]:
        """Return the persons who may be given access, in row order."""
        if self.family.age is None:
            return []
        kinds = (
            GRANTABLE_FROM_16
            if self.family.age >= AGE_OF_CONSENT
            else GRANTABLE_UNDER_16
        )
        rows = [m for m in self._by_name() if m.kind in kinds and m.authorised]
        return sorted(rows, key=lambda m: ROW_ORDER[m.kind])

    def member(self, person_id: int) -> Member | None:
        return self.members.get(person_id)

    def name(self, person_id: int) -> str:
        member = self.members.get(person_id)
        return member.name if member else ""

    def kept_for_guardians(self, kind: str, section: str) -> bool:
        """True where the school keeps a section visible to guardians until 18."""
        age = self.family.age
        return (
            kind == GUARDIAN
            and age is not None
            and AGE_OF_CONSENT <= age < AGE_OF_MAJORITY
            and section in self.family.guardian_sections_until_18
        )

    def _by_name(self) -> list[Member]:
        return sorted(self.members.values(), key=lambda m: (m.name.lower(), m.id))


# Everyone linked to the student, with what the grid shows of them. Only
# active persons: an inactive account is neither a row nor a decider's name.
_MEMBERS_SQL = (
    "SELECT r.person_id AS id, r.kind AS kind, r.authorised AS authorised,"
    " p.given_name AS given_name, p.family_name AS family_name,"
    " p.can_sign_in AS can_sign_in, p.email AS email, p.language AS language"
    " FROM relation r JOIN person p ON p.id = r.person_id"
    " WHERE r.student_id = ? AND r.active = ? AND p.active = ?"
)


async def load_household(student: Student, school: School, family: Family):
    """Load everyone linked to the student, in one statement."""
    rows = await sql.fetch(_MEMBERS_SQL, student.id, True, True)
    members = {}
    for row in rows:
        name = f"{row['given_name']} {row['family_name']}".strip()
        members[row["id"]] = Member(
            id=row["id"],
            name=name,
            kind=row["kind"],
            authorised=sql.as_bool(row["authorised"]),
            can_sign_in=sql.as_bool(row["can_sign_in"]) and bool(row["email"]),
            language=known_language(row["language"]),
        )
    return Household(student, school, family, members)


# ---------------------------------------------------------------- the grid


@dataclass(frozen=True)
class Cell:
    """One person and one section: who approved, who is awaited, who sees it.

    ``mine`` is this decider's own approval, or None when the cell is seen by
    someone who does not decide (staff, or the person it is about).
    """

    viewer_id: int
    kind: str
    section: str
    approver_ids: tuple[int, ...]
    awaited_ids: tuple[int, ...]
    paper_ids: frozenset[int]
    visible: bool
    kept: bool
    mine: bool | None
    seen_by: int | None

    @property
    def state(self) -> str:
        if self.visible:
            return SHARED
        if self.mine:
            return TICKED
        if self.approver_ids:
            return WAITING
        return OPEN

    @property
    def others_awaited(self) -> tuple[int, ...]:
        """The deciders other than the one looking who have not approved."""
        return tuple(i for i in self.awaited_ids if i != self.seen_by)

    @property
    def waits_for_me(self) -> bool:
        """True when others approved and only this decider's tick is missing."""
        return self.mine is False and bool(self.approver_ids)

    @property
    def wanted(self) -> str:
        """The state a press of this cell's button asks for."""
        return WITHDRAW if self.mine else APPROVE


@dataclass(frozen=True)
class Row:
    member: Member
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Grid:
    household: Household
    sections: tuple[str, ...]
    rows: tuple[Row, ...]
    seen_by: int | None

    @property
    def decider_ids(self) -> tuple[int, ...]:
        return self.household.decider_ids


# (viewer, section) -> {approver: recorded_by}
Approvals = dict[tuple[int, str], dict[int, int | None]]

_APPROVALS_SQL = (
    "SELECT viewer_id, section, approver_id, recorded_by_id"
    " FROM approval WHERE student_id = ?"
)
_CELL_APPROVALS_SQL = (
    "SELECT viewer_id, section, approver_id, recorded_by_id"
    " FROM approval WHERE student_id = ? AND viewer_id = ? AND section = ?"
)


def _collect(rows: list[dict]) -> Approvals:
    given: Approvals = {}
    for row in rows:
        key = (row["viewer_id"], row["section"])
        given.setdefault(key, {})[row["approver_id"]] = row["recorded_by_id"]
    return given


def build_cell(
    household: Household,
    member: Member,
    section: str,
    given: dict[int, int | None],
    seen_by: int | None,
) -> Cell:
    """Lay out one cell; whether the person sees it is the rules' answer."""
    decider_ids = household.decider_ids
    pairs = [(approver, section) for approver in given]
    visible = section_visible(household.family, member.id, member.kind, section, pairs)
    mine = (seen_by in given) if seen_by in decider_ids else None
    return Cell(
        viewer_id=member.id,
        kind=member.kind,
        section=section,
        approver_ids=tuple(d for d in decider_ids if d in given),
        awaited_ids=tuple(d for d in decider_ids if d not in given),
        paper_ids=frozenset(
            d for d in decider_ids if d in given and given[d] is not None
        ),
        visible=visible,
        kept=household.kept_for_guardians(member.kind, section),
        mine=mine,
        seen_by=seen_by,
    )


async def load_grid(
    household: Household, seen_by: int | None, only: int | None = None
) -> Grid:
    """Return the grid as ``seen_by`` sees it, in one statement.

    ``only`` limits the rows to one person: what is shared with them.
    """
    given = _collect(await sql.fetch(_APPROVALS_SQL, household.student.id))
    sections = household.family.sections_in_use
    members = household.grantable()
    if only is not None:
        members = [m for m in members if m.id == only]
    rows = tuple(
        Row(
            member,
            tuple(
                build_cell(household, member, s, given.get((member.id, s), {}), seen_by)
                for s in sections
            ),
        )
        for member in members
    )
    return Grid(household, tuple(sections), rows, seen_by)


async def load_cell(
    household: Household, viewer_id: int, section: str, seen_by: int | None
) -> Cell:
    """Return one cell as it is in the database now, in one statement."""
    member = _grantable_member(household, viewer_id, section)
    rows = await sql.fetch(
        _CELL_APPROVALS_SQL, household.student.id, viewer_id, section
    )
    given = _collect(rows).get((viewer_id, section), {})
    return build_cell(household, member, section, given, seen_by)


def decides(family: Family, person_id: int) -> bool:
    """True when the person decides on sharing for this student now."""
    return person_id in deciders(family)


# ---------------------------------------------------------------- changes


@dataclass(frozen=True)
class Change:
    """What one request did: whether it wrote anything, and the cell after."""

    changed: bool
    cell: Cell


def _grantable_member(household: Household, viewer_id: int, section: str) -> Member:
    if section not in household.family.sections_in_use:
        raise NotAllowed("section not in use")
    for member in household.grantable():
        if member.id == viewer_id:
            return member
    raise NotAllowed("not a person who can be given access")


_INSERT_APPROVAL = (
    "INSERT INTO approval (student_id, viewer_id, section, approver_id,"
    " recorded_by_id, created_at) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING RETURNING id"
)
_DELETE_APPROVAL = (
    "DELETE FROM approval WHERE student_id = ? AND viewer_id = ? AND section = ?"
    " AND approver_id = ? RETURNING id"
)
_INSERT_LOG = (
    "INSERT INTO access_log (at, person_id, student_id, section, action, role,"
    " detail) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# PostgreSQL: the change and its log row in one statement, the log row
# inserted from the changed row, so an unchanged approval writes none.
_APPROVE_AND_LOG = (
    "WITH changed AS (INSERT INTO approval (student_id, viewer_id, section,"
    " approver_id, recorded_by_id, created_at) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING RETURNING id)"
    " INSERT INTO access_log (at, person_id, student_id, section, action, role,"
    " detail) SELECT ?, ?, ?, ?, ?, ?, ? FROM changed RETURNING id"
)
_WITHDRAW_AND_LOG = (
    "WITH changed AS (DELETE FROM approval WHERE student_id = ? AND viewer_id = ?"
    " AND section = ? AND approver_id = ? RETURNING id)"
    " INSERT INTO access_log (at, person_id, student_id, section, action, role,"
    " detail) SELECT ?, ?, ?, ?, ?, ?, ? FROM changed RETURNING id"
)


def change_detail(viewer_id: int, approver_id: int, paper: bool) -> str:
    """Say in the log row whose approval changed for whom; ids only."""
    detail = f"viewer={viewer_id} approver={approver_id}"
    return detail + " paper" if paper else detail


def parse_detail(detail: str) -> dict[str, int | bool]:
    """Read back what ``change_detail`` wrote; anything else gives {}."""
    parsed: dict[str, int | bool] = {}
    for part in detail.split():
        key, _, value = part.partition("=")
        if key == "paper" and not value:
            parsed["paper"] = True
        elif key in ("viewer", "approver") and value.isdigit():
            parsed[key] = int(value)
    return parsed


async def _write_change(wanted: str, change: tuple, log: tuple) -> bool:
    """Change one approval and write its log row: both or neither.

    On PostgreSQL one statement does both, which saves a transaction's
    round trips on the busiest write; elsewhere a transaction holds the two.
    Returns whether the approval changed.
    """
    if sql.on_postgres():
        both = _APPROVE_AND_LOG if wanted == APPROVE else _WITHDRAW_AND_LOG
        return bool(await sql.fetch(both, *change, *log))
    async with in_transaction():
        written = await sql.fetch(
            _INSERT_APPROVAL if wanted == APPROVE else _DELETE_APPROVAL, *change
        )
        if written:
            await sql.execute(_INSERT_LOG, *log)
    return bool(written)


async def set_approval(
    household: Household,
    *,
    decider_id: int,
    viewer_id: int,
    section: str,
    wanted: str,
    actor_id: int,
    role: str,
    recorded_by_id: int | None = None,
    now: datetime | None = None,
) -> Change:
    """Bring one decider's approval to the wanted state, and log it if it changed.

    The request names the state it wants, never a toggle, so a repeat or a
    double click changes nothing and writes no log row. The approval and its
    log row commit together or not at all (SECURITY-BASELINE A40, R5).
    """
    if wanted not in WANTED_STATES:
        raise ValueError(f"wanted must be one of {WANTED_STATES}, not {wanted!r}")
    if not decides(household.family, decider_id):
        raise NotAllowed("not a decider")
    _grantable_member(household, viewer_id, section)
    now = now or utcnow()
    student_id = household.student.id

    if wanted == APPROVE:
        change = (student_id, viewer_id, section, decider_id, recorded_by_id, now)
    else:
        change = (student_id, viewer_id, section, decider_id)
    detail = change_detail(viewer_id, decider_id, recorded_by_id is not None)
    log = (now, actor_id, student_id, section, wanted, role, detail)
    try:
        changed = await _write_change(wanted, change, log)
    except IntegrityError:
        # A person or student removed under our feet: nothing was written;
        # answer with what the database holds now.
        logger.warning(
            "approval change refused by the database student=%s viewer=%s",
            student_id,
            viewer_id,
        )
        changed = False

    if changed:
        logger.info(
            "approval %s student=%s viewer=%s approver=%s",
            wanted,
            student_id,
            viewer_id,
            decider_id,
        )
    # Seen by the decider (or, for staff on paper, as that decider sees it).
    cell = await load_cell(household, viewer_id, section, decider_id)
    if changed and wanted == APPROVE and cell.others_awaited:
        try:
            await tell_approval_awaited(
                household, cell, decider_id, recorded_by_id is not None, now
            )
        except Exception:
            # The approval stands; a notice that failed is no reason to
            # answer the decider with an error.
            logger.exception("approval notice failed student=%s", student_id)
    return Change(changed, cell)


# ---------------------------------------------------------------- the access log

LOG_PAGE_SIZE = 50


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    person_id: int | None
    person_name: str
    student_id: int
    student_name: str
    section: str
    action: str
    role: str
    # For a change of an approval: for whom, whose approval, given on paper.
    viewer_name: str = ""
    approver_name: str = ""
    paper: bool = False


@dataclass(frozen=True)
class LogPage:
    entries: list[LogEntry]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def _full_name(given: str | None, family: str | None) -> str:
    return f"{given or ''} {family or ''}".strip()


async def read_log(
    students,
    *,
    student_id: int | None = None,
    person_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    number: int = 1,
) -> LogPage:
    """Return one page of the access log, newest first, in two statements.

    ``students`` is a queryset of the students the reader may see (the
    access rules' answer); nothing of any other student is read.
    """
    query = AccessLog.filter(student_id__in=Subquery(students.values("id")))
    if student_id is not None:
        query = query.filter(student_id=student_id)
    if person_id is not None:
        query = query.filter(person_id=person_id)
    if since is not None:
        query = query.filter(at__gte=since)
    if until is not None:
        query = query.filter(at__lt=until)
    rows = (
        await query.order_by("-at", "-id")
        .offset((number - 1) * LOG_PAGE_SIZE)
        .limit(LOG_PAGE_SIZE + 1)
        .values(
            "at",
            "section",
            "action",
            "role",
            "detail",
            "person_id",
            "student_id",
            "person__given_name",
            "person__family_name",
            "student__given_name",
            "student__family_name",
        )
    )
    rows = rows[: LOG_PAGE_SIZE + 1]
    details = {i: parse_detail(row["detail"]) for i, row in enumerate(rows)}
    named = {
        pid
        for detail in details.values()
        for key in ("viewer", "approver")
        if isinstance(pid := detail.get(key), int)
    }
    names = {}
    if named:
        people = await Person.filter(id__in=named).values(
            "id", "given_name", "family_name"
        )
        names = {p["id"]: _full_name(p["given_name"], p["family_name"]) for p in people}

    entries = []
    for i, row in enumerate(rows[:LOG_PAGE_SIZE]):
        detail = details[i]
        entries.append(
            LogEntry(
                at=sql.as_datetime(row["at"]),
                person_id=row["person_id"],
                person_name=_full_name(
                    row["person__given_name"], row["person__family_name"]
                ),
                student_id=row["student_id"],
                student_name=_full_name(
                    row["student__given_name"], row["student__family_name"]
                ),
                section=row["section"],
                action=row["action"],
                role=row["role"],
                viewer_name=names.get(detail.get("viewer"), ""),
                approver_name=names.get(detail.get("approver"), ""),
                paper=bool(detail.get("paper")),
            )
        )
    return LogPage(entries, number, len(rows) > LOG_PAGE_SIZE)


# ---------------------------------------------------------------- notices

# Notices reach people through the Postkantoor (models.messages), as kind
# "sharing": the deciders and the student. A message is stored in the words
# of its recipients' language, so each language gets its own message; the
# texts are translated from web/translations like the pages.

NOTICE_BEFORE_16 = "sharing_before_16"
NOTICE_BIRTHDAY_16 = "sharing_birthday_16"
DAYS_BEFORE_16 = 30
# A notice is sent on the first run on or after its date, and no later than
# this: a student who turned 16 before Inzage ran is not told "today".
NOTICE_GRACE_DAYS = 30


AWAITED_SUBJECT = lazy("Your approval is awaited")
AWAITED_BODY = lazy(
    "%(approver)s has approved that %(viewer)s may see %(section)s of"
    " %(student)s's file. It is shared only when every guardian has approved."
    " Open Access settings in the portal to decide."
)
AWAITED_ON_PAPER = lazy("%(approver)s (on paper, recorded by the school)")
BEFORE_16_SUBJECT = lazy("%(student)s turns 16 on %(date)s")
BEFORE_16_BODY = lazy(
    "On %(date)s %(student)s turns 16. From that day %(student)s decides who"
    " sees which part of the file. The approvals the guardians gave stop"
    " counting: guardians, parents without authority and care professionals"
    " then see only what %(student)s shares with them."
)
BEFORE_16_KEPT = lazy(
    "The school keeps these sections visible to guardians until 18: %(sections)s."
)
BIRTHDAY_SUBJECT = lazy("From today you decide who sees your file")
BIRTHDAY_BODY = lazy(
    "Happy birthday, %(student)s! Now that you are 16, you decide who sees which"
    " part of your file. Your guardians, a parent without authority and care"
    " professionals see only what you share with them. Open Access settings in"
    " the portal to choose."
)


def _by_language(persons) -> dict[str, list]:
    groups: dict[str, list] = {}
    for person in persons:
        groups.setdefault(known_language(person.language), []).append(person)
    return groups


async def _send(**message) -> None:
    """Hand a notice to the Postkantoor; imported late, as a small adapter."""
    from models.messages import send_message

    await send_message(**message)


async def tell_approval_awaited(
    household: Household, cell: Cell, approver_id: int, paper: bool, now=None
) -> int:
    """Tell the deciders who have not approved a cell that theirs is awaited.

    Once per cell, approver and language: a repeat after a withdrawal finds
    the first message by its idempotency key. Returns how many were told.
    """
    from models.messages import EVENT_APPROVAL_AWAITED, already_sent

    awaited = [pid for pid in cell.awaited_ids if pid != approver_id]
    if not awaited:
        return 0
    student = household.student
    key = f"awaited:{student.id}:{cell.viewer_id}:{cell.section}:{approver_id}"
    # Most approvals repeat a notice already sent (approve, withdraw, approve
    # again): one query settles that, before any person is loaded.
    languages = {
        household.members[pid].language for pid in awaited if pid in household.members
    }
    wanted_keys = {f"{key}:{language}" for language in languages}
    if wanted_keys and wanted_keys <= await already_sent(
        household.school, None, wanted_keys
    ):
        return 0
    persons = await Person.filter(id__in=awaited, active=True)
    told = 0
    for language, group in _by_language(persons).items():
        approver = household.name(approver_id)
        if paper:
            approver = translate(language, AWAITED_ON_PAPER, approver=approver)
        section = translate(language, SECTION_TITLES[cell.section])
        await _send(
            school=household.school,
            sender=None,
            recipients=group,
            student=student,
            kind="sharing",
            subject=translate(language, AWAITED_SUBJECT),
            body=translate(
                language,
                AWAITED_BODY,
                approver=approver,
                viewer=household.name(cell.viewer_id),
                section=section,
                student=student.given_name,
            ),
            idempotency_key=f"{key}:{language}",
            now=now,
            event=EVENT_APPROVAL_AWAITED,
        )
        told += len(group)
    return told


def _due_notice(born: date, today: date) -> tuple[str, date] | None:
    """Return the turning-16 notice due for a birth date today, if any."""
    birthday = turns_16_on(born)
    before = birthday - timedelta(days=DAYS_BEFORE_16)
    if before <= today < birthday:
        return NOTICE_BEFORE_16, before
    if birthday <= today < birthday + timedelta(days=NOTICE_GRACE_DAYS):
        return NOTICE_BIRTHDAY_16, birthday
    return None


async def _notice_recipients(student: Student, kind: str) -> list[Person]:
    kinds = (SELF,) if kind == NOTICE_BIRTHDAY_16 else (SELF, GUARDIAN)
    return await Person.filter(
        relations__student_id=student.id,
        relations__kind__in=kinds,
        relations__active=True,
        active=True,
    ).order_by("id")


async def _send_turning_16(
    student: Student, school: School, kind: str, due_on: date, now: datetime
) -> bool:
    """Claim and send one turning-16 notice in one transaction; False if sent."""
    birthday = turns_16_on(student.birth_date)
    async with in_transaction():
        claimed = await sql.fetch(
            "INSERT INTO student_notice (student_id, kind, due_on, sent_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            student.id,
            kind,
            sql.date_param(due_on),
            now,
        )
        if not claimed:
            return False
        recipients = await _notice_recipients(student, kind)
        kept = [
            s
            for s in school.sections_in_use()
            if s in school.guardian_sections_until_18
        ]
        for language, group in _by_language(recipients).items():
            names = dict(student=student.given_name, date=birthday.strftime("%d-%m-%Y"))
            if kind == NOTICE_BEFORE_16:
                subject = translate(language, BEFORE_16_SUBJECT, **names)
                body = translate(language, BEFORE_16_BODY, **names)
                if kept:
                    sections = ", ".join(
                        translate(language, SECTION_TITLES[s]) for s in kept
                    )
                    body += " " + translate(language, BEFORE_16_KEPT, sections=sections)
            else:
                subject = translate(language, BIRTHDAY_SUBJECT)
                body = translate(language, BIRTHDAY_BODY, **names)
            await _send(
                school=school,
                sender=None,
                recipients=group,
                student=student,
                kind="sharing",
                subject=subject,
                body=body,
                idempotency_key=f"{kind}:{student.id}:{due_on}:{language}"[:64],
                now=now,
            )
    logger.info("notice %s sent student=%s", kind, student.id)
    return True


async def send_due_notices(today: date | None = None, now=None) -> int:
    """Send every turning-16 notice that is due; return how many were sent.

    ``today`` is the date in each school's time zone (default: now there).
    Safe to run twice: a notice is claimed once per student, kind and date.
    """
    now = now or utcnow()
    sent = 0
    for school in await School.all().order_by("id"):
        day = today or local_today(now, school.timezone)
        if today is not None:
            # The rules of who may receive judge at the moment the day stands for.
            now = datetime.combine(today, time(12), ZoneInfo(school.timezone))
        # Birthdays from the grace period back to 30 days ahead, with a day
        # to spare either side for 29 February.
        earliest = day - timedelta(days=NOTICE_GRACE_DAYS + 1)
        latest = day + timedelta(days=DAYS_BEFORE_16 + 1)
        students = await Student.filter(
            school_id=school.id,
            active=True,
            birth_date__gte=_years_before(earliest, AGE_OF_CONSENT),
            birth_date__lte=_years_before(latest, AGE_OF_CONSENT),
        ).order_by("id")
        for student in students:
            due = _due_notice(student.birth_date, day)
            if due is not None:
                sent += await _send_turning_16(student, school, *due, now)
    return sent


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return date(day.year - years, 2, 28)


__all__ = [
    "APPROVE",
    "WITHDRAW",
    "Cell",
    "Change",
    "Grid",
    "Household",
    "Member",
    "NotAllowed",
    "build_cell",
    "decides",
    "load_cell",
    "load_grid",
    "load_household",
    "parse_detail",
    "read_log",
    "send_due_notices",
    "set_approval",
    "tell_approval_awaited",
]
