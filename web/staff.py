"""The staff part: the students a role lets a staff member see, and their files."""

from __future__ import annotations

import logging

from quart import Blueprint, abort, g, request

from models.access import (
    age_on,
    local_today,
    staff_student,
    staff_students_query,
    utcnow,
)
from models.entities import SECTIONS
from models.names import by_surname
from web.records import (
    page_number,
    personal_details,
    send_document,
    view_section,
)
from web.rendering import render
from web.security import staff_only, wants_fragment

bp = Blueprint("staff", __name__, url_prefix="/staff")
security_log = logging.getLogger("inzage.security")


def _role() -> str:
    return f"staff:{g.person.staff_role}"


@bp.get("/")
@staff_only
async def students():
    """List the students this staff member's role lets them see."""
    rows = await staff_students_query(g.person).select_related("homeroom")
    return await render("staff/students.html", students=by_surname(rows))


async def _student_or_404(student_id: int):
    student = await staff_student(g.person, student_id)
    if student is None:
        security_log.info(
            "staff access refused person=%s student=%s", g.person.id, student_id
        )
        abort(404)
    return student


@bp.get("/students/<int:student_id>/")
@staff_only
async def student(student_id: int):
    """Show a student's file: every section in use."""
    student = await _student_or_404(student_id)
    details = await personal_details(student, every_relation=True)
    today = local_today(utcnow(), student.school.timezone)
    return await render(
        "staff/student.html",
        student=student,
        sections=student.school.sections_in_use(),
        section=None,
        contacts=details["contacts"],
        age=age_on(student.birth_date, today),
    )


@bp.get("/students/<int:student_id>/<section>")
@staff_only
async def section(student_id: int, section: str):
    """Show one section of a student's file to staff."""
    student = await _student_or_404(student_id)
    sections = student.school.sections_in_use()
    if section not in sections or section not in SECTIONS:
        abort(404)
    number = page_number(request.args.get("page"))
    page, details = await view_section(g.person, student, section, number, _role())

    context = dict(
        student=student, sections=sections, section=section, page=page, details=details
    )
    if wants_fragment():
        return await render("staff/partials/records.html", swapped=True, **context)
    return await render("staff/section.html", **context)


@bp.get("/students/<int:student_id>/documents/<int:document_id>")
@staff_only
async def download(student_id: int, document_id: int):
    """Send a document's file to staff whose role lets them see the student."""
    student = await _student_or_404(student_id)
    if "documents" not in student.school.sections_in_use():
        abort(404)
    return await send_document(g.person, student_id, document_id, _role())
