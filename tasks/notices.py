"""The daily summary: one e-mail per person for the events they chose "daily" for.

Callable in-process (``await send_daily_summaries()``) and as an arq cron job.
Each person's pending notices are claimed by one conditional UPDATE inside the
transaction that writes the e-mail to the outbox, so a second run, or a
second worker, sends nothing twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from tortoise.transactions import in_transaction

from models.access import utcnow
from models.entities import PendingNotice, Person
from models.messages import EVENTS
from models.outbox import add_email

logger = logging.getLogger(__name__)


class _Claimed(Exception):
    """Another run claimed this person's notices first; it sends the summary."""


async def send_daily_summaries(
    ctx: dict | None = None, now: datetime | None = None
) -> int:
    """Write one summary e-mail per person with pending notices; return how many."""
    now = now or utcnow()
    person_ids = sorted(
        set(
            await PendingNotice.filter(sent_at=None, created_at__lte=now).values_list(
                "person_id", flat=True
            )
        )
    )
    sent = 0
    for person_id in person_ids:
        sent += await _summarise(person_id, now)
    logger.info("daily summaries written=%d", sent)
    return sent


async def _summarise(person_id: int, now: datetime) -> int:
    try:
        return await _summarise_once(person_id, now)
    except _Claimed:
        return 0


async def _summarise_once(person_id: int, now: datetime) -> int:
    async with in_transaction():
        rows = await PendingNotice.filter(
            person_id=person_id, sent_at=None, created_at__lte=now
        ).values_list("id", "event")
        if not rows:
            return 0
        ids = [row_id for row_id, _ in rows]
        claimed = await PendingNotice.filter(id__in=ids, sent_at=None).update(
            sent_at=now
        )
        if claimed != len(ids):
            raise _Claimed
        person = await Person.get_or_none(id=person_id, active=True)
        if person is None or not person.email:
            return 0
        counts = Counter(event for _, event in rows)
        # Event names and counts only: no student, sender or subject.
        events = [[event, counts[event]] for event in EVENTS if counts[event]]
        await add_email(person, "summary", {"events": events})
    return 1
