"""Who may see what: the access rules of SPEC.md section 4, in one place.

Every view, fragment, download, task and export that shows student data asks
this module. The pure functions decide; the async helpers load what they need
in a fixed number of queries, whatever the number of records or sections.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from models import sql
from models.entities import (
    CARER,
    GUARDIAN,
    PARENT,
    SELF,
    Person,
    Relation,
    School,
    Student,
)
from models.sql import model_from_row

AGE_OF_CONSENT = 16
AGE_OF_MAJORITY = 18


def local_today(now_utc: datetime, timezone: str) -> date:
    """Return the calendar date at ``now_utc`` in the school's time zone."""
    return now_utc.astimezone(ZoneInfo(timezone)).date()


def birthday_in(year: int, born: date) -> date:
    """Return the birthday in ``year``; 29 February falls on 1 March otherwise."""
    try:
        return born.replace(year=year)
    except ValueError:
        return date(year, 3, 1)


def age_on(born: date | None, today: date) -> int | None:
    """Return the age in whole years on ``today``, or None without a birth date."""
    if born is None:
        return None
    age = today.year - born.year
    if today < birthday_in(today.year, born):
        age -= 1
    return age


def turns_16_on(born: date) -> date:
    return birthday_in(born.year + AGE_OF_CONSENT, born)


@dataclass(frozen=True)
class Family:
    """What the rules need to know about one student at one moment."""

    age: int | None
    sections_in_use: tuple[str, ...]
    guardian_ids: frozenset[int]
    self_ids: frozenset[int]
    guardian_sections_until_18: frozenset[str] = frozenset()


def section_visible(
    family: Family,
    viewer_id: int,
    kind: str,
    section: str,
    approvals: Iterable[tuple[int, str]],
) -> bool:
    """Decide whether a linked, authorised viewer sees one section.

    ``approvals`` holds (approver id, section) pairs given for this viewer and
    this student. Fail closed: an unknown kind, a section out of use or a
    student without a birth date shows nothing.
    """
    if section not in family.sections_in_use or family.age is None:
        return False
    given = {(approver, sec) for approver, sec in approvals if sec == section}

    if family.age < AGE_OF_CONSENT:
        if kind == GUARDIAN:
            return True
        if kind not in (SELF, PARENT, CARER) or not family.guardian_ids:
            return False
        return all((g, section) in given for g in family.guardian_ids)

    if kind == SELF:
        return True
    if kind not in (GUARDIAN, PARENT, CARER):
        return False
    if (
        kind == GUARDIAN
        and family.age < AGE_OF_MAJORITY
        and section in family.guardian_sections_until_18
    ):
        return True
    return any((s, section) in given for s in family.self_ids)


def visible_sections(
    family: Family, viewer_id: int, kind: str, approvals: Iterable[tuple[int, str]]
) -> list[str]:
    """Return the sections, in menu order, that the viewer sees."""
    pairs = list(approvals)
    return [
        sec
        for sec in family.sections_in_use
        if section_visible(family, viewer_id, kind, sec, pairs)
    ]


def deciders(family: Family) -> frozenset[int]:
    """Return who decides on sharing: guardians under 16, the student from 16."""
    if family.age is None:
        return frozenset()
    return family.self_ids if family.age >= AGE_OF_CONSENT else family.guardian_ids


def staff_sees_student(
    staff_role: str | None,
    staff_id: int,
    staff_school_id: int,
    student_school_id: int,
    homeroom_mentor_id: int | None,
) -> bool:
    """Decide whether a staff member may open a student's file.

    Staff rights follow the role and never cross schools: admin and care see
    every student of their school, a mentor those of their homeroom classes.
    """
    if staff_school_id != student_school_id:
        return False
    if staff_role in ("admin", "care"):
        return True
    if staff_role == "mentor":
        return homeroom_mentor_id is not None and homeroom_mentor_id == staff_id
    return False


# ---------------------------------------------------------------- loaders


@dataclass(frozen=True)
class PortalView:
    """A person's view of one student in the family part of the portal."""

    student: Student
    school: School
    kind: str
    family: Family
    sections: tuple[str, ...]
    # The person's children (id, given name) for the switcher, by name.
    children: tuple = ()

    def sees(self, section: str) -> bool:
        return section in self.sections


async def load_family(student: Student, school: School, now_utc: datetime) -> Family:
    """Load the guardians and the student's own accounts in one query."""
    links = await Relation.filter(
        student_id=student.id, kind__in=(GUARDIAN, SELF), active=True
    ).values_list("person_id", "kind", "authorised")
    guardians = frozenset(pid for pid, kind, _ in links if kind == GUARDIAN)
    # Only an authorised account of the student can give approvals.
    selves = frozenset(pid for pid, kind, ok in links if kind == SELF and ok)
    today = local_today(now_utc, school.timezone)
    return Family(
        age=age_on(student.birth_date, today),
        sections_in_use=tuple(school.sections_in_use()),
        guardian_ids=guardians,
        self_ids=selves,
        guardian_sections_until_18=frozenset(school.guardian_sections_until_18 or ()),
    )


# The viewer's relation with its student and school, in one row. The column
# lists name every column of both tables (a test holds them to the models).
# ``{viewer}`` stands for the viewer's id: a parameter, or, in the statement
# that reads the session too, the session's person (portal_view_statement).
VIEW_SQL = (
    "SELECT r.kind AS kind,"
    " s.id AS s_id, s.school_id AS s_school_id, s.given_name AS s_given_name,"
    " s.family_name AS s_family_name, s.birth_date AS s_birth_date,"
    " s.homeroom_id AS s_homeroom_id, s.address AS s_address, s.phone AS s_phone,"
    " s.email AS s_email, s.sourced_id AS s_sourced_id, s.active AS s_active,"
    " s.staff_locked AS s_staff_locked, s.created_at AS s_created_at,"
    " c.id AS c_id, c.code AS c_code, c.name AS c_name, c.timezone AS c_timezone,"
    " c.sections AS c_sections,"
    " c.guardian_sections_until_18 AS c_guardian_sections_until_18,"
    " c.require_2fa AS c_require_2fa, c.sourced_id AS c_sourced_id,"
    " c.api_key_hash AS c_api_key_hash,"
    " c.created_at AS c_created_at"
    " FROM relation r"
    " JOIN student s ON s.id = r.student_id"
    " JOIN school c ON c.id = s.school_id"
    " JOIN person p ON p.id = r.person_id"
    " WHERE r.person_id = {viewer} AND r.student_id = ?"
    " AND r.authorised = ? AND r.active = ? AND s.active = ? AND p.active = ?"
)

# Everything else the rules and the page need, in one statement: the
# student's guardians and own accounts, the approvals given for this viewer,
# and the viewer's children for the switcher.
_FAMILY_SQL = (
    "SELECT 'link' AS tag, person_id AS ref, kind AS label, authorised AS flag"
    " FROM relation WHERE student_id = ? AND active = ? AND kind IN (?, ?)"
    " UNION ALL"
    " SELECT 'approval', approver_id, section, NULL"
    " FROM approval WHERE student_id = ? AND viewer_id = {viewer}"
    " UNION ALL"
    " SELECT 'child', s.id, s.given_name, NULL"
    " FROM relation r JOIN student s ON s.id = r.student_id"
    " WHERE r.person_id = {viewer} AND r.authorised = ? AND r.active = ?"
    " AND s.active = ?"
)


def portal_view_statement(viewer: str = "?") -> str:
    """Return the statement of a portal view, the viewer named by ``viewer``.

    The two statements above in one: the viewer's row, repeated beside each
    row of the family (a left join, so the viewer's row stands even without
    family rows). ``viewer`` is ``?`` (a parameter) or a constant sub-select;
    every value is a parameter (portal_view_params gives them in order).
    """
    return (
        f"SELECT v.*, f.tag, f.ref, f.label, f.flag FROM ({VIEW_SQL}) v"  # noqa: S608  # nosec B608
        f" LEFT JOIN ({_FAMILY_SQL}) f ON 1 = 1"
    ).replace("{viewer}", viewer)


def portal_view_params(student_id: int, person_id: int | None = None) -> tuple:
    """Return the values of portal_view_statement, in order; without
    ``person_id`` for a statement that names the viewer otherwise."""
    me = () if person_id is None else (person_id,)
    return (
        *(*me, student_id, True, True, True, True),
        *(student_id, True, GUARDIAN, SELF, student_id, *me),
        *(*me, True, True, True),
    )


_PORTAL_VIEW_SQL = portal_view_statement()


@dataclass(frozen=True)
class Child:
    id: int
    given_name: str


async def portal_view(
    person_id: int, student_id: int, now_utc: datetime
) -> PortalView | None:
    """Return what a person sees of a student, or None when they see nothing.

    One statement, whatever the number of records, sections or approvals.
    """
    rows = await sql.fetch(_PORTAL_VIEW_SQL, *portal_view_params(student_id, person_id))
    return portal_view_from_rows(rows, person_id, now_utc)


def portal_view_from_rows(
    rows: list, person_id: int, now_utc: datetime
) -> PortalView | None:
    """Decide a portal view from the rows of portal_view_statement.

    No row, or a row without the viewer's relation (the left join of a
    statement that read the session first), means the person sees nothing.
    """
    if not rows or rows[0]["kind"] is None:
        return None
    row = rows[0]
    student = model_from_row(Student, row, "s")
    school = model_from_row(School, row, "c")

    guardians, selves, approvals, children = set(), set(), [], []
    for item in rows:
        tag, ref, label = item["tag"], item["ref"], item["label"]
        if tag == "link" and label == GUARDIAN:
            guardians.add(ref)
        elif tag == "link" and sql.as_bool(item["flag"]):
            # Only an authorised account of the student can give approvals.
            selves.add(ref)
        elif tag == "approval":
            approvals.append((ref, label))
        elif tag == "child":
            children.append(Child(ref, label))
    children.sort(key=lambda child: (child.given_name, child.id))

    family = Family(
        age=age_on(student.birth_date, local_today(now_utc, school.timezone)),
        sections_in_use=tuple(school.sections_in_use()),
        guardian_ids=frozenset(guardians),
        self_ids=frozenset(selves),
        guardian_sections_until_18=frozenset(school.guardian_sections_until_18 or ()),
    )
    sections = visible_sections(family, person_id, row["kind"], approvals)
    return PortalView(
        student, school, row["kind"], family, tuple(sections), tuple(children)
    )


async def linked_students(person_id: int) -> list[Student]:
    """Return the students a person is linked to and authorised for, by name."""
    return (
        await Student.filter(
            relations__person_id=person_id,
            relations__authorised=True,
            relations__active=True,
            active=True,
        )
        .order_by("given_name", "family_name", "id")
        .distinct()
    )


async def staff_student(staff: Person, student_id: int) -> Student | None:
    """Return the student when the staff member's role lets them see it."""
    student = (
        await Student.filter(id=student_id, school_id=staff.school_id)
        .select_related("homeroom", "school")
        .first()
    )
    if student is None:
        return None
    mentor_id = student.homeroom.mentor_id if student.homeroom else None
    allowed = staff_sees_student(
        staff.staff_role, staff.id, staff.school_id, student.school_id, mentor_id
    )
    return student if allowed else None


def staff_students_query(staff: Person):
    """Return a queryset of the students a staff member's role lets them see."""
    query = Student.filter(school_id=staff.school_id)
    if staff.staff_role in ("admin", "care"):
        return query
    if staff.staff_role == "mentor":
        return query.filter(homeroom__mentor_id=staff.id)
    return query.filter(id=-1)


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "Family",
    "PortalView",
    "age_on",
    "deciders",
    "linked_students",
    "load_family",
    "portal_view",
    "section_visible",
    "staff_sees_student",
    "staff_student",
    "staff_students_query",
    "turns_16_on",
    "utcnow",
    "visible_sections",
]
