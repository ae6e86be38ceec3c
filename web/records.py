"""Read a student's records, section by section, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from quart import abort, current_app, send_file

from models.access import utcnow
from models.entities import (
    RECORD_SECTIONS,
    SECTION_MODELS,
    AccessLog,
    Document,
    Person,
    Record,
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


async def section_page(student_id: int, section: str, number: int) -> Page:
    """Return one page of a section's records in one query."""
    if section in SECTION_MODELS:
        query = SECTION_MODELS[section].filter(student_id=student_id)
    elif section in RECORD_SECTIONS:
        query = Record.filter(student_id=student_id, section=section)
    else:
        return Page([], 1, False)
    offset = (number - 1) * PAGE_SIZE
    # One row more than a page tells whether there is a next page, without a count.
    rows = await query.order_by("-date", "-id").offset(offset).limit(PAGE_SIZE + 1)
    return Page(rows[:PAGE_SIZE], number, len(rows) > PAGE_SIZE)


async def personal_details(student: Student) -> dict:
    """Return the student's particulars and the people the school linked."""
    contacts = await Relation.filter(
        student_id=student.id, active=True, kind__in=("guardian", "parent")
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
    await AccessLog.create(
        at=at or utcnow(),
        person_id=person.id,
        student_id=student_id,
        section=section,
        action=action,
        role=role,
        detail=detail[:300],
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
