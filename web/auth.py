"""Signing in and out, and the health route."""

from __future__ import annotations

import logging

from quart import Blueprint, g, redirect, request, url_for

from models.entities import Person, School
from models.passwords import verify_password
from models.sessions import COOKIE_NAME, end_session
from web.i18n import LANGUAGES, gettext
from web.rendering import render
from web.security import same_site_path
from web.twofactor import finish_password_step

bp = Blueprint("auth", __name__)
security_log = logging.getLogger("inzage.security")

MAX_FIELD_LENGTH = 320
MAX_PASSWORD_LENGTH = 256


def normalise_email(value: str) -> str:
    """Compare addresses case-insensitively after trimming (SPEC.md section 2)."""
    return value.strip().lower()


async def find_account(school_code: str, email: str) -> Person | None:
    school = await School.filter(code=school_code.strip().upper()).first()
    if school is None or not email:
        return None
    return await Person.filter(
        school_id=school.id, email=normalise_email(email), active=True
    ).first()


@bp.get("/login")
async def sign_in():
    """Show the sign-in form; a signed-in person goes to their start page."""
    if g.person is not None:
        return redirect(url_for("portal.welcome"))
    return await render("auth/sign_in.html", error=None, form={})


@bp.post("/login")
async def sign_in_post():
    """Check school code, e-mail and password; one message for every failure."""
    form = await request.form
    school_code = form.get("school", "")[:MAX_FIELD_LENGTH]
    email = form.get("email", "")[:MAX_FIELD_LENGTH]
    password = form.get("password", "")[: MAX_PASSWORD_LENGTH + 1]

    person = await find_account(school_code, email)
    usable = person is not None and person.can_sign_in and person.password_hash
    # Always verify, against a dummy hash when there is no account, so that
    # an unknown school or address takes as long as a wrong password.
    valid = await verify_password(person.password_hash if usable else None, password)
    if not (usable and valid):
        security_log.info("sign-in failed person=%s", person.id if person else None)
        error = gettext(
            "The school code, e-mail address or password is not right. "
            "Check them and try again."
        )
        body = await render(
            "auth/sign_in.html",
            error=error,
            form={"school": school_code, "email": email},
        )
        return body, 400

    return await finish_password_step(person)


@bp.post("/logout")
async def sign_out():
    """End the session on the server and clear what the browser kept."""
    await end_session(request.cookies.get(COOKIE_NAME))
    if g.person is not None:
        security_log.info("sign-out person=%s", g.person.id)
    response = redirect(url_for("auth.sign_in"))
    response.delete_cookie(COOKIE_NAME, path="/", secure=True, httponly=True)
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


@bp.post("/language")
async def choose_language():
    """Switch the interface language, for the person or this browser."""
    form = await request.form
    language = form.get("language", "")
    if language not in LANGUAGES:
        return redirect(url_for("portal.welcome"))
    if g.person is not None:
        await Person.filter(id=g.person.id).update(language=language)
    back = same_site_path(request.referrer) or url_for("portal.welcome")
    response = redirect(back)
    response.set_cookie(
        "lang", language, secure=True, httponly=True, samesite="Lax", path="/"
    )
    return response


@bp.get("/health")
async def health():
    """Answer without touching the database, for load balancers."""
    return {"status": "ok"}
