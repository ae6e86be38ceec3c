"""One's own account: the overview, changing the password, and the sessions."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

from quart import Blueprint, abort, g, redirect, request, url_for
from tortoise.transactions import in_transaction
from ua_parser import parse as parse_user_agent

from models.access import utcnow
from models.entities import Person, School, Session
from models.outbox import void_links
from models.passwords import hash_password_async, verify_password
from models.sessions import COOKIE_NAME, start_session
from models.throttle import ThrottleUnavailable, account_key
from web.auth import (
    MAX_PASSWORD_LENGTH,
    client_address,
    limiter,
    new_password_error,
    unavailable,
)
from web.i18n import gettext
from web.rendering import render
from web.security import signed_in
from web.twofactor import set_session_cookie

bp = Blueprint("account", __name__, url_prefix="/account")
security_log = logging.getLogger("inzage.security")

# A change of password asks for the current one again when the last sign-in
# is older than this (SECURITY-BASELINE A18); the form here always asks.
REAUTH_WINDOW = timedelta(minutes=10)


@bp.get("/")
@signed_in
async def overview():
    """Show who is signed in and what they can change."""
    school = await School.get(id=g.person.school_id)
    done = request.args.get("done") == "password"
    return await render("account/overview.html", school=school, done=done)


@bp.get("/password")
@signed_in
async def password():
    """Show the form to change the password."""
    return await render("account/password.html", error=None)


@bp.post("/password")
@signed_in
async def password_post():
    """Change the password: the current one first, then the new one twice."""
    form = await request.form
    current = form.get("current_password", "")[: MAX_PASSWORD_LENGTH + 1]
    new = form.get("password", "")[: MAX_PASSWORD_LENGTH + 1]
    repeated = form.get("password_again", "")[: MAX_PASSWORD_LENGTH + 1]
    sign_out_others = form.get("sign_out_others") == "yes"
    person = g.person
    school = await School.get(id=person.school_id)
    key = account_key("login", school.code, person.email or "")

    # A wrong current password counts as a failed sign-in: a stolen session
    # must not become a way to guess the password (A05).
    try:
        waiting = await limiter().blocked_for(key)
    except ThrottleUnavailable:
        return await unavailable()
    valid = waiting == 0 and await verify_password(person.password_hash, current)
    if not valid:
        if waiting == 0:
            await limiter().record_failure(key)
        security_log.info(
            "password change refused person=%s addr=%s", person.id, client_address()
        )
        error = gettext("Your current password is not right.")
        return await render("account/password.html", error=error), 400
    error = new_password_error(new, repeated, person, school)
    if error:
        return await render("account/password.html", error=error), 400

    new_hash = await hash_password_async(new)
    now = utcnow()
    async with in_transaction():
        await Person.filter(id=person.id).update(
            password_hash=new_hash, password_changed_at=now
        )
        await void_links(person.id)
        # A new session id after the change (A15); the others end on request.
        others = Session.filter(person_id=person.id)
        if not sign_out_others:
            others = others.filter(id=g.session.id)
        await others.delete()
    token = await start_session(person, request.headers.get("User-Agent", ""))
    await limiter().clear(key)
    security_log.info(
        "password changed person=%s others_signed_out=%s addr=%s",
        person.id,
        sign_out_others,
        client_address(),
    )
    response = redirect(url_for("account.overview", done="password"), 303)
    return set_session_cookie(response, token)


@bp.get("/sessions")
@signed_in
async def sessions():
    """List the person's sessions: where and since when they are signed in."""
    rows = await Session.filter(person_id=g.person.id).order_by("-last_seen_at")
    school = await School.get(id=g.person.school_id)
    # The first parse compiles the library's rules: off the event loop.
    devices = await asyncio.to_thread(
        lambda: {row.id: describe_device(row.user_agent) for row in rows}
    )
    return await render(
        "account/sessions.html",
        rows=rows,
        devices=devices,
        zone=ZoneInfo(school.timezone),
        current_id=g.session.id,
    )


def describe_device(user_agent: str | None) -> str | None:
    """Name the browser and system a User-Agent header claims, for a person."""
    if not user_agent:
        return None
    found = parse_user_agent(user_agent)
    browser = found.user_agent.family if found.user_agent else None
    system = found.os.family if found.os else None
    if found.device and found.device.family not in ("Other", "Spider"):
        system = f"{system} ({found.device.family})" if system else found.device.family
    if browser and system:
        return gettext("%(browser)s on %(system)s", browser=browser, system=system)
    return browser or system


@bp.post("/sessions/end")
@signed_in
async def end_one():
    """End one of the person's other sessions."""
    form = await request.form
    raw = form.get("session_id", "")
    if not raw.isdigit() or int(raw) == g.session.id:
        abort(400)
    ended = await Session.filter(id=int(raw), person_id=g.person.id).delete()
    if not ended:
        abort(404)
    security_log.info("session ended person=%s session=%s", g.person.id, int(raw))
    return redirect(url_for("account.sessions"), 303)


@bp.post("/sessions/end-all")
@signed_in
async def end_all():
    """Sign out everywhere, this device included."""
    await Session.filter(person_id=g.person.id).delete()
    security_log.info("signed out everywhere person=%s", g.person.id)
    response = redirect(url_for("auth.sign_in"), 303)
    response.delete_cookie(COOKIE_NAME, path="/", secure=True, httponly=True)
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response
