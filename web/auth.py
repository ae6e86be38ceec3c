"""Signing in and out, the forgotten password and its link, and the health route."""

from __future__ import annotations

import asyncio
import logging
import time

from quart import (
    Blueprint,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    request,
    url_for,
)
from tortoise.transactions import in_transaction

from models.access import utcnow
from models.entities import Person, School, Session
from models.outbox import (
    RESET_LINK_MAX_AGE,
    add_reset_email,
    find_usable_link,
    use_link,
    void_links,
)
from models.passwords import (
    context_words,
    hash_password_async,
    needs_rehash,
    password_problem,
    two_factor_applies,
    verify_password,
)
from models.sessions import COOKIE_NAME, end_session
from models.throttle import (
    FORGOT_PER_ADDRESS,
    LOGIN_PER_ADDRESS,
    RESET_EMAILS_PER_ACCOUNT,
    Limiter,
    ThrottleUnavailable,
    account_key,
    address_key,
)
from tasks.queue import enqueue_email
from web.i18n import DEFAULT_LANGUAGE, LANGUAGES, gettext
from web.rendering import render
from web.security import same_site_path
from web.twofactor import finish_password_step

bp = Blueprint("auth", __name__)
security_log = logging.getLogger("inzage.security")

MAX_FIELD_LENGTH = 320
MAX_PASSWORD_LENGTH = 256
# The forgot-password answer never comes sooner than this, whatever the
# account, so its timing does not tell whether an e-mail was queued (A12).
FORGOT_MIN_DURATION_S = 0.35
# The password link travels from the link's address into this cookie, so the
# token leaves the address bar at once and no Referer can carry it (A38).
RESET_COOKIE = "__Secure-reset"
RESET_COOKIE_PATH = "/reset"


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


def limiter() -> Limiter:
    """The app's throttle counters, in Redis when configured."""
    if "limiter" not in current_app.extensions:
        settings = current_app.config["INZAGE"]
        current_app.extensions["limiter"] = Limiter(settings.redis_url)
    return current_app.extensions["limiter"]


def client_address() -> str:
    """The socket peer; behind a proxy, what ProxyFixMiddleware made of it (A39)."""
    return request.remote_addr or "unknown"


async def unavailable() -> tuple[str, int]:
    """Refuse rather than sign in unthrottled when no counter answers."""
    security_log.error("throttle unavailable endpoint=%s", request.endpoint)
    return await render("auth/unavailable.html"), 503


# ---------------------------------------------------------------- sign-in


@bp.get("/login")
async def sign_in():
    """Show the sign-in form; a signed-in person goes to their start page."""
    if g.person is not None:
        return redirect(url_for("portal.welcome"))
    signed_out = request.args.get("signed_out") == "1"
    response = await make_response(
        await render("auth/sign_in.html", error=None, form={}, signed_out=signed_out)
    )
    if request.args.get("lang") in LANGUAGES:
        # Sent here by sign-out, which cleared every cookie: keep the
        # person's language for the next sign-in from this browser.
        _remember_language(response, request.args["lang"])
    return response


@bp.post("/login")
async def sign_in_post():
    """Check school code, e-mail and password; one message for every failure."""
    form = await request.form
    school_code = form.get("school", "")[:MAX_FIELD_LENGTH]
    email = form.get("email", "")[:MAX_FIELD_LENGTH]
    password = form.get("password", "")[: MAX_PASSWORD_LENGTH + 1]
    address = client_address()
    key = account_key("login", school_code, email)

    try:
        address_ok = await limiter().hit(
            address_key("login", address), *LOGIN_PER_ADDRESS
        )
        waiting = await limiter().blocked_for(key)
    except ThrottleUnavailable:
        return await unavailable()
    if not address_ok or waiting > 0:
        # The same answer as a wrong password, even for the right one: the
        # delay must not tell whether the password was right (no oracle).
        security_log.info("sign-in throttled addr=%s", address)
        return await _sign_in_refused(school_code, email)

    person = await find_account(school_code, email)
    usable = person is not None and person.can_sign_in and person.password_hash
    # Always verify, against a dummy hash when there is no account, so that
    # an unknown school or address takes as long as a wrong password.
    valid = await verify_password(person.password_hash if usable else None, password)
    if not (usable and valid):
        security_log.info(
            "sign-in failed person=%s addr=%s", person.id if person else None, address
        )
        try:
            await limiter().record_failure(key)
        except ThrottleUnavailable:
            return await unavailable()
        return await _sign_in_refused(school_code, email)

    await limiter().clear(key)
    if needs_rehash(person.password_hash):
        # Hashes made with older parameters are upgraded as they are used (A35).
        new_hash = await hash_password_async(password)
        await Person.filter(id=person.id).update(password_hash=new_hash)
        security_log.info("password rehashed person=%s", person.id)
    return await finish_password_step(person)


async def _sign_in_refused(school_code: str, email: str):
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


@bp.post("/logout")
async def sign_out():
    """End the session on the server and clear what the browser kept."""
    await end_session(request.cookies.get(COOKIE_NAME))
    back = url_for("auth.sign_in")
    if g.person is not None:
        security_log.info("sign-out person=%s", g.person.id)
        language = g.person.language
        lang = language if language != DEFAULT_LANGUAGE else None
        back = url_for("auth.sign_in", signed_out=1, lang=lang)
    response = redirect(back)
    response.delete_cookie(COOKIE_NAME, path="/", secure=True, httponly=True)
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


# ---------------------------------------------------------------- forgot


@bp.get("/forgot")
async def forgot():
    """Ask for school code and e-mail address to send a password link."""
    return await render("auth/forgot.html", error=None, form={})


@bp.post("/forgot")
async def forgot_post():
    """Send a password link when the account exists; answer the same anyway."""
    started = time.monotonic()
    form = await request.form
    school_code = form.get("school", "")[:MAX_FIELD_LENGTH].strip()
    email = form.get("email", "")[:MAX_FIELD_LENGTH].strip()
    if not school_code or "@" not in email:
        error = gettext("Fill in the school code and your e-mail address.")
        body = await render(
            "auth/forgot.html",
            error=error,
            form={"school": school_code, "email": email},
        )
        return body, 400
    address = client_address()

    try:
        address_ok = await limiter().hit(
            address_key("forgot", address), *FORGOT_PER_ADDRESS
        )
        # Counted for every typed account, known or not: the same work.
        account_ok = await limiter().hit(
            account_key("reset", school_code, email), *RESET_EMAILS_PER_ACCOUNT
        )
    except ThrottleUnavailable:
        return await unavailable()

    person = await find_account(school_code, email)
    eligible = person is not None and person.can_sign_in
    outbox = None
    if eligible and address_ok and account_ok:
        outbox = await add_reset_email(person, current_app.config["SECRET_KEY"])
        security_log.info(
            "reset requested person=%s outbox=%s addr=%s", person.id, outbox.id, address
        )
    elif eligible:
        # Throttled: the last link stays valid, and the answer is the same.
        security_log.info("reset throttled person=%s addr=%s", person.id, address)
    else:
        security_log.info("reset requested person=None addr=%s", address)
    if outbox is not None:
        # After the commit; Redis being down leaves the row pending (R4).
        await enqueue_email(current_app.config["INZAGE"], outbox.id)

    body = await render("auth/forgot_sent.html")
    floor = current_app.config.get("FORGOT_MIN_DURATION_S", FORGOT_MIN_DURATION_S)
    await asyncio.sleep(max(0.0, floor - (time.monotonic() - started)))
    return body, 200


# ---------------------------------------------------------------- the link


@bp.get("/reset")
async def reset():
    """Show the form to choose a password, or say the link is no longer valid.

    The e-mail's link is ``/reset?token=...``. Opening it moves the token
    into a cookie for this path and redirects to the address without it, so
    the token leaves the address bar and the history at once and no Referer
    can carry it. A GET changes nothing: a mail scanner that opens the link
    leaves it usable.
    """
    token = request.args.get("token")
    if token is not None:
        response = redirect(url_for("auth.reset"), 303)
        if 0 < len(token) <= 100:
            response.set_cookie(
                RESET_COOKIE,
                token,
                max_age=int(RESET_LINK_MAX_AGE.total_seconds()),
                secure=True,
                httponly=True,
                samesite="Strict",
                path=RESET_COOKIE_PATH,
            )
        return response

    token = request.cookies.get(RESET_COOKIE)
    found = await find_usable_link(token) if token is not None else None
    if token is not None and found is None:
        return await _link_invalid()
    # Without the cookie (a browser may hold a SameSite=Strict cookie back
    # after a link from another site) the form still shows; saving checks.
    return await render("auth/reset.html", error=None, account=found and found[1])


@bp.post("/reset")
async def reset_post():
    """Set the password with the link: used up, all sessions ended."""
    form = await request.form
    password = form.get("password", "")[: MAX_PASSWORD_LENGTH + 1]
    repeated = form.get("password_again", "")[: MAX_PASSWORD_LENGTH + 1]
    found = await find_usable_link(request.cookies.get(RESET_COOKIE, ""))
    if found is None:
        return await _link_invalid()
    link, person = found

    school = await School.get(id=person.school_id)
    error = new_password_error(password, repeated, person, school)
    if error:
        return await render("auth/reset.html", error=error, account=person), 400

    new_hash = await hash_password_async(password)
    now = utcnow()
    async with in_transaction():
        if not await use_link(link, now):
            # Another request used the link first.
            return await _link_invalid()
        await Person.filter(id=person.id).update(
            password_hash=new_hash, password_changed_at=now
        )
        await void_links(person.id)
        await Session.filter(person_id=person.id).delete()
    # The hard lock after 100 failures is lifted by the e-mail link (b1).
    await limiter().clear(account_key("login", school.code, person.email or ""))
    security_log.info("reset used person=%s addr=%s", person.id, client_address())

    response = Response(await render("auth/reset_done.html"), status=200)
    response.delete_cookie(RESET_COOKIE, path=RESET_COOKIE_PATH, secure=True)
    return response


async def _link_invalid():
    response = Response(await render("auth/reset_invalid.html"), status=400)
    response.delete_cookie(RESET_COOKIE, path=RESET_COOKIE_PATH, secure=True)
    return response


def new_password_error(password: str, repeated: str, person, school) -> str | None:
    """Return the translated reason a new password is refused, or None."""
    if password != repeated:
        return gettext("The two passwords are not the same. Type them again.")
    problem = password_problem(
        password,
        two_factor=two_factor_applies(person, school),
        context=context_words(person, school),
    )
    if problem is None:
        return None
    return gettext(problem.message, **problem.values)


# ---------------------------------------------------------------- other


@bp.post("/language")
async def choose_language():
    """Switch the interface language, for the person or this browser."""
    form = await request.form
    language = form.get("language", "")
    if language not in LANGUAGES:
        return redirect(url_for("portal.welcome"))
    if g.person is not None:
        await Person.filter(id=g.person.id).update(language=language)
    back = same_site_path(form.get("next")) or url_for("portal.welcome")
    return _remember_language(redirect(back), language)


def _remember_language(response: Response, language: str) -> Response:
    response.set_cookie(
        "lang", language, secure=True, httponly=True, samesite="Lax", path="/"
    )
    return response


@bp.get("/health")
async def health():
    """Answer without touching the database, for load balancers."""
    return {"status": "ok"}
