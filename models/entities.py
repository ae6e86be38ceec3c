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
    # The school systems' key for the messages API, stored hashed.
    api_key_hash = fields.CharField(max_length=64, null=True)
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
    # The last TOTP time step accepted; a code is accepted once (RFC 6238).
    totp_last_step = fields.BigIntField(null=True)
    last_sign_in_at = fields.DatetimeField(null=True)
    password_changed_at = fields.DatetimeField(null=True)
    # When the last "there are new messages" e-mail went out (throttling).
    last_notice_at = fields.DatetimeField(null=True)
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
        indexes = (Index(fields=("student_id", "section", "date", "id")),)


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
        indexes = (Index(fields=("student_id", "date", "id")),)


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
        indexes = (Index(fields=("student_id", "active", "date", "id")),)


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
        indexes = (Index(fields=("student_id", "date", "id")),)


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
        indexes = (Index(fields=("student_id", "date", "id")),)


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
    # When the password (and code) were last given, for re-authentication.
    authenticated_at = fields.DatetimeField(null=True)
    # Signed in with the password, the two-factor code still to come.
    pending_2fa = fields.BooleanField(default=False)
    code_failures = fields.IntField(default=0)
    next_code_at = fields.DatetimeField(null=True)

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


# ------------------------------------------------------------ accounts


# An e-mail decided by a transaction; a job delivers it at least once. The
# row is written in the same transaction as the change that causes it.
class Outbox(Model):
    id = fields.IntField(primary_key=True)
    person = fields.ForeignKeyField(
        "models.Person", related_name="outbox", null=True, on_delete=fields.SET_NULL
    )
    kind = fields.CharField(max_length=32)  # reset | invite | notice | ...
    language = fields.CharField(max_length=5, default="nl")
    payload = fields.JSONField(default=dict)
    status = fields.CharField(max_length=16, default="pending")
    attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    queued_at = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=300, default="")

    class Meta:
        table = "outbox"
        indexes = (Index(fields=("status", "created_at")),)


# A password link: only its hash is kept; the link itself is derived from the
# server secret and the outbox row, so a resent e-mail carries the same link.
class ResetLink(Model):
    id = fields.IntField(primary_key=True)
    person = fields.ForeignKeyField("models.Person", related_name="reset_links")
    outbox = fields.ForeignKeyField(
        "models.Outbox",
        related_name="reset_links",
        null=True,
        on_delete=fields.SET_NULL,
    )
    token_hash = fields.CharField(max_length=64, null=True, unique=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    voided = fields.BooleanField(default=False)

    class Meta:
        table = "reset_link"


# One-time recovery codes for two-factor sign-in, stored hashed.
class RecoveryCode(Model):
    id = fields.IntField(primary_key=True)
    person = fields.ForeignKeyField("models.Person", related_name="recovery_codes")
    code_hash = fields.CharField(max_length=64)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "recovery_code"
        unique_together = (("person", "code_hash"),)


# Failed attempts per key (an account or a client address) for throttling,
# when Redis is not configured.
class Throttle(Model):
    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=200, unique=True)
    failures = fields.IntField(default=0)
    blocked_until = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "throttle"


# ------------------------------------------------------------ messages


# A message in the Postkantoor; about one student (or general news).
class Message(Model):
    id = fields.IntField(primary_key=True)
    school = fields.ForeignKeyField("models.School", related_name="messages")
    sender = fields.ForeignKeyField(
        "models.Person",
        related_name="messages_sent",
        null=True,
        on_delete=fields.SET_NULL,
    )
    student = fields.ForeignKeyField(
        "models.Student", related_name="messages", null=True
    )
    kind = fields.CharField(max_length=16)  # section | general | sharing
    section = fields.CharField(max_length=16, null=True)
    subject = fields.CharField(max_length=200)
    body = fields.TextField()
    created_at = fields.DatetimeField()
    # Makes a double submission create one message.
    idempotency_key = fields.CharField(max_length=100, null=True, unique=True)

    class Meta:
        table = "message"


class MessageRecipient(Model):
    id = fields.IntField(primary_key=True)
    message = fields.ForeignKeyField("models.Message", related_name="recipients")
    person = fields.ForeignKeyField("models.Person", related_name="inbox")
    read_at = fields.DatetimeField(null=True)
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "message_recipient"
        unique_together = (("message", "person"),)
        indexes = (Index(fields=("person_id", "deleted_at", "read_at")),)


# A person's choice per event: off, immediately, or in a daily summary.
class NotificationSetting(Model):
    id = fields.IntField(primary_key=True)
    person = fields.ForeignKeyField(
        "models.Person", related_name="notification_settings"
    )
    event = fields.CharField(max_length=32)
    mode = fields.CharField(max_length=16)  # off | immediate | daily

    class Meta:
        table = "notification_setting"
        unique_together = (("person", "event"),)


# An event waiting for a person's e-mail (immediate or daily summary).
class PendingNotice(Model):
    id = fields.IntField(primary_key=True)
    person = fields.ForeignKeyField("models.Person", related_name="pending_notices")
    event = fields.CharField(max_length=32)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "pending_notice"
        indexes = (Index(fields=("person_id", "sent_at")),)


# A notice about a student sent once (e.g. thirty days before 16, the birthday).
class StudentNotice(Model):
    id = fields.IntField(primary_key=True)
    student = fields.ForeignKeyField("models.Student", related_name="notices")
    kind = fields.CharField(max_length=32)
    due_on = fields.DateField()
    sent_at = fields.DatetimeField()

    class Meta:
        table = "student_notice"
        unique_together = (("student", "kind", "due_on"),)
