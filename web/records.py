"""Read a student's records, section by section, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace

from quart import abort, current_app, send_file
from tortoise import connections

from models import sql
from models.access import utcnow
from models.entities import (
    RECORD_SECTIONS,
    Document,
    Person,
    Relation,
    Student,
)

PAGE_SIZE = 50


@dataclass
class Page:
    items: list
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def page_number(raw: str | None) -> int:
    """Read a page number; anything odd means the first page."""
    try:
        number = int(raw or 1)
    except ValueError:
        return 1
    return min(max(number, 1), 10_000)


# One constant statement per section: the page's rows, newest first. Each
# fetches one row more than a page, which tells whether there is a next page
# without a count.
SECTION_SQL: dict[str, str] = {
    "absence": "SELECT id, date, period, kind, reason, authorised FROM absence"
    " WHERE student_id = ? ORDER BY date DESC, id DESC LIMIT ? OFFSET ?",
    # Withdrawn results (OneRoster tobedeleted) stay in the table, inactive.
    "results": "SELECT id, date, subject, title, period, score, comment FROM result"
    " WHERE student_id = ? AND active = ? ORDER BY date DESC, id DESC LIMIT ? OFFSET ?",
    "tests": "SELECT id, date, test_name, part, score, level FROM test_score"
    " WHERE student_id = ? ORDER BY date DESC, id DESC LIMIT ? OFFSET ?",
    "documents": "SELECT id, date, title, filename FROM document"
    " WHERE student_id = ? ORDER BY date DESC, id DESC LIMIT ? OFFSET ?",
    "record": "SELECT id, date, title, body, author FROM record"
    " WHERE student_id = ? AND section = ?"
    " ORDER BY date DESC, id DESC LIMIT ? OFFSET ?",
}


_LOG_SQL = (
    "INSERT INTO access_log (at, person_id, student_id, section, action, role,"
    " detail) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# PostgreSQL: the view's log row and the page in one statement. A data-
# modifying WITH runs to completion whether or not the page reads it.
_LOGGED_SECTION_SQL: dict[str, str] = {
    key: f"WITH logged AS ({_LOG_SQL}) {statement}"  # noqa: S608 (constants only)
    for key, statement in SECTION_SQL.items()
}


async def section_page(
    student_id: int,
    section: str,
    number: int,
    *,
    logged_for: tuple[Person, str] | None = None,
) -> Page:
    """Return one page of a section's records in one query.

    With ``logged_for`` (the person and their role) the view is written to
    the access log too; on PostgreSQL by the same statement.
    """
    offset = (number - 1) * PAGE_SIZE
    if section in RECORD_SECTIONS:
        key, params = "record", (student_id, section, PAGE_SIZE + 1, offset)
    elif section == "results":
        key, params = "results", (student_id, True, PAGE_SIZE + 1, offset)
    elif section in SECTION_SQL:
        key, params = section, (student_id, PAGE_SIZE + 1, offset)
    else:
        key, params = None, ()

    if logged_for is None:
        rows = await sql.fetch(SECTION_SQL[key], *params) if key else []
    else:
        person, role = logged_for
        log = (utcnow(), person.id, student_id, section, "view", role, "")
        if key and connections.get("default").capabilities.dialect == "postgres":
            rows = await sql.fetch(_LOGGED_SECTION_SQL[key], *log, *params)
        else:
            await sql.execute(_LOG_SQL, *log)
            rows = await sql.fetch(SECTION_SQL[key], *params) if key else []
    if not key:
        return Page([], 1, False)
    # Attribute access is Jinja's fast path; on a dict it first fails, then
    # falls back to item access, for every field of every row.
    items = []
    for row in rows[:PAGE_SIZE]:
        item = SimpleNamespace(**row)
        item.iso_date, item.shown_date = date_texts(item.date)
        items.append(item)
    return Page(items, number, len(rows) > PAGE_SIZE)


@lru_cache(maxsize=4096)
def date_texts(value) -> tuple[str, str]:
    """Return a record's date as ISO (for ``<time>``) and as shown, 31-12-2026.

    Formatted here: a call in the template costs more than the format, and
    the records of a page share their dates (a school year has some 200).
    """
    day = sql.as_date(value)
    return day.isoformat(), f"{day.day:02d}-{day.month:02d}-{day.year}"


async def view_section(
    person: Person,
    student: Student,
    section: str,
    number: int,
    role: str,
    *,
    every_relation: bool = False,
) -> tuple[Page | None, dict | None]:
    """Read what a section page shows, and log the view; (page, details)."""
    if section == "personal":
        details = await personal_details(student, every_relation=every_relation)
        await log_access(person, student.id, section, "view", role)
        return None, details
    return await section_page(
        student.id, section, number, logged_for=(person, role)
    ), None


async def personal_details(student: Student, *, every_relation: bool = False) -> dict:
    """Return the student's particulars and the people the school linked.

    The family sees the parents on record; staff see every relation.
    """
    kinds = (
        ("guardian", "parent", "carer", "self")
        if every_relation
        else (
            "guardian",
            "parent",
        )
    )
    contacts = await Relation.filter(
        student_id=student.id, active=True, kind__in=kinds
    ).select_related("person")
    return {"student": student, "contacts": contacts}


async def log_access(
    person: Person,
    student_id: int,
    section: str,
    action: str,
    role: str,
    detail: str = "",
    at: datetime | None = None,
) -> None:
    """Write one row of the access log that staff and families read."""
    await sql.execute(
        _LOG_SQL,
        at or utcnow(),
        person.id,
        student_id,
        section,
        action,
        role,
        detail[:300],
    )


async def send_document(person: Person, student_id: int, document_id: int, role: str):
    """Send a document's file, logged; the caller has checked access."""
    document = await Document.filter(id=document_id, student_id=student_id).first()
    if document is None:
        abort(404)
    path = current_app.config["INZAGE"].files_dir / document.storage_name
    if not path.is_file():
        abort(404)
    await log_access(
        person, student_id, "documents", "download", role, f"document {document.id}"
    )
    return await send_file(
        path,
        mimetype=document.content_type,
        as_attachment=True,
        attachment_filename=document.filename,
    )
