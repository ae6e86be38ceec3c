"""The access log: "who looked at my data" for deciders, and the staff's log."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from quart import Blueprint, abort, g, request, url_for

from models import consent
from models.access import staff_student, staff_students_query
from models.entities import School, Student
from web.records import page_number
from web.rendering import render
from web.security import (
    current_portal_view,
    reads_portal_view,
    signed_in,
    staff_only,
    wants_fragment,
)

bp = Blueprint("access_log", __name__)
security_log = logging.getLogger("inzage.security")


@bp.get("/students/<int:student_id>/log")
@signed_in
@reads_portal_view
async def family_log(student_id: int):
    """Show a decider who looked at their student's file: person, section, when."""
    view = await current_portal_view(student_id)
    # The log says who else the family works with: it is the deciders'.
    if view is None or not consent.decides(view.family, g.person.id):
        security_log.info(
            "access log refused person=%s student=%s", g.person.id, student_id
        )
        abort(404)
    number = page_number(request.args.get("page"))
    page = await consent.read_log(Student.filter(id=student_id), number=number)

    context = dict(
        view=view,
        page=page,
        zone=ZoneInfo(view.school.timezone),
        page_url=_page_url,
        filters={},
        endpoint="access_log.family_log",
        args={"student_id": student_id},
    )
    if wants_fragment():
        return await render("access_log/partials/entries.html", **context)
    return await render(
        "access_log/family.html",
        children=view.children,
        section=None,
        log_page=True,
        **context,
    )


def _page_url(endpoint: str, args: dict, number: int) -> str:
    return url_for(endpoint, **{**args, "page": number})


class Filters:
    """The staff log's filters, read from the query string; bad ones say why."""

    def __init__(self, args, zone: ZoneInfo) -> None:
        self.errors: list[str] = []
        self.student_id = self._number(args.get("student"), "student")
        self.person_id = self._number(args.get("person"), "person")
        self.since_day = self._day(args.get("from"), "from")
        self.until_day = self._day(args.get("to"), "to")
        # A period that ends before it starts holds nothing: say so.
        self.backwards = bool(
            self.since_day and self.until_day and self.since_day > self.until_day
        )
        self.zone = zone

    def _number(self, raw: str | None, name: str) -> int | None:
        if not raw:
            return None
        if raw.isdigit() and len(raw) < 12:
            return int(raw)
        self.errors.append(name)
        return None

    def _day(self, raw: str | None, name: str) -> date | None:
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.errors.append(name)
            return None

    def _start_of(self, day: date | None) -> datetime | None:
        if day is None:
            return None
        return datetime.combine(day, time(), self.zone)

    @property
    def since(self) -> datetime | None:
        return self._start_of(self.since_day)

    @property
    def until(self) -> datetime | None:
        # "To" includes that whole day, in the school's time zone.
        if self.until_day is None:
            return None
        return self._start_of(self.until_day + timedelta(days=1))

    def as_args(self) -> dict:
        args = {
            "student": self.student_id,
            "person": self.person_id,
            "from": self.since_day.isoformat() if self.since_day else None,
            "to": self.until_day.isoformat() if self.until_day else None,
        }
        return {k: v for k, v in args.items() if v is not None}


@bp.get("/staff/log")
@staff_only
async def staff_log():
    """Show staff the access log of the students their role allows, 50 a page."""
    school = await School.get(id=g.person.school_id)
    zone = ZoneInfo(school.timezone)
    filters = Filters(request.args, zone)
    number = page_number(request.args.get("page"))
    student = None
    if filters.student_id is not None:
        # Outside the role, a student's log is as absent as the student.
        student = await staff_student(g.person, filters.student_id)
        if student is None:
            abort(404)

    page = await consent.read_log(
        staff_students_query(g.person),
        student_id=filters.student_id,
        person_id=filters.person_id,
        since=filters.since,
        until=filters.until,
        number=number,
    )
    context = dict(
        page=page,
        zone=zone,
        filters=filters,
        student=student,
        page_url=_page_url,
        endpoint="access_log.staff_log",
        args=filters.as_args(),
        # The fragment too: a filtered or next page keeps its student column.
        show_student=True,
        filtered=bool(filters.as_args()),
    )
    if wants_fragment():
        return await render("access_log/partials/entries.html", **context)
    return await render("access_log/staff.html", **context)
