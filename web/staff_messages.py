"""Staff send messages: to one person, to a student's guardians, to a class.

Staff rights follow ``models.access.staff_sees_student``; who receives a
message follows the family rules in ``models.messages.send_message``, and the
sender is shown who was left out.
"""

from __future__ import annotations

import logging
import secrets

from quart import Blueprint, abort, g, request

from models.access import staff_sees_student, staff_student, staff_students_query
from models.entities import Person, School, SchoolClass
from models.messages import (
    GENERAL,
    SECTION,
    InvalidMessage,
    guardians_of,
    send_message,
    send_to_class,
)
from models.names import by_surname
from web.i18n import gettext
from web.rendering import render
from web.security import staff_only, wants_fragment

bp = Blueprint("staff_messages", __name__, url_prefix="/staff/messages")
security_log = logging.getLogger("inzage.security")

GUARDIANS = "guardians"


@bp.get("/")
@staff_only
async def index():
    """List the classes and students this staff member may write about."""
    classes = await _classes_query(g.person).order_by("name", "id")
    students = by_surname(await staff_students_query(g.person))
    return await render("staff_messages/index.html", classes=classes, students=students)


def _classes_query(staff: Person):
    query = SchoolClass.filter(school_id=staff.school_id, is_homeroom=True)
    if staff.staff_role in ("admin", "care"):
        return query
    if staff.staff_role == "mentor":
        return query.filter(mentor_id=staff.id)
    return query.filter(id=-1)


async def _class_or_404(class_id: int) -> SchoolClass:
    found = await SchoolClass.filter(id=class_id).first()
    allowed = found is not None and staff_sees_student(
        g.person.staff_role,
        g.person.id,
        g.person.school_id,
        found.school_id,
        found.mentor_id,
    )
    if not allowed:
        security_log.info(
            "staff class refused person=%s class=%s", g.person.id, class_id
        )
        abort(404)
    return found


async def _student_or_404(student_id: int):
    student = await staff_student(g.person, student_id)
    if student is None:
        security_log.info(
            "staff access refused person=%s student=%s", g.person.id, student_id
        )
        abort(404)
    return student


async def _linked_persons(student) -> list[Person]:
    persons = await Person.filter(
        relations__student_id=student.id, relations__active=True, active=True
    )
    return by_surname(persons)


def _topics(school: School) -> list[str]:
    return [GENERAL, *school.sections_in_use()]


def _read_form(form) -> dict:
    return {
        "to": form.get("to", GUARDIANS)[:20],
        "topic": form.get("topic", GENERAL)[:20],
        "subject": form.get("subject", "")[:400],
        "body": form.get("body", "")[:20_000],
        "nonce": form.get("nonce", "")[:64] or None,
    }


def _kind_and_section(topic: str, school: School) -> tuple[str, str | None]:
    if topic == GENERAL:
        return GENERAL, None
    if topic in school.sections_in_use():
        return SECTION, topic
    raise InvalidMessage("A message is about a section, general, or sharing.")


async def _page(template: str, status: int = 200, **context):
    name = f"staff_messages/partials/{template}" if wants_fragment() else None
    return await render(name or f"staff_messages/{template}", **context), status


@bp.get("/students/<int:student_id>")
@staff_only
async def compose_student(student_id: int):
    """Show the form to write to a student's guardians or one linked person."""
    student = await _student_or_404(student_id)
    form = {"to": GUARDIANS, "topic": GENERAL, "nonce": secrets.token_urlsafe(16)}
    return await _page(
        "compose.html",
        student=student,
        school_class=None,
        persons=await _linked_persons(student),
        topics=_topics(student.school),
        form=form,
        error=None,
    )


@bp.post("/students/<int:student_id>")
@staff_only
async def send_student(student_id: int):
    """Send to all guardians of a student, or to one person linked to them."""
    student = await _student_or_404(student_id)
    form = _read_form(await request.form)
    persons = await _linked_persons(student)
    context = dict(
        student=student,
        school_class=None,
        persons=persons,
        topics=_topics(student.school),
        form=form,
    )
    if form["to"] == GUARDIANS:
        recipients = await guardians_of(student)
    else:
        # Only a person linked to this student; anything else is refused.
        recipients = [p for p in persons if str(p.id) == form["to"]]
        if not recipients:
            error = gettext("Choose who receives the message.")
            return await _page("compose.html", 400, error=error, **context)
    try:
        kind, section = _kind_and_section(form["topic"], student.school)
        result = await send_message(
            school=student.school,
            sender=g.person,
            recipients=recipients,
            student=student,
            kind=kind,
            section=section,
            subject=form["subject"],
            body=form["body"],
            idempotency_key=form["nonce"],
        )
    except InvalidMessage as invalid:
        return await _page("compose.html", 400, error=gettext(str(invalid)), **context)
    return await _page("result.html", results=[(student, result)])


@bp.get("/classes/<int:class_id>")
@staff_only
async def compose_class(class_id: int):
    """Show the form to write to the guardians of a class, one message a student."""
    school_class = await _class_or_404(class_id)
    school = await School.get(id=school_class.school_id)
    form = {"to": GUARDIANS, "topic": GENERAL, "nonce": secrets.token_urlsafe(16)}
    return await _page(
        "compose.html",
        student=None,
        school_class=school_class,
        persons=[],
        topics=_topics(school),
        form=form,
        error=None,
    )


@bp.post("/classes/<int:class_id>")
@staff_only
async def send_class(class_id: int):
    """Send one message per student of the class to that student's guardians."""
    school_class = await _class_or_404(class_id)
    school = await School.get(id=school_class.school_id)
    form = _read_form(await request.form)
    context = dict(
        student=None,
        school_class=school_class,
        persons=[],
        topics=_topics(school),
        form=form,
    )
    try:
        kind, section = _kind_and_section(form["topic"], school)
        results = await send_to_class(
            school_class=school_class,
            school=school,
            sender=g.person,
            kind=kind,
            section=section,
            subject=form["subject"],
            body=form["body"],
            idempotency_key=form["nonce"],
        )
    except InvalidMessage as invalid:
        return await _page("compose.html", 400, error=gettext(str(invalid)), **context)
    return await _page("result.html", results=results)
