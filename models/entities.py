"""The data model: schools, people, students, their relations, records and logs."""

# Model classes carry no docstrings: Tortoise turns a docstring into a table
# comment, which its SQLite migrations write as invalid SQL. Comments instead.

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

# Section keys of SPEC.md section 3, in the order the menu shows them.
SECTIONS: tuple[str, ...] = (
    "personal",
    "absence",
    "results",
    "tests",
    "reports",
    "meetings",
    "care",
    "notes",
    "documents",
)

STAFF_ROLES: tuple[str, ...] = ("admin", "mentor", "care")

# Relation kinds between a person and a student.
GUARDIAN = "guardian"
PARENT = "parent"  # parent without authority
CARER = "carer"  # care professional
SELF = "self"  # the student's own account
RELATION_KINDS: tuple[str, ...] = (GUARDIAN, PARENT, CARER, SELF)


class School(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=200)
    timezone = fields.CharField(max_length=64, default="Europe/Amsterdam")
    sections = fields.JSONField(default=list)
    guardian_sections_until_18 = fields.JSONField(default=list)
    require_2fa = fields.BooleanField(default=False)
    sourced_id = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "school"

    def sections_in_use(self) -> list[str]:
        """Return the school's sections in menu order."""
        chosen = set(self.sections or SECTIONS)
        return [key for key in SECTIONS if key in chosen]


# Anyone who may sign in: family, care professionals, students, staff.
class Person(Model):
    id = fields.IntField(primary_key=True)
    school = fields.ForeignKeyField("models.School", related_name="persons")
    email = fields.CharField(max_length=320, null=True)
    given_name = fields.CharField(max_length=100, default="")
    family_name = fields.CharField(max_length=150, default="")
    language = fields.CharField(max_length=5, default="nl")
    staff_role = fields.CharField(max_length=16, null=True)
    password_hash = fields.CharField(max_length=255, null=True)
    can_sign_in = fields.BooleanField(default=True)
    totp_secret = fields.CharField(max_length=255, null=True)
    totp_enabled = fields.BooleanField(default=False)
    require_2fa = fields.BooleanField(default=False)
    last_sign_in_at = fields.DatetimeField(null=True)
    sourced_id = fields.CharField(max_length=255, null=True)
    oneroster_role = fields.CharField(max_length=64, null=True)
    active = fields.BooleanField(default=True)
    # Fields staff edited by hand; a re-import leaves them alone.
    staff_locked = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "person"
        unique_together = (("school", "email"), ("school", "sourced_id"))

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


class SchoolClass(Model):
    id = fields.IntField(primary_key=True)
    school = fields.ForeignKeyField("models.School", related_name="classes")
    name = fields.CharField(max_length=200)
    code = fields.CharField(max_length=100, default="")
    is_homeroom = fields.BooleanField(default=False)
    mentor = fields.ForeignKeyField(
        "models.Person", related_name="mentor_of", null=True, on_delete=fields.SET_NULL
    )
    sourced_id = fields.CharField(max_length=255, null=True)
    active = fields.BooleanField(default=True)
    staff_locked = fields.JSONField(default=list)

    class Meta:
        table = "school_class"
        unique_together = (("school", "sourced_id"),)


class Student(Model):
    id = fields.IntField(primary_key=True)
    school = fields.ForeignKeyField("models.School", related_name="students")
    given_name = fields.CharField(max_length=100)
    family_name = fields.CharField(max_length=150)
    birth_date = fields.DateField(null=True)
    homeroom = fields.ForeignKeyField(
        "models.SchoolClass",
        related_name="students",
        null=True,
        on_delete=fields.SET_NULL,
    )
    address = fields.CharField(max_length=300, default="")
    phone = fields.CharField(max_length=50, default="")
    email = fields.CharField(max_length=320, default="")
    sourced_id = fields.CharField(max_length=255, null=True)
    active = fields.BooleanField(default=True)
    staff_locked = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "student"
        unique_together = (("school", "sourced_id"),)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


# A OneRoster enrolment of a user in a class, kept as imported.
class Enrollment(Model):
    id = fields.IntField(primary_key=True)
    school = fields.ForeignKeyField("models.School", related_name="enrollments")
    school_class = fields.ForeignKeyField(
        "models.SchoolClass", related_name="enrollments"
    )
    student = fields.ForeignKeyField(
        "models.Student", related_name="enrollments", null=True
    )
    person = fields.ForeignKeyField(
        "models.Person", related_name="enrollments", null=True
    )
    role = fields.CharField(max_length=32)
    begin_date = fields.DateField(null=True)
    end_date = fields.DateField(null=True)
    sourced_id = fields.CharField(max_length=255)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "enrollment"
        unique_together = (("school", "sourced_id"),)


# How a person stands to a student, and whether the school authorised it.
class Relation(Model):
    id = fields.IntField(primary_key=True)
    person = fields.ForeignKeyField("models.Person", related_name="relations")
    student = fields.ForeignKeyField("models.Student", related_name="relations")
    kind = fields.CharField(max_length=16)
    authorised = fields.BooleanField(default=True)
    from_import = fields.BooleanField(default=False)
    active = fields.BooleanField(default=True)
    staff_locked = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "relation"
        unique_together = (("person", "student"),)
        indexes = (Index(fields=("student_id", "kind")),)


# One approver's consent that one viewer sees one section of one student.
class Approval(Model):
    id = fields.IntField(primary_key=True)
    student = fields.ForeignKeyField("models.Student", related_name="approvals")
    viewer = fields.ForeignKeyField("models.Person", related_name="approvals_received")
    section = fields.CharField(max_length=16)
    approver = fields.ForeignKeyField("models.Person", related_name="approvals_given")
    # Set when staff recorded an approval given on paper.
    recorded_by = fields.ForeignKeyField(
        "models.Person",
        related_name="approvals_recorded",
        null=True,
        on_delete=fields.SET_NULL,
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "approval"
        unique_together = (("student", "viewer", "section", "approver"),)
        indexes = (Index(fields=("student_id", "viewer_id")),)


# A dated entry in a free-text section: reports, meetings, care, notes.
class Record(Model):
    id = fields.IntField(primary_key=True)
    student = fields.ForeignKeyField("models.Student", related_name="records")
    section = fields.CharField(max_length=16)
    date = fields.DateField()
    title = fields.CharField(max_length=300)
    body = fields.TextField(default="")
    author = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "record"
        indexes = (Index(fields=("student_id", "section", "date")),)


class Absence(Model):
    id = fields.IntField(primary_key=True)
    student = fields.ForeignKeyField("models.Student", related_name="absences")
    date = fields.DateField()
    period = fields.CharField(max_length=50, default="")
    kind = fields.CharField(max_length=16, default="absent")  # absent | late
    reason = fields.CharField(max_length=300, default="")
    authorised = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "absence"
        indexes = (Index(fields=("student_id", "date")),)


# A grade or mark; OneRoster results arrive here with their line item.
class Result(Model):
    id = fields.IntField(primary_key=True)
    student = fields.ForeignKeyField("models.Student", related_name="results")
    date = fields.DateField()
    subject = fields.CharField(max_length=200)
    title = fields.CharField(max_length=300, default="")
    period = fields.CharField(max_length=100, default="")
    score = fields.CharField(max_length=50, default="")
    weight = fields.FloatField(null=True)
    comment = fields.TextField(default="")
    sourced_id = fields.CharField(max_length=255, null=True)
    line_item_sourced_id = fields.CharField(max_length=255, null=True)
    school = fields.ForeignKeyField("models.School", related_name="results", null=True)
    # False once withdrawn (OneRoster tobedeleted); the portal no longer shows it.
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "result"
        unique_together = (("school", "sourced_id"),)
        indexes = (Index(fields=("student_id", "date")),)


# A standardised test score.
class TestScore(Model):
    id = fields.IntField(primary_key=True)
    student = fields.ForeignKeyField("models.Student", related_name="test_scores")
    date = fields.DateField()
    test_name = fields.CharField(max_length=200)
    part = fields.CharField(max_length=200, default="")
    score = fields.CharField(max_length=50, default="")
    level = fields.CharField(max_length=50, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "test_score"
        indexes = (Index(fields=("student_id", "date")),)


# A file the school attached; stored in the data folder, served checked.
class Document(Model):
    id = fields.IntField(primary_key=True)
    student = fields.ForeignKeyField("models.Student", related_name="documents")
    date = fields.DateField()
    title = fields.CharField(max_length=300)
    filename = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=100, default="application/pdf")
    size_bytes = fields.IntField(default=0)
    storage_name = fields.CharField(max_length=100, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "document"
        indexes = (Index(fields=("student_id", "date")),)


# A server-side session; the cookie holds only a random token.
class Session(Model):
    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    person = fields.ForeignKeyField("models.Person", related_name="sessions")
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    student_id = fields.IntField(null=True)  # the child selected in the portal
    user_agent = fields.CharField(max_length=300, default="")

    class Meta:
        table = "session"


# Who looked at or changed which student's data, when, and in which role.
class AccessLog(Model):
    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    person = fields.ForeignKeyField(
        "models.Person",
        related_name="access_logs",
        null=True,
        on_delete=fields.SET_NULL,
    )
    student = fields.ForeignKeyField("models.Student", related_name="access_logs")
    section = fields.CharField(max_length=16, default="")
    action = fields.CharField(max_length=32)  # view | download | approve | withdraw
    role = fields.CharField(max_length=32)  # guardian, carer, staff:mentor, ...
    detail = fields.CharField(max_length=300, default="")

    class Meta:
        table = "access_log"
        indexes = (
            Index(fields=("student_id", "at")),
            Index(fields=("person_id", "at")),
        )


# The section whose records each structured model holds.
SECTION_MODELS: dict[str, type[Model]] = {
    "absence": Absence,
    "results": Result,
    "tests": TestScore,
    "documents": Document,
}
RECORD_SECTIONS: tuple[str, ...] = ("reports", "meetings", "care", "notes")
