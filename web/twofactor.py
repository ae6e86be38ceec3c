"""Two-factor sign-in: the code step, set-up, switching off, and the guard.

``finish_password_step`` is the one door from the password check into a
session. A person with 2FA on, or one who must have it and has not set it up,
gets a *pending* session: a new session id that opens only the code page or
the set-up pages, and what SPEC.md section 11 lets answer anyway (sign-in,
sign-out, forgotten password, the password link, static files, health).
The code or the set-up turns it into a full session with another new id.
"""

from __future__ import annotations

import base64
import logging
from datetime import timedelta

import qrcode
from qrcode.image.svg import SvgPathImage
from quart import Blueprint, Quart, Response, current_app, g, redirect, request, url_for
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from models import totp
from models.access import utcnow
from models.entities import Person, School, Session
from models.passwords import normalise, verify_password
from models.sessions import (
    COOKIE_NAME,
    end_session,
    load_session,
    start_session,
    token_hash,
)
from models.throttle import (
    HARD_LOCK_FAILURES,
    HARD_LOCK_S,
    ThrottleUnavailable,
    code_delay_s,
)
from web.i18n import LANGUAGES, gettext
from web.rendering import render
from web.security import htmx, to_sign_in

bp = Blueprint("twofactor", __name__)
security_log = logging.getLogger("inzage.security")

# After this many wrong codes the half-finished sign-in ends (baseline b1).
CODE_FAILURES_MAX = 10
# Switching 2FA off within this time of the last sign-in needs no new code.
REAUTH_WINDOW = timedelta(minutes=10)
# A password this long may stand alone (SECURITY-BASELINE A01).
SINGLE_FACTOR_PASSWORD_MIN = 15
MAX_PASSWORD_LENGTH = 256
MAX_CODE_LENGTH = 64

# What answers a pending session besides the code and set-up pages: SPEC.md
# section 11, plus the language switch, which answers signed-out visitors
# alike and shows nothing. Everything else is sent to the code or set-up page.
PENDING_ALLOWED = frozenset(
    {
        "static",
        "auth.health",
        "auth.sign_in",
        "auth.sign_in_post",
        "auth.sign_out",
        "auth.choose_language",
    }
)
# The forgotten-password form and the password link (web/auth.py).
PENDING_ALLOWED_PREFIXES = ("auth.forgot", "auth.reset")
CODE_PAGES = frozenset({"twofactor.code", "twofactor.code_post"})
SETUP_PAGES = frozenset(
    {"twofactor.setup", "twofactor.setup_start", "twofactor.setup_post"}
)


def init_app(app: Quart) -> None:
    """Register the pending-session guard and the blueprint.

    Call after the request hook that loads the session, so the guard runs
    after it (Quart runs before-request functions in registration order).
    """
    app.before_request(guard_pending_session)
    app.register_blueprint(bp)


def pending_allowed(endpoint: str | None) -> bool:
    """True for an endpoint that answers a pending session as a signed-out one."""
    if endpoint is None:
        return False
    return endpoint in PENDING_ALLOWED or endpoint.startswith(PENDING_ALLOWED_PREFIXES)


async def guard_pending_session():
    """Let a pending session reach only its own step and the allowed routes.

    A pending session never counts as signed in: ``g.person`` is None and the
    person waits in ``g.pending_person`` for the code and set-up pages.
    """
    g.pending_person = None
    session = g.get("session")
    if session is None or not session.pending_2fa:
        return None
    person = g.person
    g.person = None
    g.pending_person = person
    endpoint = request.endpoint
    own_pages = CODE_PAGES if person.totp_enabled else SETUP_PAGES
    if pending_allowed(endpoint) or endpoint in own_pages:
        return None
    return _to_pending_step(person)


def _to_pending_step(person: Person) -> Response:
    endpoint = "twofactor.code" if person.totp_enabled else "twofactor.setup"
    target = url_for(endpoint)
    if htmx():
        response = Response("", status=401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


# ---------------------------------------------------------------- sessions


def set_session_cookie(response: Response, token: str) -> Response:
    response.set_cookie(
        COOKIE_NAME, token, secure=True, httponly=True, samesite="Lax", path="/"
    )
    return response


async def _new_session(person: Person, *, pending: bool) -> str:
    """End the request's session and start another: a new id every step (A15)."""
    await end_session(request.cookies.get(COOKIE_NAME))
    user_agent = request.headers.get("User-Agent", "")
    async with in_transaction():
        token = await start_session(person, user_agent)
        if pending:
            # In the same transaction: the row is never a full session.
            await Session.filter(token_hash=token_hash(token)).update(
                pending_2fa=True, authenticated_at=None
            )
    return token


async def _use_session(token: str) -> None:
    """Make the new session the request's, so the page renders its CSRF token."""
    active = await load_session(token, touch=False)
    g.session = active.row if active else None
    g.person = active.person if active else None
    g.pending_person = None


async def finish_password_step(person: Person) -> Response:
    """Start the session of a person whose password was right."""
    chosen = request.cookies.get("lang")
    if chosen in LANGUAGES and chosen != person.language:
        # The sign-in page was in the language this browser chose there: the
        # portal goes on in it, rather than switching back after the password.
        await Person.filter(id=person.id).update(language=chosen)
        person.language = chosen
    school = await School.get(id=person.school_id)
    required = totp.is_required(person, school.require_2fa)
    if person.totp_enabled or required:
        token = await _new_session(person, pending=True)
        step = "code" if person.totp_enabled else "set-up"
        security_log.info("sign-in password ok, 2fa %s next person=%s", step, person.id)
        return set_session_cookie(_to_pending_step(person), token)

    token = await _new_session(person, pending=False)
    await Person.filter(id=person.id).update(last_sign_in_at=utcnow())
    security_log.info("sign-in person=%s", person.id)
    return set_session_cookie(redirect(url_for("portal.welcome")), token)


async def _complete_sign_in(person: Person) -> str:
    token = await _new_session(person, pending=False)
    await Person.filter(id=person.id).update(last_sign_in_at=utcnow())
    return token


# ---------------------------------------------------------------- code step


def _secret_of(person: Person) -> str | None:
    if not person.totp_secret:
        return None
    try:
        return totp.decrypt_secret(
            person.totp_secret, current_app.config["SECRET_KEY"], person.id
        )
    except totp.SecretUnreadable:
        # The server secret changed; only an admin's reset helps now.
        security_log.warning("2fa secret unreadable person=%s", person.id)
        return None


async def _check_code(person: Person, typed: str) -> str | None:
    """Return "code" or "recovery" when the typed code signs the person in."""
    now = utcnow()
    if totp.normalise_code(typed) is not None:
        secret = _secret_of(person)
        if secret is None:
            return None
        step = totp.verify(secret, typed, person.totp_last_step, now)
        if step is not None and await totp.accept_step(person.id, step):
            return "code"
        return None
    if await totp.use_recovery_code(person.id, typed, now):
        return "recovery"
    return None


def code_account_key(person_id: int) -> str:
    return f"code:person:{person_id}"


def code_account_delay_s(failures: int) -> float:
    """1, 2, 4 ... s per wrong code, at most 15 minutes; locked at 100 in a row.

    An admin's reset of the person's 2FA ends the lock (NIST 800-63B 5.2.2:
    no more than 100 consecutive failures).
    """
    if failures >= HARD_LOCK_FAILURES:
        return HARD_LOCK_S
    return code_delay_s(failures)


def _wrong_code_message() -> str:
    # One message for a wrong code and for a throttled attempt: no oracle.
    return gettext(
        "That code was not accepted. Check the code in your app, or the "
        "recovery code you typed, wait a moment and try again."
    )


@bp.get("/login/code")
async def code():
    """Ask for the code from the authenticator app, or a recovery code."""
    if g.pending_person is None:
        return _not_pending()
    return await render("twofactor/code.html", error=None)


def _not_pending() -> Response:
    if g.person is not None:
        return redirect(url_for("portal.welcome"))
    return to_sign_in()


@bp.post("/login/code")
async def code_post():
    """Check the code; throttle wrong ones; end the sign-in after ten."""
    person, session = g.pending_person, g.session
    if person is None:
        return _not_pending()
    form = await request.form
    typed = form.get("code", "")[:MAX_CODE_LENGTH]

    # The account's own ladder: it outlives the session, so signing in again
    # with the password does not buy ten fresh guesses (baseline A10).
    from web.auth import limiter, unavailable

    account = code_account_key(person.id)
    try:
        waiting = await limiter().blocked_for(account)
    except ThrottleUnavailable:
        return await unavailable()
    if waiting > 0:
        security_log.info("2fa code throttled person=%s", person.id)
        return await _code_refused()

    now = utcnow()
    # Claim this attempt first, in one UPDATE: while the delay after the last
    # wrong code runs, nothing is checked, however many requests arrive. The
    # delay set here is the one that applies if this attempt is wrong:
    # 1, 2, 4, 8 ... seconds (django-otp's ThrottlingMixin, baseline b1).
    delay = timedelta(seconds=2 ** min(session.code_failures, 16))
    claimed = await Session.filter(
        Q(id=session.id) & (Q(next_code_at__isnull=True) | Q(next_code_at__lte=now))
    ).update(next_code_at=now + delay)
    if not claimed:
        security_log.info("2fa code throttled person=%s", person.id)
        return await _code_refused()

    method = await _check_code(person, typed)
    if method is None:
        try:
            await limiter().record_failure(account, code_account_delay_s)
        except ThrottleUnavailable:
            return await unavailable()
        return await _code_wrong(person, session)

    await limiter().clear(account)
    token = await _complete_sign_in(person)
    security_log.info("2fa sign-in person=%s method=%s", person.id, method)
    return set_session_cookie(redirect(url_for("portal.welcome")), token)


async def _code_refused():
    body = await render("twofactor/code.html", error=_wrong_code_message())
    return body, 400


async def _code_wrong(person: Person, session: Session):
    await Session.filter(id=session.id).update(code_failures=F("code_failures") + 1)
    failures = await Session.filter(id=session.id).values_list(
        "code_failures", flat=True
    )
    count = failures[0] if failures else CODE_FAILURES_MAX
    security_log.info("2fa code failed person=%s failures=%s", person.id, count)
    if count < CODE_FAILURES_MAX:
        return await _code_refused()

    # Ten wrong codes: the half-finished sign-in ends; the password again.
    await Session.filter(id=session.id).delete()
    security_log.warning("2fa sign-in ended after wrong codes person=%s", person.id)
    response = redirect(url_for("auth.sign_in"))
    response.delete_cookie(COOKIE_NAME, path="/", secure=True, httponly=True)
    return response


# ---------------------------------------------------------------- set-up


def _current() -> Person | None:
    return g.get("pending_person") or g.get("person")


def _issuer(school: School) -> str:
    return f"Inzage ({school.name})"


def qr_data_uri(uri: str) -> str:
    """Draw the otpauth address as an SVG QR code, for an <img> on the page.

    Made here, never by an outside service; the CSP allows data: images.
    """
    image = qrcode.make(uri, image_factory=SvgPathImage, border=2)
    svg = image.to_string(encoding="unicode")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


@bp.get("/account/2fa/setup")
async def setup():
    """Show the set-up: first a start button, then the QR code and the key."""
    person = _current()
    if person is None:
        return to_sign_in()
    if person.totp_enabled:
        return await render("twofactor/status.html", person=person)
    secret = _secret_of(person)
    if secret is None:
        return await render("twofactor/setup.html", person=person, secret=None)

    school = await School.get(id=person.school_id)
    uri = totp.provisioning_uri(secret, person.email or str(person.id), _issuer(school))
    return await render(
        "twofactor/setup.html",
        person=person,
        secret=totp.grouped(secret),
        issuer=_issuer(school),
        qr=qr_data_uri(uri),
        error=None,
    )


@bp.post("/account/2fa/setup/start")
async def setup_start():
    """Make a new key, kept encrypted and unconfirmed until the first code."""
    person = _current()
    if person is None:
        return to_sign_in()
    secret = totp.new_secret()
    stored = totp.encrypt_secret(secret, current_app.config["SECRET_KEY"], person.id)
    # Only while 2FA is off: a confirmed key is never replaced this way.
    await Person.filter(id=person.id, totp_enabled=False).update(
        totp_secret=stored, totp_last_step=None
    )
    return redirect(url_for("twofactor.setup"))


@bp.post("/account/2fa/setup")
async def setup_post():
    """Confirm the key with a first code; switch 2FA on; show recovery codes."""
    person = _current()
    if person is None:
        return to_sign_in()
    if person.totp_enabled:
        return redirect(url_for("twofactor.setup"))
    form = await request.form
    typed = form.get("code", "")[:MAX_CODE_LENGTH]

    secret = _secret_of(person)
    step = None
    if secret is not None:
        step = totp.verify(secret, typed, person.totp_last_step, utcnow())
    if step is None:
        security_log.info("2fa set-up code failed person=%s", person.id)
        return await _setup_refused(person, secret)

    async with in_transaction():
        switched = await Person.filter(
            id=person.id, totp_enabled=False, totp_secret=person.totp_secret
        ).update(totp_enabled=True, totp_last_step=step)
        codes = await totp.replace_recovery_codes(person.id) if switched else None
    if not switched:
        return redirect(url_for("twofactor.setup"))

    token = await _complete_sign_in(person)
    security_log.info("2fa enabled person=%s", person.id)
    await _use_session(token)
    body = await render("twofactor/recovery.html", codes=codes)
    return set_session_cookie(Response(body, content_type="text/html"), token)


async def _setup_refused(person: Person, secret: str | None):
    school = await School.get(id=person.school_id)
    context = dict(person=person, secret=None, error=None)
    if secret:
        uri = totp.provisioning_uri(
            secret, person.email or str(person.id), _issuer(school)
        )
        context.update(
            secret=totp.grouped(secret), issuer=_issuer(school), qr=qr_data_uri(uri)
        )
    context["error"] = gettext(
        "That code is not right. Enter the six digits your app shows now."
    )
    return await render("twofactor/setup.html", **context), 400


# ---------------------------------------------------------------- switch off


def _needs_fresh_code(session: Session) -> bool:
    last = session.authenticated_at
    return last is None or utcnow() - last > REAUTH_WINDOW


async def _disable_context(person: Person) -> dict:
    school = await School.get(id=person.school_id)
    return dict(
        required=totp.is_required(person, school.require_2fa),
        needs_code=_needs_fresh_code(g.session),
        error=None,
    )


@bp.get("/account/2fa/disable")
async def disable():
    """Ask for the password (and a code when the sign-in is old) to switch off."""
    person = g.person
    if person is None:
        return to_sign_in()
    if not person.totp_enabled:
        return await render("twofactor/status.html", person=person)
    return await render("twofactor/disable.html", **await _disable_context(person))


@bp.post("/account/2fa/disable")
async def disable_post():
    """Switch 2FA off where it is not required and the password is long enough."""
    person = g.person
    if person is None:
        return to_sign_in()
    if not person.totp_enabled:
        return redirect(url_for("twofactor.setup"))
    form = await request.form
    password = form.get("password", "")[: MAX_PASSWORD_LENGTH + 1]
    typed = form.get("code", "")[:MAX_CODE_LENGTH]
    context = await _disable_context(person)

    if context["required"]:
        context["error"] = gettext(
            "Two-step verification is required for your account and cannot be "
            "switched off."
        )
        return await render("twofactor/disable.html", **context), 403
    if not await verify_password(person.password_hash, password):
        security_log.info("2fa disable refused: password person=%s", person.id)
        context["error"] = gettext("That password is not right.")
        return await render("twofactor/disable.html", **context), 400
    if len(normalise(password)) < SINGLE_FACTOR_PASSWORD_MIN:
        context["error"] = gettext(
            "Without two-step verification a password needs at least 15 "
            "characters. Choose a longer password first, then switch it off."
        )
        return await render("twofactor/disable.html", **context), 400
    # Your sign-in is more than ten minutes old: prove it is still you with a
    # code as well as the password (re-authentication, baseline A18).
    if context["needs_code"] and await _check_code(person, typed) is None:
        security_log.info("2fa disable refused: code person=%s", person.id)
        context["error"] = gettext(
            "Your sign-in is more than 10 minutes old. Enter a code from your "
            "app as well as your password."
        )
        return await render("twofactor/disable.html", **context), 400

    async with in_transaction():
        await totp.clear_two_factor(person.id)
    # Re-authenticated: a new session id (A15).
    token = await _new_session(person, pending=False)
    security_log.info("2fa disabled person=%s", person.id)
    return set_session_cookie(redirect(url_for("twofactor.setup")), token)
