"""The staff part's two-factor policy: the school setting, and per person.

Admins only. The school can require two-step verification of everyone; an
admin can require it of one person, and reset it, which clears the person's
key and recovery codes so that they set it up again at their next sign-in.
"""

from __future__ import annotations

import logging
from functools import wraps

from quart import Blueprint, abort, g, redirect, request, url_for
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models import totp
from models.entities import Person, School
from models.names import by_surname
from models.outbox import add_email
from web.records import page_number
from web.rendering import render
from web.security import staff_only, wants_fragment

bp = Blueprint("staff_security", __name__, url_prefix="/staff/security")
security_log = logging.getLogger("inzage.security")

PAGE_SIZE = 50
MAX_QUERY_LENGTH = 100


def admin_only(view):
    """Let only admins through; other staff and everyone else get 403."""

    @staff_only
    @wraps(view)
    async def wrapper(*args, **kwargs):
        if g.person.staff_role != "admin":
            abort(403)
        return await view(*args, **kwargs)

    return wrapper


def _wanted(form) -> bool:
    """Read an explicit wanted state; anything but "on" or "off" is refused."""
    value = form.get("required", "")
    if value not in ("on", "off"):
        abort(400)
    return value == "on"


async def _person_of_school(form) -> Person:
    """Return the person the form names, only from the admin's own school."""
    try:
        person_id = int(form.get("person_id", ""))
    except ValueError:
        abort(400)
    person = await Person.get_or_none(id=person_id, school_id=g.person.school_id)
    if person is None:
        abort(404)
    return person


@bp.get("/")
@admin_only
async def overview():
    """Show the school's 2FA setting and its people with theirs."""
    school = await School.get(id=g.person.school_id)
    number = page_number(request.args.get("page"))
    query = request.args.get("q", "").strip()[:MAX_QUERY_LENGTH]

    people = Person.filter(school_id=school.id, active=True)
    if query:
        people = people.filter(
            Q(given_name__icontains=query)
            | Q(family_name__icontains=query)
            | Q(email__icontains=query)
        )
    # Sorted as the other staff lists are, on the surname without its prefix,
    # which the database cannot order by: the names of the matching people
    # are read (a school's few thousand), and one page of them in full.
    names = await people.only("id", "family_name", "given_name")
    start = (number - 1) * PAGE_SIZE
    wanted = [p.id for p in by_surname(names)[start : start + PAGE_SIZE + 1]]
    found = {p.id: p for p in await Person.filter(id__in=wanted)}
    rows = [found[pid] for pid in wanted if pid in found]
    return await render(
        "staff_security/overview.html",
        school=school,
        people=rows[:PAGE_SIZE],
        has_next=len(rows) > PAGE_SIZE,
        page=number,
        query=query,
    )


@bp.post("/school")
@admin_only
async def school_2fa():
    """Require two-step verification of everyone at the school, or stop."""
    wanted = _wanted(await request.form)
    await School.filter(id=g.person.school_id).update(require_2fa=wanted)
    security_log.info(
        "2fa school setting school=%s required=%s by=%s",
        g.person.school_id,
        wanted,
        g.person.id,
    )
    return redirect(url_for("staff_security.overview"))


@bp.post("/people/require")
@admin_only
async def require_2fa():
    """Require two-step verification of one person, or stop requiring it."""
    form = await request.form
    person = await _person_of_school(form)
    wanted = _wanted(form)

    await Person.filter(id=person.id).update(require_2fa=wanted)
    person.require_2fa = wanted
    security_log.info(
        "2fa person setting person=%s required=%s by=%s", person.id, wanted, g.person.id
    )
    return await _row_or_back(person)


@bp.post("/people/reset")
@admin_only
async def reset_2fa():
    """Clear a person's 2FA; they set it up again at their next sign-in."""
    person = await _person_of_school(await request.form)

    async with in_transaction():
        await totp.clear_two_factor(person.id)
        # Required from now on: a reset is for setting it up again, never a
        # way to sign in with the password alone (which may be 8 characters).
        await Person.filter(id=person.id).update(require_2fa=True)
        await add_email(person, "2fa-reset")
    # A fresh start: the account's wrong-code streak goes with the old key.
    from web.auth import limiter
    from web.twofactor import code_account_key

    await limiter().clear(code_account_key(person.id))
    security_log.info("2fa reset person=%s by=%s", person.id, g.person.id)
    return await _row_or_back(await Person.get(id=person.id))


async def _row_or_back(person: Person):
    if wants_fragment():
        school = await School.get(id=g.person.school_id)
        return await render(
            "staff_security/partials/person.html",
            p=person,
            school=school,
            done=True,
        )
    return redirect(url_for("staff_security.overview"))
