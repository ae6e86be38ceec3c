"""The family part: welcome page, child switcher, one page per section."""

from __future__ import annotations

import logging

from quart import Blueprint, abort, g, redirect, request, url_for

from models.access import linked_students
from web.records import (
    page_number,
    send_document,
    view_section,
)
from web.rendering import render
from web.security import (
    current_portal_view,
    reads_portal_view,
    reads_section_page,
    signed_in,
    wants_fragment,
)

bp = Blueprint("portal", __name__)
security_log = logging.getLogger("inzage.security")


@bp.get("/")
async def welcome():
    """Send a visitor to sign-in, staff to their part, family to the first child."""
    if g.person is None:
        return redirect(url_for("auth.sign_in"))
    children = await linked_students(g.person.id)
    if children:
        return redirect(url_for("portal.student", student_id=children[0].id))
    if g.person.staff_role:
        return redirect(url_for("staff.students"))
    return await render("portal/no_students.html")


async def _view_or_404(student_id: int):
    # Student data a person may not see answers 404, never 403: it should not
    # even reveal that the student exists.
    view = await current_portal_view(student_id)
    if view is None:
        security_log.info(
            "portal access refused person=%s student=%s", g.person.id, student_id
        )
        abort(404)
    return view


@bp.get("/students/<int:student_id>/")
@signed_in
@reads_portal_view
async def student(student_id: int):
    """Show the welcome page for one child: the sections this person may see."""
    view = await _view_or_404(student_id)
    return await render(
        "portal/welcome.html", view=view, children=view.children, section=None
    )


@bp.get("/students/<int:student_id>/<section>")
@signed_in
@reads_portal_view
@reads_section_page
async def section(student_id: int, section: str):
    """Show one section's records, newest first, 50 to a page."""
    view = await _view_or_404(student_id)
    if not view.sees(section):
        security_log.info(
            "portal access refused person=%s student=%s section=%s",
            g.person.id,
            student_id,
            section[:20],
        )
        abort(404)
    number = page_number(request.args.get("page"))
    page, details = await view_section(
        g.person, view.student, section, number, view.kind, read_ahead=g.read_ahead
    )

    context = dict(view=view, section=section, page=page, details=details)
    if wants_fragment():
        return await render("portal/partials/records.html", swapped=True, **context)
    return await render("portal/section.html", children=view.children, **context)


@bp.get("/students/<int:student_id>/documents/<int:document_id>")
@signed_in
@reads_portal_view
async def download(student_id: int, document_id: int):
    """Send a document's file, when the person may see the documents section."""
    view = await _view_or_404(student_id)
    if not view.sees("documents"):
        abort(404)
    return await send_document(g.person, student_id, document_id, view.kind)
