"""Housekeeping jobs."""

from datetime import timedelta

from models.access import utcnow
from models.entities import Session
from models.sessions import start_session
from tasks.housekeeping import purge_expired_sessions
from tests.factories import make_person, make_school


async def test_purge_removes_idle_and_too_old_sessions_only(database):
    person = await make_person(await make_school())
    for _ in range(3):
        await start_session(person)
    idle, old, live = await Session.all().order_by("id")
    now = utcnow()
    await Session.filter(id=idle.id).update(last_seen_at=now - timedelta(minutes=31))
    await Session.filter(id=old.id).update(
        created_at=now - timedelta(hours=12, minutes=1)
    )

    purged = await purge_expired_sessions({})

    assert purged == 2
    assert await Session.all().values_list("id", flat=True) == [live.id]
