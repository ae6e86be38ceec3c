"""Instellen toegang: the deciders' grid, what is shared with everyone else,
paper approvals recorded by staff, and the school's guardians-until-18 setting.

Who decides and who sees what is ``models.access``'s answer, reached through
``models.consent``; the views only read input, call it and render.
"""

from __future__ import annotations

import logging

from quart import Blueprint, abort, g, redirect, request, url_for

from models import consent
from models.access import load_family, staff_student, utcnow
from models.entities import School
from web.rendering import render
from web.security import (
    current_portal_view,
    reads_portal_view,
    signed_in,
    staff_only,
    wants_fragment,
)

bp = Blueprint("sharing", __name__)
logger = logging.getLogger(__name__)
security_log = logging.getLogger("inzage.security")


@bp.record_once
def _add_template_globals(state) -> None:
    # The menu names its entry after the person's part in the sharing.
    for env in (state.app.jinja_env, state.app.extensions.get("plain_jinja")):
        if env is not None:
            env.globals["decides"] = consent.decides


# ------------------------------------------------------------- the family part


async def _view_or_404(student_id: int):
    view = await current_portal_view(student_id)
    if view is None:
        security_log.info(
            "sharing refused person=%s student=%s", g.person.id, student_id
        )
        abort(404)
    return view


@bp.get("/students/<int:student_id>/sharing")
@signed_in
@reads_portal_view
async def grid(student_id: int):
    """Show a decider the grid; show anyone else what is shared with them."""
    view = await _view_or_404(student_id)
    household = await consent.load_household(view.student, view.school, view.family)
    me = g.person.id

    if consent.decides(view.family, me):
        grid = await consent.load_grid(household, seen_by=me)
        context = dict(
            view=view,
            grid=grid,
            editable=True,
            post_url=url_for("sharing.set_cell", student_id=student_id),
            decider=None,
        )
        if wants_fragment():
            return await render("sharing/partials/grid.html", **context)
        return await render(
            "sharing/grid.html",
            children=view.children,
            section=None,
            sharing_page=True,
            **context,
        )

    grid = await consent.load_grid(household, seen_by=me, only=me)
    return await render(
        "sharing/shared.html",
        view=view,
        grid=grid,
        editable=False,
        decider=None,
        children=view.children,
        section=None,
        sharing_page=True,
    )


class BadInput(Exception):
    """A form that is not a cell change; the edge answers 400."""


async def _cell_form() -> tuple[int, str, str]:
    form = await request.form
    wanted = form.get("want", "")
    if wanted not in consent.WANTED_STATES:
        raise BadInput("want must be approve or withdraw")
    try:
        viewer_id = int(form.get("viewer", ""))
    except ValueError:
        raise BadInput("viewer must be a number") from None
    return viewer_id, form.get("section", "")[:20], wanted


@bp.post("/students/<int:student_id>/sharing")
@signed_in
@reads_portal_view
async def set_cell(student_id: int):
    """Set this decider's own approval of one cell to the state the form names."""
    view = await _view_or_404(student_id)
    try:
        viewer_id, section, wanted = await _cell_form()
    except BadInput:
        abort(400)
    household = await consent.load_household(view.student, view.school, view.family)

    try:
        change = await consent.set_approval(
            household,
            decider_id=g.person.id,
            viewer_id=viewer_id,
            section=section,
            wanted=wanted,
            actor_id=g.person.id,
            role=view.kind,
        )
    except consent.NotAllowed:
        security_log.info(
            "sharing change refused person=%s student=%s", g.person.id, student_id
        )
        abort(404)

    if wants_fragment():
        grid = consent.Grid(household, (), (), g.person.id)
        return await render(
            "sharing/partials/cell.html",
            cell=change.cell,
            grid=grid,
            editable=True,
            post_url=url_for("sharing.set_cell", student_id=student_id),
            decider=None,
            announce=True,
        )
    anchor = f"#cell-{viewer_id}-{section}"
    return redirect(url_for("sharing.grid", student_id=student_id) + anchor, 303)


# ------------------------------------------------------------- the staff part


async def _staff_household(student_id: int):
    student = await staff_student(g.person, student_id)
    if student is None:
        security_log.info(
            "staff sharing refused person=%s student=%s", g.person.id, student_id
        )
        abort(404)
    family = await load_family(student, student.school, utcnow())
    return await consent.load_household(student, student.school, family)


def _decider_arg(household: consent.Household, raw: str | None) -> int | None:
    try:
        decider = int(raw or "")
    except ValueError:
        return None
    return decider if decider in household.decider_ids else None


@bp.get("/staff/students/<int:student_id>/sharing")
@staff_only
async def staff_grid(student_id: int):
    """Show staff a student's grid; with ?decider= set, record on paper for them."""
    household = await _staff_household(student_id)
    decider = _decider_arg(household, request.args.get("decider"))
    grid = await consent.load_grid(household, seen_by=decider)
    context = dict(
        student=household.student,
        sections=household.school.sections_in_use(),
        section=None,
        grid=grid,
        editable=decider is not None,
        decider=decider,
        post_url=url_for("sharing.record_paper", student_id=student_id),
    )
    if wants_fragment():
        return await render("sharing/partials/grid.html", **context)
    return await render("sharing/staff_grid.html", **context)


@bp.post("/staff/students/<int:student_id>/sharing")
@staff_only
async def record_paper(student_id: int):
    """Record an approval or withdrawal a decider gave the school on paper."""
    household = await _staff_household(student_id)
    form = await request.form
    decider = _decider_arg(household, form.get("decider"))
    try:
        viewer_id, section, wanted = await _cell_form()
    except BadInput:
        abort(400)
    if decider is None:
        abort(404)

    try:
        change = await consent.set_approval(
            household,
            decider_id=decider,
            viewer_id=viewer_id,
            section=section,
            wanted=wanted,
            actor_id=g.person.id,
            role=f"staff:{g.person.staff_role}",
            recorded_by_id=g.person.id,
        )
    except consent.NotAllowed:
        abort(404)

    post_url = url_for("sharing.record_paper", student_id=student_id)
    if wants_fragment():
        grid = consent.Grid(household, (), (), decider)
        return await render(
            "sharing/partials/cell.html",
            cell=change.cell,
            grid=grid,
            editable=True,
            post_url=post_url,
            decider=decider,
            announce=True,
        )
    target = url_for("sharing.staff_grid", student_id=student_id, decider=decider)
    return redirect(f"{target}#cell-{viewer_id}-{section}", 303)


# ------------------------------------------------------------- the school setting


def _admin_only() -> None:
    if g.person.staff_role != "admin":
        abort(403)


@bp.get("/staff/settings/sharing")
@staff_only
async def settings():
    """Show an admin which sections stay visible to guardians until 18."""
    _admin_only()
    school = await School.get(id=g.person.school_id)
    return await render(
        "sharing/settings.html",
        school=school,
        sections=school.sections_in_use(),
        kept=set(school.guardian_sections_until_18 or ()),
        saved=request.args.get("saved") == "1",
    )


@bp.post("/staff/settings/sharing")
@staff_only
async def save_settings():
    """Save the sections that stay visible to guardians of 16- and 17-year-olds."""
    _admin_only()
    school = await School.get(id=g.person.school_id)
    chosen = set((await request.form).getlist("section"))
    kept = [key for key in school.sections_in_use() if key in chosen]

    await School.filter(id=school.id).update(guardian_sections_until_18=kept)
    logger.info(
        "guardian sections until 18 set school=%s count=%s", school.id, len(kept)
    )
    return redirect(url_for("sharing.settings", saved=1), 303)
