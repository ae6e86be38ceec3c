"""Apply a checked OneRoster bundle to one school, in one transaction.

Rows are preloaded per model into a Store keyed by sourcedId, the wanted
state is worked out in memory, and only differences are written, in bulk.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models.entities import (
    GUARDIAN,
    SECTIONS,
    SELF,
    Enrollment,
    Person,
    Relation,
    Result,
    School,
    SchoolClass,
    Student,
)
from models.oneroster.reader import TOBEDELETED, Bundle, Row, read_bundle, split_list
from models.oneroster.report import ImportReport
from models.oneroster.spec import (
    ENROLLMENT_ROLES,
    FAMILY_KIND_OF,
    STAFF_RANK,
    STAFF_ROLE_OF,
    canonical_role,
)
from models.oneroster.store import Store

logger = logging.getLogger(__name__)

PERSON_FIELDS = (
    "given_name",
    "family_name",
    "email",
    "can_sign_in",
    "staff_role",
    "oneroster_role",
    "active",
)
STUDENT_FIELDS = (
    "given_name",
    "family_name",
    "email",
    "phone",
    "birth_date",
    "homeroom_id",
    "active",
)
CLASS_FIELDS = ("name", "code", "is_homeroom", "mentor_id", "active")
RELATION_FIELDS = ("kind", "authorised", "active")
ENROLLMENT_FIELDS = (
    "school_class_id",
    "student_id",
    "person_id",
    "role",
    "begin_date",
    "end_date",
    "active",
)
RESULT_FIELDS = (
    "student_id",
    "date",
    "subject",
    "title",
    "period",
    "score",
    "weight",
    "comment",
    "line_item_sourced_id",
    "active",
)


async def import_bundle(
    path: Path, school_code: str, *, authorise_links: bool = True
) -> ImportReport:
    """Import a OneRoster bundle (.zip or folder) into the school with this code.

    Raises ImportFailed, with nothing applied, when the bundle is unusable.
    """
    report = ImportReport(school_code=school_code)
    bundle = read_bundle(Path(path), report)
    if report.data_rows == 0:
        return report  # header-only files: nothing to add, not even the school
    async with in_transaction() as conn:
        importer = _Importer(conn, bundle, report, authorise_links)
        await importer.run(school_code)
    logger.info(
        "oneroster import into school %s: added %d, changed %d, skipped %d",
        school_code,
        report.added,
        report.changed,
        report.skipped,
    )
    return report


def normalise_email(text: str) -> str | None:
    email = text.strip().lower()
    return email if email and len(email) <= 320 else None


@dataclass
class User:
    """A user as it stands after this import, from the bundle or the database."""

    roles: list[str]
    active: bool
    is_student: bool

    @property
    def family_kind(self) -> str | None:
        kinds = {FAMILY_KIND_OF[r] for r in self.roles if r in FAMILY_KIND_OF}
        if not kinds:
            return None
        return "guardian" if "guardian" in kinds else "parent"

    @property
    def staff_role(self) -> str | None:
        staff = [STAFF_ROLE_OF[r] for r in self.roles if r in STAFF_ROLE_OF]
        return max(staff, key=STAFF_RANK.__getitem__) if staff else None


@dataclass
class Enrolment:
    class_sid: str
    user_sid: str
    role: str
    begin: date | None
    end: date | None
    active: bool
    primary: bool


class _Importer:
    def __init__(
        self,
        conn: BaseDBAsyncClient,
        bundle: Bundle,
        report: ImportReport,
        authorise_links: bool,
    ):
        self.conn = conn
        self.bundle = bundle
        self.report = report
        self.authorise = authorise_links
        self.version = bundle.version
        self.unknown_orgs: dict[tuple[str, str], list[int]] = {}

    # -- the steps, in the order they must run -------------------------------

    async def run(self, school_code: str) -> None:
        self.school = await self._school(school_code)
        await self._preload()
        self.org_ids = set(self.bundle.all_ids.get("orgs", set()))
        if self.school.sourced_id:
            self.org_ids.add(self.school.sourced_id)

        self._users()
        await self.persons.write(self.conn, school_id=self.school.id)
        self.person_id = await self._ids(Person)

        self._classes()
        self._enrolments()
        self._mentors()
        await self.classes.write(self.conn, school_id=self.school.id)
        self.class_id = await self._ids(SchoolClass)

        self._students()
        await self.students.write(self.conn, school_id=self.school.id)
        self.student_id = await self._ids(Student)

        self._relations()
        await self.relations.write(self.conn)
        self._write_enrolments()
        await self.enrollments.write(self.conn, school_id=self.school.id)
        self._results()
        await self.results.write(self.conn, school_id=self.school.id)

        self._report_unknown_orgs()
        for kind, store in (
            ("persons", self.persons),
            ("students", self.students),
            ("relations", self.relations),
            ("classes", self.classes),
            ("enrollments", self.enrollments),
            ("results", self.results),
        ):
            self.report.tallies[kind] = store.tally()
        await self._notes()

    async def _notes(self) -> None:
        """Say what the school still lacks for its people to see anything.

        A bundle can be valid and still leave mentors without a homeroom
        class (OneRoster classes are often scheduled classes only), students
        without guardians, or the school without an administrator.
        """
        school_id, conn = self.school.id, self.conn
        homerooms = dict(
            await Student.filter(school_id=school_id, active=True)
            .using_db(conn)
            .values_list("id", "homeroom_id")
        )
        no_homeroom = sum(1 for homeroom in homerooms.values() if homeroom is None)
        mentors = set(
            await Person.filter(school_id=school_id, staff_role="mentor", active=True)
            .using_db(conn)
            .values_list("id", flat=True)
        )
        with_class = set(
            await SchoolClass.filter(school_id=school_id, is_homeroom=True)
            .using_db(conn)
            .values_list("mentor_id", flat=True)
        )
        guarded = set(
            await Relation.filter(
                student__school_id=school_id, kind=GUARDIAN, active=True
            )
            .using_db(conn)
            .values_list("student_id", flat=True)
        )
        admins = (
            await Person.filter(school_id=school_id, staff_role="admin", active=True)
            .using_db(conn)
            .count()
        )

        note = self.report.notes.append
        if no_homeroom:
            note(
                f"{no_homeroom} student(s) have no homeroom class: no mentor sees them."
            )
        if mentors - with_class:
            note(
                f"{len(mentors - with_class)} teacher(s) mentor no homeroom class: "
                "they see no students."
            )
        if homerooms.keys() - guarded:
            note(
                f"{len(homerooms.keys() - guarded)} student(s) have no guardian linked."
            )
        if not admins:
            note(
                "The school has no administrator: add one with inzage add-staff "
                f"--school {self.school.code} --email ADDRESS --role admin."
            )

    async def _school(self, code: str) -> School:
        school = await School.filter(code=code).using_db(self.conn).first()
        if school is not None:
            return school
        orgs = [
            row
            for row in self.bundle.rows("orgs")
            if row.get("type").lower() == "school"
        ]
        # Prefer the org the code names; else the bundle's first school.
        chosen = next(
            (o for o in orgs if code in (o.sourced_id, o.get("identifier"))),
            orgs[0] if orgs else None,
        )
        self.report.school_created = code
        return await School.create(
            code=code,
            name=(chosen.get("name") if chosen else code)[:200] or code,
            sections=list(SECTIONS),
            sourced_id=chosen.sourced_id if chosen else None,
            using_db=self.conn,
        )

    async def _preload(self) -> None:
        sid = self.school.id

        def by_sid(row: dict[str, Any]) -> str | None:
            return row["sourced_id"]

        def query(model):
            return model.filter(school_id=sid).using_db(self.conn)

        self.all_persons = await query(Person).values(
            "id", "sourced_id", "staff_locked", *PERSON_FIELDS
        )
        self.persons = Store(Person, PERSON_FIELDS, self.all_persons, by_sid)
        self.students = Store(
            Student,
            STUDENT_FIELDS,
            await query(Student).values(
                "id", "sourced_id", "staff_locked", *STUDENT_FIELDS
            ),
            by_sid,
        )
        self.classes = Store(
            SchoolClass,
            CLASS_FIELDS,
            await query(SchoolClass).values(
                "id", "sourced_id", "staff_locked", *CLASS_FIELDS
            ),
            by_sid,
        )
        self.enrollments = Store(
            Enrollment,
            ENROLLMENT_FIELDS,
            await query(Enrollment).values("id", "sourced_id", *ENROLLMENT_FIELDS),
            by_sid,
        )
        self.results = Store(
            Result,
            RESULT_FIELDS,
            await query(Result).values("id", "sourced_id", *RESULT_FIELDS),
            by_sid,
        )
        relations = await (
            Relation.filter(person__school_id=sid)
            .using_db(self.conn)
            .values(
                "id",
                "person_id",
                "student_id",
                "from_import",
                "staff_locked",
                *RELATION_FIELDS,
            )
        )
        self.relations = Store(
            Relation,
            RELATION_FIELDS,
            relations,
            lambda row: (row["person_id"], row["student_id"]),
        )

    async def _ids(self, model) -> dict[str, int]:
        rows = await (
            model.filter(school_id=self.school.id, sourced_id__isnull=False)
            .using_db(self.conn)
            .values_list("sourced_id", "id")
        )
        return dict(rows)

    def _org(self, file: str, line: int, org: str) -> None:
        """Note a reference to an organisation that is not in the bundle."""
        if org and org not in self.org_ids:
            seen = self.unknown_orgs.setdefault((file, org), [line, 0])
            seen[1] += 1

    def _report_unknown_orgs(self) -> None:
        for (file, org), (line, count) in self.unknown_orgs.items():
            self.report.problem(
                file,
                line,
                f"organisation {org} is not in the bundle; its {count} row(s) "
                f"were placed in school {self.school.code}",
                skip=False,
            )

    # -- users, persons and students -----------------------------------------

    def _user_roles(self) -> dict[str, list[str]]:
        """Return each user's valid roles from roles.csv (OneRoster 1.2)."""
        found: dict[str, list[tuple[bool, str]]] = defaultdict(list)
        known = self.bundle.all_ids.get("users", set()) | set(self.persons.current)
        today = date.today()
        for row in self.bundle.rows("roles"):
            user = row.get("userSourcedId")
            if row.status == TOBEDELETED:
                continue
            end = row.get("endDate")
            if end is not None and end <= today:
                continue  # endDate is exclusive: the role has ended
            role = canonical_role(row.get("role"), self.version)
            if role is None:
                self.report.problem(
                    "roles.csv",
                    row.line,
                    f"role {row.get('role')!r} is not a OneRoster "
                    f"{self.version} role; row skipped",
                )
                continue
            if user not in known:
                self.report.problem(
                    "roles.csv",
                    row.line,
                    f"user {user} is in neither the bundle nor the database; "
                    "row skipped",
                )
                continue
            self._org("roles.csv", row.line, row.get("orgSourcedId"))
            primary = row.get("roleType").lower() == "primary"
            found[user].append((not primary, role))
        return {user: [r for _, r in sorted(rs)] for user, rs in found.items()}

    def _users(self) -> None:
        """Work out every user's roles and wanted Person row."""
        self.users: dict[str, User] = {}
        for sid, row in self.persons.current.items():
            role = row["oneroster_role"]
            self.users[sid] = User(
                roles=[role] if role else [],
                active=row["active"],
                is_student=sid in self.students.current,
            )
        self.user_rows: dict[str, Row] = {}
        roles_of = self._user_roles() if self.version == "1.2" else {}
        for row in self.bundle.rows("users"):
            roles = self._roles_of_row(row, roles_of)
            if roles is None:
                continue
            self.user_rows[row.sourced_id] = row
            self.users[row.sourced_id] = User(
                roles=roles,
                active=row.status != TOBEDELETED,
                is_student="student" in roles,
            )
            for org in split_list(row.get("orgSourcedIds")):
                self._org("users.csv", row.line, org)
            self._org("users.csv", row.line, row.get("primaryOrgSourcedId"))

        emails = self._assign_emails()
        for sid, row in self.user_rows.items():
            user = self.users[sid]
            if row.status == TOBEDELETED and sid not in self.persons.current:
                continue  # withdrawing what was never imported changes nothing
            enabled = row.get("enabledUser") is not False
            self.persons.put(
                sid,
                {
                    "given_name": row.get("givenName")[:100],
                    "family_name": row.get("familyName")[:150],
                    "email": emails[sid],
                    "can_sign_in": enabled and emails[sid] is not None,
                    "staff_role": user.staff_role,
                    "oneroster_role": user.roles[0][:64],
                    "active": user.active,
                },
                on_create={"sourced_id": sid},
            )
        if self.bundle.is_bulk("users"):
            listed = self.bundle.all_ids["users"]
            for sid, current in self.persons.current.items():
                if sid not in listed:
                    self.users[sid].active = False
                    if current["active"]:
                        self.persons.put(sid, {"active": False})

    def _roles_of_row(
        self, row: Row, roles_of: dict[str, list[str]]
    ) -> list[str] | None:
        """Return a users row's roles, or None (reported) when it has none."""
        if self.version != "1.2":
            role = canonical_role(row.get("role"), self.version)
            if role is None:
                self.report.problem(
                    "users.csv",
                    row.line,
                    f"role {row.get('role')!r} is not a OneRoster "
                    f"{self.version} user role; row skipped",
                )
                return None
            return [role]
        roles = roles_of.get(row.sourced_id)
        if roles is None and not self.bundle.has("roles"):
            roles = self.users.get(row.sourced_id, User([], True, False)).roles
        if not roles:
            self.report.problem(
                "users.csv", row.line, "the user has no valid role; row skipped"
            )
            return None
        return roles

    def _assign_emails(self) -> dict[str, str | None]:
        """Give each imported user an address no one else in the school holds.

        Addresses are compared trimmed and lower-cased. Whoever holds one in
        the database keeps it, then the bundle's rows claim theirs in file
        order; a later claimant is imported without sign-in.
        """
        holders: dict[str, object] = {}
        for row in self.all_persons:
            email = normalise_email(row["email"] or "")
            sid = row["sourced_id"]
            if email is None:
                continue
            if sid in self.user_rows and "email" not in (row["staff_locked"] or ()):
                continue  # the bundle says which address this person has now
            holders[email] = sid if sid is not None else ("staff", row["id"])
        assigned: dict[str, str | None] = {}
        for sid, row in self.user_rows.items():
            email = normalise_email(row.get("email"))
            if email is not None and holders.setdefault(email, sid) != sid:
                self.report.problem(
                    "users.csv",
                    row.line,
                    "the e-mail address is already taken in this school; "
                    "imported without sign-in",
                    skip=False,
                )
                email = None
            assigned[sid] = email
        return assigned

    def _students(self) -> None:
        """Work out the wanted Student rows: names, birth dates, homerooms."""
        births = self._birth_dates()
        homeroom = self._homerooms()
        for sid, row in self.user_rows.items():
            user = self.users[sid]
            if not user.is_student:
                if sid in self.students.current:
                    self.students.put(sid, {"active": False})
                continue
            if row.status == TOBEDELETED and sid not in self.students.current:
                continue
            values = {
                "given_name": row.get("givenName")[:100],
                "family_name": row.get("familyName")[:150],
                "email": normalise_email(row.get("email")) or "",
                "phone": row.get("phone")[:50],
                "homeroom_id": homeroom.get(sid),
                "active": user.active,
            }
            if sid in births:
                values["birth_date"] = births[sid]
            self.students.put(sid, values, on_create={"sourced_id": sid})
        for sid, current in self.students.current.items():
            if sid in self.user_rows:
                continue
            values = {"homeroom_id": homeroom.get(sid)}
            if sid in births:
                values["birth_date"] = births[sid]
            if self.bundle.is_bulk("users") and sid not in self.bundle.all_ids["users"]:
                values["active"] = False
            if any(current[k] != v for k, v in values.items()):
                self.students.put(sid, values)

    def _birth_dates(self) -> dict[str, date | None]:
        births = {}
        for row in self.bundle.rows("demographics"):
            sid = row.sourced_id
            if sid not in self.users:
                self.report.problem(
                    "demographics.csv",
                    row.line,
                    f"user {sid} is in neither the bundle nor the database; "
                    "row skipped",
                )
                continue
            if row.status == TOBEDELETED:
                births[sid] = None
            elif row.get("birthDate") is not None:
                births[sid] = row.get("birthDate")
        return births

    def _relations(self) -> None:
        """Link students to their guardians, parents and own accounts."""
        wanted: dict[tuple[str, str], str] = {}
        for sid, row in self.user_rows.items():
            if row.status == TOBEDELETED:
                continue
            if self.users[sid].is_student:
                wanted[(sid, sid)] = SELF
            for agent in split_list(row.get("agentSourcedIds")):
                pair = self._family_pair(row, sid, agent)
                if pair is not None:
                    wanted.setdefault(pair[:2], pair[2])

        for (person_sid, student_sid), kind in list(wanted.items()):
            if person_sid not in self.person_id or student_sid not in self.student_id:
                del wanted[(person_sid, student_sid)]
                continue  # a withdrawal of a user who was never imported
            active = self.users[person_sid].active and self.users[student_sid].active
            key = (self.person_id[person_sid], self.student_id[student_sid])
            current = self.relations.current.get(key)
            if current is not None and not current["from_import"]:
                continue  # staff made this link; the import leaves it alone
            authorised = True if kind == SELF else self.authorise
            values: dict[str, Any] = {"kind": kind, "active": active}
            if current is None or (active and not current["active"]):
                values["authorised"] = authorised
            self.relations.put(
                key,
                values,
                on_create={
                    "person_id": key[0],
                    "student_id": key[1],
                    "from_import": True,
                },
            )
        self._retire_relations(
            {(self.person_id[p], self.student_id[s]) for p, s in wanted}
        )

    def _family_pair(
        self, row: Row, sid: str, agent: str
    ) -> tuple[str, str, str] | None:
        """Return (person, student, kind) for one agent link, or None (reported)."""
        other = self.users.get(agent)
        if other is None:
            self.report.problem(
                "users.csv",
                row.line,
                f"agent {agent} is in neither the bundle nor the database; "
                "link skipped",
            )
            return None
        user = self.users[sid]
        if user.is_student and other.family_kind and agent != sid:
            return agent, sid, other.family_kind
        if other.is_student and user.family_kind and agent != sid:
            return sid, agent, user.family_kind
        self.report.problem(
            "users.csv",
            row.line,
            f"agent {agent} is not a student's parent, guardian or relative "
            "(or the other way round); link skipped",
        )
        return None

    def _retire_relations(self, wanted: set[tuple[int, int]]) -> None:
        """Deactivate imported links the users file no longer gives.

        A bulk file retires every imported link it lacks; a delta row is a
        whole record, so it retires the links of the users it lists.
        """
        if not self.bundle.has("users"):
            return
        bulk = self.bundle.is_bulk("users")
        listed = self.bundle.all_ids["users"]
        persons = {self.person_id[s] for s in listed if s in self.person_id}
        students = {self.student_id[s] for s in listed if s in self.student_id}
        for key, row in self.relations.current.items():
            if key in wanted or not row["from_import"] or not row["active"]:
                continue
            if bulk or key[0] in persons or key[1] in students:
                self.relations.put(key, {"active": False})

    # -- classes, enrolments, mentors and homerooms ---------------------------

    def _classes(self) -> None:
        """Work out the wanted class rows (their mentors come later)."""
        self.class_rows: dict[str, Row] = {}
        self.class_title: dict[str, str] = {
            sid: row["name"] for sid, row in self.classes.current.items()
        }
        courses = self.bundle.all_ids.get("courses")
        terms = self.bundle.all_ids.get("academicSessions")
        for row in self.bundle.rows("classes"):
            missing = self._missing_refs(row, courses, terms)
            if missing:
                self.report.problem(
                    "classes.csv",
                    row.line,
                    f"{missing} is in neither the bundle nor the database; row skipped",
                )
                continue
            if row.status == TOBEDELETED and row.sourced_id not in self.classes.current:
                continue
            self._org("classes.csv", row.line, row.get("schoolSourcedId"))
            self.class_rows[row.sourced_id] = row
            self.class_title[row.sourced_id] = row.get("title")[:200]
            self.classes.put(
                row.sourced_id,
                {
                    "name": row.get("title")[:200],
                    "code": row.get("classCode")[:100],
                    "is_homeroom": row.get("classType").lower() == "homeroom",
                    "active": row.status != TOBEDELETED,
                },
                on_create={"sourced_id": row.sourced_id, "mentor_id": None},
            )
        if self.bundle.is_bulk("classes"):
            listed = self.bundle.all_ids["classes"]
            for sid, current in self.classes.current.items():
                if sid not in listed and current["active"]:
                    self.classes.put(sid, {"active": False})

    def _missing_refs(
        self, row: Row, courses: set[str] | None, terms: set[str] | None
    ) -> str | None:
        """Name the course or term a class refers to that does not exist.

        Courses and terms have no table; they are checked only when the
        bundle holds their file, since a delta may refer to earlier ones.
        """
        course = row.get("courseSourcedId")
        if courses is not None and self.bundle.is_bulk("courses"):
            if course and course not in courses:
                return f"course {course}"
        if terms is not None and self.bundle.is_bulk("academicSessions"):
            for term in split_list(row.get("termSourcedIds")):
                if term not in terms:
                    return f"term {term}"
        return None

    def _enrolments(self) -> None:
        """Work out every enrolment as it stands after this import."""
        sid_of_person = {v["id"]: k for k, v in self.persons.current.items()}
        sid_of_student = {v["id"]: k for k, v in self.students.current.items()}
        sid_of_class = {v["id"]: k for k, v in self.classes.current.items()}
        self.final: dict[str, Enrolment] = {}
        for sid, row in self.enrollments.current.items():
            user = sid_of_student.get(row["student_id"]) or sid_of_person.get(
                row["person_id"]
            )
            class_sid = sid_of_class.get(row["school_class_id"])
            if user and class_sid:
                self.final[sid] = Enrolment(
                    class_sid,
                    user,
                    row["role"],
                    row["begin_date"],
                    row["end_date"],
                    row["active"],
                    False,
                )
        self.enrolment_rows: set[str] = set()
        for row in self.bundle.rows("enrollments"):
            enrolment = self._enrolment(row)
            if enrolment is not None:
                self.final[row.sourced_id] = enrolment
                self.enrolment_rows.add(row.sourced_id)
        if self.bundle.is_bulk("enrollments"):
            listed = self.bundle.all_ids["enrollments"]
            for sid, enrolment in self.final.items():
                if sid not in listed:
                    enrolment.active = False

    def _enrolment(self, row: Row) -> Enrolment | None:
        """Check one enrollments row; None (reported) when it is skipped."""
        role = row.get("role")
        if role not in ENROLLMENT_ROLES and not (
            self.version == "1.2" and role.startswith("ext:")
        ):
            known = {r.lower(): r for r in ENROLLMENT_ROLES}
            role = known.get(role.lower(), "")
        if not role:
            self.report.problem(
                "enrollments.csv",
                row.line,
                f"role {row.get('role')!r} is not a OneRoster enrolment role; "
                "row skipped",
            )
            return None
        for what, sid, known in (
            ("class", row.get("classSourcedId"), self.class_title),
            ("user", row.get("userSourcedId"), self.users),
        ):
            if sid not in known:
                self.report.problem(
                    "enrollments.csv",
                    row.line,
                    f"{what} {sid} is in neither the bundle nor the database; "
                    "row skipped",
                )
                return None
        if row.status == TOBEDELETED and row.sourced_id not in self.enrollments.current:
            return None
        self._org("enrollments.csv", row.line, row.get("schoolSourcedId"))
        return Enrolment(
            row.get("classSourcedId"),
            row.get("userSourcedId"),
            role,
            row.get("beginDate"),
            row.get("endDate"),
            row.status != TOBEDELETED,
            bool(row.get("primary")),
        )

    def _mentors(self) -> None:
        """Make the teacher of each homeroom class its mentor."""
        teachers: dict[str, list[tuple[bool, str]]] = defaultdict(list)
        for enrolment in self.final.values():
            user = self.users.get(enrolment.user_sid)
            if (
                enrolment.active
                and enrolment.role == "teacher"
                and user is not None
                and user.active
            ):
                teachers[enrolment.class_sid].append(
                    (not enrolment.primary, enrolment.user_sid)
                )
        for sid in set(self.class_rows) | set(self.classes.current):
            state = self.classes.state(sid)
            if state is None or not state["is_homeroom"]:
                continue
            candidates = sorted(teachers.get(sid, ()))
            mentor = self.person_id.get(candidates[0][1]) if candidates else None
            current = self.classes.current.get(sid)
            if sid in self.class_rows or current["mentor_id"] != mentor:
                self.classes.put(sid, {"mentor_id": mentor})

    def _homerooms(self) -> dict[str, int]:
        """Return, per student, the homeroom class they are enrolled in."""
        chosen: dict[str, tuple[date, str]] = {}
        for enrolment in self.final.values():
            state = self.classes.state(enrolment.class_sid)
            if (
                not enrolment.active
                or enrolment.role != "student"
                or state is None
                or not state["is_homeroom"]
                or not state["active"]
            ):
                continue
            # The latest-starting homeroom wins; ties go to the class id.
            candidate = (enrolment.begin or date.min, enrolment.class_sid)
            best = chosen.get(enrolment.user_sid)
            if best is None or candidate > best:
                chosen[enrolment.user_sid] = candidate
        return {
            student: self.class_id[class_sid]
            for student, (_, class_sid) in chosen.items()
            if class_sid in self.class_id
        }

    def _write_enrolments(self) -> None:
        for sid, enrolment in self.final.items():
            if sid not in self.enrolment_rows and sid in self.enrollments.current:
                if enrolment.active or not self.enrollments.current[sid]["active"]:
                    continue
            class_id = self.class_id.get(enrolment.class_sid)
            person_id = self.person_id.get(enrolment.user_sid)
            if class_id is None or person_id is None:
                continue
            self.enrollments.put(
                sid,
                {
                    "school_class_id": class_id,
                    "student_id": self.student_id.get(enrolment.user_sid),
                    "person_id": person_id,
                    "role": enrolment.role,
                    "begin_date": enrolment.begin,
                    "end_date": enrolment.end,
                    "active": enrolment.active,
                },
                on_create={"sourced_id": sid},
            )

    # -- the gradebook ---------------------------------------------------------

    def _line_items(self) -> dict[str, dict[str, Any]]:
        """Return subject, title, period, weight and due date per line item."""
        items: dict[str, dict[str, Any]] = {}
        for row in self.results.current.values():
            sid = row["line_item_sourced_id"]
            if sid and sid not in items:
                items[sid] = {
                    "subject": row["subject"],
                    "title": row["title"],
                    "period": row["period"],
                    "weight": row["weight"],
                    "due": None,
                }
        periods = {
            row.sourced_id: row.get("title")
            for row in self.bundle.rows("academicSessions")
        }
        categories = {row.sourced_id: row for row in self.bundle.rows("categories")}
        self.withdrawn_items: set[str] = set()
        for row in self.bundle.rows("lineItems"):
            sid = row.sourced_id
            earlier = items.get(sid)
            class_sid = row.get("classSourcedId")
            period_sid = row.get("gradingPeriodSourcedId")
            category = categories.get(row.get("categorySourcedId"))
            problem = None
            if class_sid not in self.class_title:
                problem = f"class {class_sid}"
            elif period_sid not in periods and earlier is None:
                problem = f"grading period {period_sid}"
            elif self.bundle.has("categories") and category is None:
                problem = f"category {row.get('categorySourcedId')}"
            if problem:
                self.report.problem(
                    "lineItems.csv",
                    row.line,
                    f"{problem} is in neither the bundle nor the database; row skipped",
                )
                continue
            if row.status == TOBEDELETED:
                self.withdrawn_items.add(sid)
            weight = earlier["weight"] if earlier else None
            if category is not None:
                weight = _float(category.get("weight"))
            items[sid] = {
                "subject": self.class_title[class_sid][:200],
                "title": row.get("title")[:300],
                "period": periods.get(period_sid, earlier and earlier["period"])[:100],
                "weight": weight,
                "due": row.get("dueDate"),
                "line": row.line,
            }
        if self.bundle.is_bulk("lineItems"):
            # A line item that a bulk file no longer lists is withdrawn too.
            listed = self.bundle.all_ids["lineItems"]
            self.withdrawn_items.update(sid for sid in items if sid not in listed)
        return items

    def _results(self) -> None:
        """Turn results rows into Result rows with their line item's details.

        A result is withdrawn (active=False, kept as a tombstone) when a delta
        marks it tobedeleted, when a bulk results file no longer lists it, or
        when its line item is withdrawn; a later active row brings it back.
        """
        items = self._line_items()
        withdrawn_items = self.withdrawn_items
        withdrawn_rows = 0  # rows marked tobedeleted that withdrew a result
        by_item: dict[str, int] = defaultdict(int)
        for row in self.bundle.rows("results"):
            sid = row.sourced_id
            current = self.results.current.get(sid)
            if row.status == TOBEDELETED:
                # Withdrawing what was never imported changes nothing.
                if current is not None:
                    withdrawn_rows += 1 if current["active"] else 0
                    self.results.put(sid, {"active": False})
                continue
            values = self._result(row, items)
            if values is None:
                continue
            if values["line_item_sourced_id"] in withdrawn_items:
                if current is None:
                    continue  # a result of a withdrawn line item is not added
                values["active"] = False
                if current["active"]:
                    by_item[values["line_item_sourced_id"]] += 1
            self.results.put(sid, values, on_create={"sourced_id": sid})

        listed = self.bundle.all_ids.get("results", set())
        bulk = self.bundle.is_bulk("results")
        missing = 0
        for sid, current in self.results.current.items():
            if sid in self.results.touched:
                continue  # its row in this bundle was applied above
            values: dict[str, Any] = {}
            item_sid = current["line_item_sourced_id"]
            item = items.get(item_sid)
            if sid not in listed and item is not None and "line" in item:
                # A line item renamed or moved: its earlier results follow it.
                values = {k: item[k] for k in ("subject", "title", "period", "weight")}
            if current["active"] and item_sid in withdrawn_items:
                values["active"] = False
                by_item[item_sid] += 1
            elif current["active"] and bulk and sid not in listed:
                values["active"] = False
                missing += 1
            if values:
                self.results.put(sid, values)

        if withdrawn_rows:
            self.report.problem(
                "results.csv",
                1,
                f"{withdrawn_rows} result(s) marked tobedeleted are withdrawn; "
                "they are no longer shown",
                skip=False,
            )
        if missing:
            self.report.problem(
                "results.csv",
                1,
                f"{missing} earlier result(s) are missing from this bulk file; "
                "they are withdrawn and no longer shown",
                skip=False,
            )
        for sid in sorted(withdrawn_items):
            item = items[sid]
            if "line" in item:
                where, why = item["line"], "is withdrawn"
            elif by_item[sid]:
                where, why = 1, "is missing from this bulk file"
            else:
                continue  # withdrawn by an earlier import
            self.report.problem(
                "lineItems.csv",
                where,
                f"line item {sid} {why}; {by_item[sid]} of its result(s) are "
                "withdrawn with it and no longer shown",
                skip=False,
            )

    def _result(
        self, row: Row, items: dict[str, dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Check one active results row; None (reported) when it is skipped."""
        item_sid = row.get("lineItemSourcedId")
        student_sid = row.get("studentSourcedId")
        item = items.get(item_sid)
        reason = None
        if item is None:
            reason = f"line item {item_sid} is in neither the bundle nor the database"
        elif student_sid not in self.student_id:
            reason = f"student {student_sid} is in neither the bundle nor the database"
        elif row.get("score") and _float(row.get("score")) is None:
            reason = f"score {row.get('score')!r} is not a number"
        elif not (row.get("scoreDate") or item["due"]):
            reason = "there is no scoreDate and no dueDate for the line item"
        if reason:
            self.report.problem("results.csv", row.line, f"{reason}; row skipped")
            return None
        return {
            "student_id": self.student_id[student_sid],
            "date": row.get("scoreDate") or item["due"],
            "subject": item["subject"],
            "title": item["title"],
            "period": item["period"],
            "score": (row.get("score") or row.get("textScore"))[:50],
            "weight": item["weight"],
            "comment": row.get("comment"),
            "line_item_sourced_id": item_sid,
            "active": True,
        }


def _float(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None
