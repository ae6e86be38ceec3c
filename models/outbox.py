"""The outbox: e-mails decided by a transaction, delivered by a job.

Write the row with ``add_email`` inside the transaction of the change that
causes it; the job that delivers it (``tasks.email.send_email``) takes only the
row's id and builds the message, link included, from the row. Delivery is at
least once: the job tolerates running twice and never sends a row twice once
it is marked sent.

A password link is never stored: it is derived from the server secret and the
outbox row's id, so every attempt to send one e-mail carries the same link,
and only its SHA-256 hash is kept (in ``ResetLink``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.access import utcnow
from models.entities import Outbox, Person, ResetLink
from models.settings import Settings

# Kinds of e-mail; each has its templates in templates/email/<kind>.{html,txt}.
EMAIL_KINDS: tuple[str, ...] = ("reset", "invite", "2fa-reset", "notice", "summary")

# Outbox statuses. A row is "queued" once a job for it was handed to the
# queue; the sweeper hands "pending" rows, and "queued" rows that stayed so
# too long, to the queue again.
PENDING = "pending"
QUEUED = "queued"
SENT = "sent"
FAILED = "failed"

RESET_LINK_MAX_AGE = timedelta(minutes=15)
_RESET_LABEL = b"inzage password link v1:"


async def add_email(person: Person, kind: str, payload: dict[str, Any] | None = None):
    """Record an e-mail for a person; it carries no student data and no secret."""
    if kind not in EMAIL_KINDS:
        raise ValueError(f"unknown e-mail kind {kind!r}")
    return await Outbox.create(
        person=person,
        kind=kind,
        language=person.language,
        payload=payload or {},
        created_at=utcnow(),
    )


# ---------------------------------------------------------------- secrets


def server_secret(settings: Settings) -> str:
    """Return the server secret the web process signs with.

    The configured key, or in development the key generated into the data
    folder; the web process and the worker read the same file, so a link
    built by the worker is the one the web process checks.
    """
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def reset_token(secret: str, outbox_id: int) -> str:
    """Derive the 256-bit link token of one outbox row from the server secret."""
    digest = hmac.new(
        secret.encode(), _RESET_LABEL + str(outbox_id).encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    """Keep only a hash, so that a copy of the database opens no link."""
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- links


async def add_reset_email(person: Person, secret: str) -> Outbox:
    """Record a password e-mail and its link, voiding every older link.

    One transaction: the outbox row, the new link and the voiding of older
    ones commit together or not at all.
    """
    now = utcnow()
    async with in_transaction():
        await ResetLink.filter(person_id=person.id, used_at=None, voided=False).update(
            voided=True
        )
        outbox = await add_email(person, "reset")
        await ResetLink.create(
            person=person,
            outbox=outbox,
            token_hash=token_hash(reset_token(secret, outbox.id)),
            created_at=now,
            expires_at=now + RESET_LINK_MAX_AGE,
        )
    return outbox


async def find_usable_link(token: str, now: datetime | None = None):
    """Return (link, person) for a token that may still set a password, or None.

    A link is usable once, for 15 minutes, while no newer link was sent and
    the password did not change after it was made.
    """
    if not token or len(token) > 100:
        return None
    now = now or utcnow()
    link = await ResetLink.filter(token_hash=token_hash(token)).first()
    if link is None or link.used_at is not None or link.voided:
        return None
    if link.expires_at <= now:
        return None
    person = await Person.filter(id=link.person_id, active=True).first()
    if person is None or not person.can_sign_in:
        return None
    changed = person.password_changed_at
    if changed is not None and changed >= link.created_at:
        return None
    return link, person


async def use_link(link: ResetLink, now: datetime) -> bool:
    """Mark a link used; False when another request used or voided it first."""
    used = await ResetLink.filter(id=link.id, used_at=None, voided=False).update(
        used_at=now
    )
    return used == 1


async def void_links(person_id: int) -> None:
    """Void every open link of a person (their password changed)."""
    await ResetLink.filter(person_id=person_id, used_at=None, voided=False).update(
        voided=True
    )


# ---------------------------------------------------------------- delivery


async def mark_queued(outbox_id: int) -> None:
    await Outbox.filter(id=outbox_id, status__in=(PENDING, QUEUED)).update(
        status=QUEUED, queued_at=utcnow()
    )


async def claim(outbox_id: int, stale_after: timedelta, now: datetime | None = None):
    """Mark a row queued for a job of this process; False when another holds it.

    For delivery without Redis, where no job id guards a row: one conditional
    UPDATE, so of two processes sweeping at once only the one whose update
    matched sends the row. It matches a pending row, or a queued one that no
    job may hold any more (``ids_to_sweep``).
    """
    now = now or utcnow()
    claimed = await Outbox.filter(
        Q(status=PENDING) | Q(status=QUEUED, queued_at__lt=now - stale_after),
        id=outbox_id,
    ).update(status=QUEUED, queued_at=now)
    return claimed == 1


async def hold_until(outbox_id: int, until: datetime) -> None:
    """Keep a queued row from the sweepers while this process waits to retry it.

    The row counts as held until ``until`` plus the stale time, rather than
    from when it was first queued: an in-process retry may wait up to an hour.
    """
    await Outbox.filter(id=outbox_id, status=QUEUED).update(queued_at=until)


async def mark_sent(outbox_id: int) -> None:
    await (
        Outbox.filter(id=outbox_id)
        .exclude(status=SENT)
        .update(status=SENT, sent_at=utcnow(), last_error="")
    )


async def mark_failed(outbox_id: int, error: str) -> None:
    await (
        Outbox.filter(id=outbox_id)
        .exclude(status=SENT)
        .update(status=FAILED, last_error=error[:300])
    )


async def note_attempt(outbox_id: int, error: str = "") -> None:
    """Count a delivery attempt and keep its error (no address, no link)."""
    row = await Outbox.filter(id=outbox_id).first()
    if row is not None:
        await Outbox.filter(id=outbox_id).update(
            attempts=row.attempts + 1, last_error=error[:300]
        )


async def ids_to_sweep(stale_after: timedelta, now: datetime | None = None):
    """Return ids of rows no job may hold any more: pending, or queued too long."""
    now = now or utcnow()
    pending = await Outbox.filter(status=PENDING).values_list("id", flat=True)
    stale = await Outbox.filter(
        status=QUEUED, queued_at__lt=now - stale_after
    ).values_list("id", flat=True)
    return sorted({*pending, *stale})


# ---------------------------------------------------------------- invitations


class AccountExists(ValueError):
    """The school already has an account with this e-mail address."""


async def invite_staff_member(
    school_code: str,
    email: str,
    role: str,
    *,
    given_name: str = "",
    family_name: str = "",
    language: str = "nl",
) -> tuple[Person, Outbox]:
    """Add a staff member without a password and record their invitation.

    One transaction: the person and the "invite" e-mail, which tells them to
    start with "forgot password"; no password exists until they choose one.
    """
    from models.entities import STAFF_ROLES, School

    if role not in STAFF_ROLES:
        raise ValueError(f"unknown staff role {role!r}")
    school = await School.filter(code=school_code.strip().upper()).first()
    if school is None:
        raise LookupError(f"No school has the code {school_code.strip().upper()}.")
    email = email.strip().lower()
    if await Person.filter(school_id=school.id, email=email).exists():
        raise AccountExists(f"School {school.code} already has an account for it.")
    async with in_transaction():
        person = await Person.create(
            school=school,
            email=email,
            given_name=given_name.strip(),
            family_name=family_name.strip(),
            staff_role=role,
            language=language,
        )
        outbox = await add_email(person, "invite")
    return person, outbox
