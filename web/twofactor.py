"""Two-factor sign-in: what happens after a correct password.

``finish_password_step`` is the one door from the password check into a
session. Today it opens a full session for everyone; two-factor sign-in
(issue "Accounts") extends it with the code step and the set-up flow.
"""

from __future__ import annotations

import logging

from quart import Response, redirect, request, url_for

from models.access import utcnow
from models.entities import Person
from models.sessions import COOKIE_NAME, end_session, start_session

security_log = logging.getLogger("inzage.security")


def set_session_cookie(response: Response, token: str) -> Response:
    response.set_cookie(
        COOKIE_NAME, token, secure=True, httponly=True, samesite="Lax", path="/"
    )
    return response


async def finish_password_step(person: Person) -> Response:
    """Start the session of a person whose password was right."""
    # A new session id at sign-in: a token planted before cannot be reused.
    await end_session(request.cookies.get(COOKIE_NAME))
    token = await start_session(person, request.headers.get("User-Agent", ""))
    await Person.filter(id=person.id).update(last_sign_in_at=utcnow())
    security_log.info("sign-in person=%s", person.id)
    return set_session_cookie(redirect(url_for("portal.welcome")), token)
