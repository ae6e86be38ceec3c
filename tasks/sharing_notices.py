"""The daily job that tells a family what changes when a student turns 16."""

from __future__ import annotations

import logging
from datetime import date

from models.consent import send_due_notices

logger = logging.getLogger(__name__)


async def send_sharing_notices(ctx: dict, today: date | None = None) -> int:
    """Send the notices due thirty days before 16 and on the birthday, once.

    A notice goes out on the first run on or after its date; running twice on
    one day, or on two workers at once, sends it once (StudentNotice).
    """
    sent = await send_due_notices(today=today)
    logger.info("sharing notices sent: %d", sent)
    return sent
