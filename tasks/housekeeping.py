"""Jobs that keep the database tidy."""

from __future__ import annotations

import logging

from tortoise.expressions import Q

from models.access import utcnow
from models.entities import Session
from models.sessions import ABSOLUTE_TIMEOUT, IDLE_TIMEOUT

logger = logging.getLogger(__name__)


async def purge_expired_sessions(ctx: dict | None = None) -> int:
    """Delete sessions past their idle or absolute limit; return how many."""
    now = utcnow()
    count = await Session.filter(
        Q(last_seen_at__lt=now - IDLE_TIMEOUT)
        | Q(created_at__lt=now - ABSOLUTE_TIMEOUT)
    ).delete()
    logger.info("purged %d expired sessions", count)
    return count
