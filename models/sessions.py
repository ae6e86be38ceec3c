"""Server-side sessions: the cookie holds a random token, the database the rest."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.access import utcnow
from models.entities import Person, Session

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
        user_agent=user_agent[:300],
    )
    return token


def expired(row: Session, now: datetime) -> bool:
    return (
        now - row.last_seen_at > IDLE_TIMEOUT or now - row.created_at > ABSOLUTE_TIMEOUT
    )


async def load_session(
    token: str | None, *, touch: bool = True
) -> ActiveSession | None:
    """Return the live session for a cookie token, ending it when it expired."""
    if not token or len(token) > 100:
        return None
    row = (
        await Session.filter(token_hash=token_hash(token))
        .select_related("person")
        .first()
    )
    if row is None:
        return None
    now = utcnow()
    if expired(row, now) or not row.person.active or not row.person.can_sign_in:
        await Session.filter(id=row.id).delete()
        return None
    if touch and now - row.last_seen_at > TOUCH_INTERVAL:
        await Session.filter(id=row.id).update(last_seen_at=now)
        row.last_seen_at = now
    return ActiveSession(row=row, person=row.person)


async def end_session(token: str | None) -> None:
    if token:
        await Session.filter(token_hash=token_hash(token)).delete()


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def presession_csrf(secret: str, presession: str) -> str:
    """Derive the sign-in form's CSRF token from the visitor's pre-session cookie."""
    return hmac.new(secret.encode(), presession.encode(), hashlib.sha256).hexdigest()
