"""Read a student's records, section by section, newest first."""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from quart import abort, current_app, send_file

from models import access_log, sql
from models.access import utcnow
from models.access_log import log_row
from models.entities import Document, Person, Relation, Student
from models.records import PAGE_SIZE, SECTION_COLUMNS, SECTION_SQL, page_query


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


async def section_page(
    student_id: int,
    section: str,
    number: int,
    *,
    logged_for: tuple[Person, str] | None = None,
    read_ahead: tuple[tuple[str, tuple], list[list]] | None = None,
) -> Page:
    """Return one page of a section's records in one query.

    With ``logged_for`` (the person and their role) the view is written to
    the access log too, before the page is returned. ``read_ahead`` holds
    rows that the session's statement read (ActiveSession.page): used when
    they are this very page's.
    """
    query = page_query(student_id, section, number)
    if query is None:
        rows = []
    elif read_ahead is not None and read_ahead[0] == query:
        rows = read_ahead[1]
    else:
        columns = SECTION_COLUMNS[query[0]]
        found = await sql.fetch(SECTION_SQL[query[0]], *query[1])
        rows = [[row[column] for column in columns] for row in found]
    if logged_for is not None:
        person, role = logged_for
        await access_log.write(
            log_row(utcnow(), person.id, student_id, section, "view", role)
        )
    if query is None:
        return Page([], 1, False)
    row_type = _ROW_TYPES[query[0]]
    items = [row_type(*row, *date_texts(row[1])) for row in rows[:PAGE_SIZE]]
    return Page(items, number, len(rows) > PAGE_SIZE)


# A record as the page shows it: its columns, and its date as ISO (for
# ``<time>``) and as shown. Attribute access is Jinja's fast path; on a dict
# it first fails, then falls back to item access, for every field of every row.
_ROW_TYPES = {
    key: namedtuple(f"{key.title()}Row", (*columns, "iso_date", "shown_date"))
    for key, columns in SECTION_COLUMNS.items()
}


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
    read_ahead: tuple[tuple[str, tuple], list[list]] | None = None,
) -> tuple[Page | None, dict | None]:
    """Read what a section page shows, and log the view; (page, details)."""
    if section == "personal":
        details = await personal_details(student, every_relation=every_relation)
        await log_access(person, student.id, section, "view", role)
        return None, details
    page = await section_page(
        student.id, section, number, logged_for=(person, role), read_ahead=read_ahead
    )
    return page, None


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
    row = log_row(at or utcnow(), person.id, student_id, section, action, role, detail)
    await access_log.write(row)


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
