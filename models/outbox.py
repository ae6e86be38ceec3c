"""The outbox: e-mails decided by a transaction, delivered by a job.

Write the row with ``add_email`` inside the transaction of the change that
causes it; the job that delivers it takes only the row's id (issue
"Accounts" builds delivery: SMTP, the mail folder, retries and the sweeper).
"""

from __future__ import annotations

from typing import Any

from models.access import utcnow
from models.entities import Outbox, Person

# Kinds of e-mail; each has its templates in templates/email/<kind>.{html,txt}.
EMAIL_KINDS: tuple[str, ...] = ("reset", "invite", "2fa-reset", "notice", "summary")


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
