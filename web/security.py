"""Request guards: who is signed in, CSRF, security headers, and the redirects."""

from __future__ import annotations

import logging
import secrets
from functools import wraps
from urllib.parse import urlsplit

from htmx_flask.requests import HtmxHeaders
from quart import Response, abort, current_app, g, redirect, request, url_for

from models import sql
from models.access import PortalView, portal_view, utcnow
from models.records import page_query
from models.sessions import (
    COOKIE_NAME,
    csrf_matches,
    load_session,
    presession_csrf,
)
from web.records import page_number

security_log = logging.getLogger("inzage.security")

PRESESSION_COOKIE = "__Host-pre"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The description of a 403 for a form without a valid token: its page asks the
# person to reload, where a 403 for a missing right says they have no access.
CSRF_REFUSED = "csrf"

# Two years, subdomains included (SECURITY-BASELINE b1, OWASP HTTP headers).
HSTS = "max-age=63072000; includeSubDomains"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def htmx() -> HtmxHeaders:
    """Return the request's HTMX headers."""
    return HtmxHeaders(request.headers)


def wants_fragment() -> bool:
    """True for an HTMX request that is not a history restore.

    Decided once a request: a page asks several times (the view, the error
    handler, the templates), and each read of a header the request lacks
    costs Werkzeug an exception.
    """
    wanted = g.get("wants_fragment")
    if wanted is None:
        headers = htmx()
        wanted = g.wants_fragment = (
            bool(headers) and not headers.history_restore_request
        )
    return wanted


# The unread badge polls every 30 s and is the most requested URL: its view
# checks the session itself, in the one statement that also counts, and
# never touches it, so that an open page does not keep an idle session alive.
SELF_CHECKED_ENDPOINTS = frozenset({"inbox.badge"})


async def load_current_person() -> None:
    """Find the request's session; ``g.person`` is None when signed out."""
    g.session = None
    g.person = None
    g.portal_view = None
    if request.endpoint in SELF_CHECKED_ENDPOINTS:
        return
    g.read_ahead = None
    view = current_app.view_functions.get(request.endpoint or "")
    student_id = page = None
    if getattr(view, "reads_portal_view", False):
        args = request.view_args or {}
        student_id = args.get("student_id")
        # The page's rows come with the session, ahead of the access
        # decision: the view shows them only when the person sees the section.
        if getattr(view, "reads_section_page", False) and sql.on_postgres():
            number = page_number(request.args.get("page"))
            page = page_query(student_id, args.get("section", ""), number)
    active = await load_session(
        request.cookies.get(COOKIE_NAME), student_id=student_id, page=page
    )
    if active is not None:
        g.session = active.row
        g.person = active.person
        g.portal_view = active.portal_view
        g.read_ahead = active.page


def reads_portal_view(view):
    """Mark a view of a student's file: the session's statement reads the
    person's view of the student in the URL too (current_portal_view)."""
    view.reads_portal_view = True
    return view


def reads_section_page(view):
    """Mark a view of a page of a section's records (``section`` in the URL,
    ``?page=``): on PostgreSQL the session's statement reads its rows too
    (``g.read_ahead``). The view still decides whether to show them."""
    view.reads_section_page = True
    return view


async def current_portal_view(student_id: int) -> PortalView | None:
    """Return the signed-in person's view of a student, or None for nothing.

    Read with the session for a view marked ``reads_portal_view``; the rules
    that decide it are models.access's either way.
    """
    loaded = g.get("portal_view")
    if loaded is not None and loaded[0] == student_id:
        return loaded[1]
    return await portal_view(g.person.id, student_id, utcnow())


def csrf_token() -> str:
    """Return the token that this visitor's forms and HTMX requests must carry."""
    if g.get("session") is not None:
        return g.session.csrf_token
    return presession_csrf(current_app.config["SECRET_KEY"], _presession())


def _presession() -> str:
    value = request.cookies.get(PRESESSION_COOKIE)
    if not value or len(value) > 100:
        value = g.get("new_presession") or secrets.token_urlsafe(24)
        g.new_presession = value
    return value


def _same_origin() -> bool:
    # Fetch metadata first, Origin as the fallback (OWASP CSRF cheat sheet).
    # A browser that sends Sec-Fetch-Site is believed on its own: with our
    # Referrer-Policy no-referrer, Chromium sends "Origin: null" on its
    # same-origin form posts.
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


def _from_an_ended_session(given: str | None) -> bool:
    """True for a form sent from a page of a session that has ended.

    Its token was that session's; the browser still holds the session's
    cookie (an idle time-out), or holds no cookie of ours at all (signing out
    in another tab clears them all, Clear-Site-Data).
    """
    if g.get("session") is not None or not given:
        return False
    cookies = request.cookies
    return bool(cookies.get(COOKIE_NAME)) or not cookies.get(PRESESSION_COOKIE)


async def check_csrf() -> Response | None:
    """Refuse a state-changing request without this session's token."""
    if request.method in SAFE_METHODS:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "csrf_exempt", False):
        return
    if g.get("person") is None and getattr(view, "needs_person", False):
        # Signed out (the session ended, here or in another tab): the view's
        # guard sends the request to sign-in without running the view, where
        # a refused token would only say "reload".
        return
    form = await request.form
    given = request.headers.get("X-CSRF-Token") or form.get("csrf_token")
    if g.get("session") is not None:
        expected = g.session.csrf_token
    else:
        presession = request.cookies.get(PRESESSION_COOKIE)
        expected = (
            presession_csrf(current_app.config["SECRET_KEY"], presession)
            if presession
            else None
        )
    same_origin = _same_origin()
    if expected is None or not csrf_matches(expected, given) or not same_origin:
        if same_origin and _from_an_ended_session(given):
            # Nothing is done, and the person signs in again, where "reload"
            # would not help.
            security_log.info("ended session endpoint=%s", request.endpoint)
            return to_sign_in()
        security_log.warning(
            "csrf refused endpoint=%s person=%s",
            request.endpoint,
            g.person.id if g.get("person") else None,
        )
        abort(403, CSRF_REFUSED)


async def set_security_headers(response: Response) -> Response:
    """Add the baseline's headers; nothing dynamic is cached by the browser."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.path.startswith("/static/"):
        headers["Cache-Control"] = "public, max-age=3600"
    else:
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    headers.add("Vary", "HX-Request")
    if current_app.config.get("PRODUCTION"):
        headers.setdefault("Strict-Transport-Security", HSTS)
    if g.get("new_presession"):
        response.set_cookie(
            PRESESSION_COOKIE,
            g.new_presession,
            secure=True,
            httponly=True,
            samesite="Lax",
            path="/",
        )
    return response


def same_site_path(url: str | None) -> str | None:
    """Return the path and query of a URL on this site, or None for any other.

    Only a path is ever redirected to, so a forged Referer or parameter cannot
    send a person off the site (open redirect, SECURITY-BASELINE A32).
    """
    if not url or len(url) > 2000:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("", "http", "https"):
        return None
    if parts.netloc and parts.netloc != request.host:
        return None
    path = parts.path
    # Browsers read "//host" and "/\host" as another site.
    unsafe = "\\" in url or any(ord(char) < 32 for char in url)
    if not path.startswith("/") or path.startswith("//") or unsafe:
        return None
    return f"{path}?{parts.query}" if parts.query else path


def to_sign_in() -> Response:
    """Send a signed-out request to the sign-in page; HTMX gets a header."""
    target = url_for("auth.sign_in")
    if htmx():
        response = Response("", status=401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def signed_in(view):
    """Let only signed-in persons through."""

    @wraps(view)
    async def wrapper(*args, **kwargs):
        if g.get("person") is None:
            return to_sign_in()
        return await view(*args, **kwargs)

    wrapper.needs_person = True
    return wrapper


def staff_only(view):
    """Let only staff through; others get 403 (SPEC.md section 11)."""

    @wraps(view)
    async def wrapper(*args, **kwargs):
        if g.get("person") is None:
            return to_sign_in()
        if not g.person.staff_role:
            abort(403)
        return await view(*args, **kwargs)

    wrapper.needs_person = True
    return wrapper


def csrf_exempt(view):
    view.csrf_exempt = True
    return view
