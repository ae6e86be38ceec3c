"""Server-side sessions: the cookie holds a random token, the database the rest."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from models import sql
from models.access import (
    PortalView,
    portal_view_from_rows,
    portal_view_params,
    portal_view_statement,
    utcnow,
)
from models.entities import Person, Session
from models.records import SECTION_JSON_SQL, newest_first
from models.sql import model_from_row

COOKIE_NAME = "__Host-sid"
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# Activity is written at most this often, to keep reads cheap.
TOUCH_INTERVAL = timedelta(seconds=60)


def token_hash(token: str) -> str:
    """Store only a hash, so that a copy of the database opens no session."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class ActiveSession:
    row: Session
    person: Person
    # (student id, the person's view of that student or None), when asked for.
    portal_view: tuple[int, PortalView | None] | None = None
    # ((statement key, values), rows) of a page of records, when asked for,
    # each row its values in models.records.SECTION_COLUMNS' order: read
    # ahead of the access decision, which alone may show them.
    page: tuple[tuple[str, tuple], list[list]] | None = None


async def start_session(person: Person, user_agent: str = "") -> str:
    """Create a new session for a person and return the cookie token."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    await Session.create(
        token_hash=token_hash(token),
        person=person,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        authenticated_at=now,
        user_agent=user_agent[:300],
    )
    return token


def expired(row: Session, now: datetime) -> bool:
    return (
        now - row.last_seen_at > IDLE_TIMEOUT or now - row.created_at > ABSOLUTE_TIMEOUT
    )


# The session and its person in one row; a test holds the column lists to
# the models.
SESSION_SQL = (
    "SELECT x.id AS x_id, x.token_hash AS x_token_hash, x.csrf_token AS x_csrf_token,"
    " x.created_at AS x_created_at, x.last_seen_at AS x_last_seen_at,"
    " x.student_id AS x_student_id, x.user_agent AS x_user_agent,"
    " x.person_id AS x_person_id, x.authenticated_at AS x_authenticated_at,"
    " x.pending_2fa AS x_pending_2fa, x.code_failures AS x_code_failures,"
    " x.next_code_at AS x_next_code_at,"
    " p.id AS p_id, p.school_id AS p_school_id, p.email AS p_email,"
    " p.given_name AS p_given_name, p.family_name AS p_family_name,"
    " p.language AS p_language, p.staff_role AS p_staff_role,"
    " p.password_hash AS p_password_hash, p.can_sign_in AS p_can_sign_in,"
    " p.totp_secret AS p_totp_secret, p.totp_enabled AS p_totp_enabled,"
    " p.require_2fa AS p_require_2fa, p.totp_last_step AS p_totp_last_step,"
    " p.last_sign_in_at AS p_last_sign_in_at,"
    " p.password_changed_at AS p_password_changed_at,"
    " p.last_notice_at AS p_last_notice_at,"
    " p.sourced_id AS p_sourced_id, p.oneroster_role AS p_oneroster_role,"
    " p.active AS p_active, p.staff_locked AS p_staff_locked,"
    " p.created_at AS p_created_at, p.updated_at AS p_updated_at"
    " FROM session x JOIN person p ON p.id = x.person_id"
    " WHERE x.token_hash = ?"
)


# The session, its person, and that person's view of one student, in one
# statement: the pages of a student's file need all three. The view's rows
# stand beside the session's row (a left join: the session's row stands
# alone when the person sees nothing of the student). Built from constants.
SESSION_VIEW_SQL = (
    f"WITH me AS ({SESSION_SQL}) SELECT me.*, v.* FROM me"  # noqa: S608  # nosec B608
    f" LEFT JOIN ({portal_view_statement('(SELECT p_id FROM me)')}) v ON 1 = 1"
)

# PostgreSQL: the same with one page of a section's records beside each row,
# as one JSON column (models.records), for the section pages: a page is then
# read in one statement. The values: the token's hash, the page's, the view's.
SESSION_VIEW_PAGE_SQL: dict[str, str] = {
    key: f"WITH me AS ({SESSION_SQL}), page AS ({page_sql})"  # noqa: S608  # nosec B608
    " SELECT me.*, page.page_rows, v.* FROM me CROSS JOIN page"
    f" LEFT JOIN ({portal_view_statement('(SELECT p_id FROM me)')}) v ON 1 = 1"
    for key, page_sql in SECTION_JSON_SQL.items()
}


async def load_session(
    token: str | None,
    *,
    touch: bool = True,
    student_id: int | None = None,
    page: tuple[str, tuple] | None = None,
) -> ActiveSession | None:
    """Return the live session for a cookie token, ending it when it expired.

    With ``student_id``, the person's view of that student comes with it,
    read by the same statement (``ActiveSession.portal_view``); with ``page``
    too (a key of models.records.SECTION_SQL and its values, PostgreSQL
    only), the rows of that page (``ActiveSession.page``).
    """
    if not token or len(token) > 100:
        return None
    if student_id is None:
        rows = await sql.fetch(SESSION_SQL, token_hash(token))
    elif page is None:
        params = portal_view_params(student_id)
        rows = await sql.fetch(SESSION_VIEW_SQL, token_hash(token), *params)
    else:
        key, values = page
        params = portal_view_params(student_id)
        rows = await sql.fetch(
            SESSION_VIEW_PAGE_SQL[key], token_hash(token), *values, *params
        )
    if not rows:
        return None
    row = model_from_row(Session, rows[0], "x")
    person = model_from_row(Person, rows[0], "p")
    now = utcnow()
    if expired(row, now) or not person.active or not person.can_sign_in:
        await Session.filter(id=row.id).delete()
        return None
    if touch and now - row.last_seen_at > TOUCH_INTERVAL:
        await Session.filter(id=row.id).update(last_seen_at=now)
        row.last_seen_at = now
    active = ActiveSession(row=row, person=person)
    if student_id is not None:
        view = portal_view_from_rows(rows, person.id, now)
        active.portal_view = (student_id, view)
    if page is not None:
        page_rows = json.loads(rows[0]["page_rows"] or "[]")
        active.page = (page, newest_first(page_rows))
    return active


async def end_session(token: str | None) -> None:
    if token:
        await Session.filter(token_hash=token_hash(token)).delete()


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def presession_csrf(secret: str, presession: str) -> str:
    """Derive the sign-in form's CSRF token from the visitor's pre-session cookie."""
    return hmac.new(secret.encode(), presession.encode(), hashlib.sha256).hexdigest()
