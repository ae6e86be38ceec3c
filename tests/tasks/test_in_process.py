"""Without Redis the web process runs the worker's periodic jobs itself.

The default set-up (no ``INZAGE_REDIS_URL``) has no arq worker, so the outbox
sweeper, the daily e-mails and the session purge run in each web process, on
the worker's own schedule. Two web processes may sweep at once; a row is sent
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from models.access import utcnow
from models.entities import Outbox, Session
from models.outbox import add_email, ids_to_sweep
from models.sessions import COOKIE_NAME, start_session
from tasks import queue
from tasks.in_process import InProcessCron
from tasks.queue import STALE_QUEUED, deliver_here
from tasks.worker import WorkerSettings, sweep_outbox
from tests.factories import link, make_class, make_person, make_school, make_student
from tests.servers import hypercorn_command, serve
from tests.tasks.test_email import REDIS_TEST_URL, SECRET
from web import create_app

ROOT = Path(__file__).resolve().parents[2]
MAIL_WAIT_S = 15


@pytest.fixture(autouse=True)
async def no_jobs_left():
    yield
    await queue.drain()


@contextlib.contextmanager
def hypercorn(database, data_dir: Path, **env: str):
    """Serve the app as the Procfile does: hypercorn, two workers."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("INZAGE_") or key.startswith("INZAGE_TEST")
    }
    environ.update(
        INZAGE_DATA_DIR=str(data_dir),
        INZAGE_DATABASE_URL=database.db_url,
        INZAGE_SECRET_KEY=SECRET,
        **env,
    )
    log_path = data_dir / "hypercorn.log"
    with serve(hypercorn_command(sys.executable), environ, log_path) as base:
        yield base


async def wait_for(predicate, timeout_s: float = MAIL_WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


def mails(data_dir: Path, kind: str) -> list[Path]:
    return sorted((data_dir / "mail").glob(f"outbox-*-{kind}.eml"))


@pytest.fixture
async def family(database):
    school = await make_school("MAIL", name="Het Talent")
    mentor = await make_person(school, staff_role="mentor", language="en")
    homeroom = await make_class(school, mentor)
    kid = await make_student(school, given_name="Sanne", homeroom=homeroom)
    guardian = await make_person(school, email="ouder@example.test", language="en")
    await link(guardian, kid)
    return dict(school=school, mentor=mentor, kid=kid, guardian=guardian)


# ------------------------------------------------------- hypercorn, no Redis


async def test_a_staff_message_mails_its_notice_without_redis(
    database, family, tmp_path
):
    # The guardian's notice setting for messages is "immediately" by default.
    token = await start_session(family["mentor"])
    session = await Session.get(person_id=family["mentor"].id)
    headers = {"Cookie": f"{COOKIE_NAME}={token}"}

    with hypercorn(database, tmp_path, INZAGE_OUTBOX_SWEEP_S="0.5") as base:
        async with httpx.AsyncClient(base_url=base) as http:
            sent = await http.post(
                f"/staff/messages/students/{family['kid'].id}",
                data={
                    "csrf_token": session.csrf_token,
                    "topic": "general",
                    "subject": "Parents' evening",
                    "body": "Thursday at seven.",
                },
                headers=headers,
            )
        assert sent.status_code == 200, sent.text[-2000:]

        async def delivered() -> bool:
            return await Outbox.filter(kind="notice", status="sent").exists()

        arrived = await wait_for(delivered)
        await asyncio.sleep(1)  # room for a second delivery, were there one

    assert arrived, (tmp_path / "hypercorn.log").read_text()[-3000:]
    [row] = await Outbox.filter(kind="notice", person_id=family["guardian"].id)
    assert (row.status, row.attempts) == ("sent", 1)  # two processes, one send
    [mail] = mails(tmp_path, "notice")
    text = mail.read_text()
    assert "To: ouder@example.test" in text
    assert "Parents' evening" not in text and "Sanne" not in text


async def test_with_redis_configured_the_web_process_runs_no_jobs(
    database, family, tmp_path
):
    row = await add_email(family["guardian"], "notice")

    with hypercorn(
        database,
        tmp_path,
        INZAGE_REDIS_URL=REDIS_TEST_URL,
        INZAGE_OUTBOX_SWEEP_S="0.2",
    ) as base:
        assert httpx.get(base + "/health").status_code == 200
        await asyncio.sleep(3)

    # The arq worker sweeps and sends then; the web processes leave it be.
    assert (await Outbox.get(id=row.id)).status == "pending"
    assert mails(tmp_path, "notice") == []


# ------------------------------------------------------- serving, in-process


def serving_app(database, data_dir: Path, **changes):
    settings = dataclasses.replace(
        database, data_dir=data_dir, secret_key=SECRET, **changes
    )
    return create_app(settings, manage_database=False)


async def test_serving_sweeps_at_start_and_stops_with_the_app(
    database, family, tmp_path
):
    waiting = await add_email(family["guardian"], "2fa-reset")
    app = serving_app(database, tmp_path, outbox_sweep_s=0.1)

    async with app.test_app():

        async def sent() -> bool:
            return (await Outbox.get(id=waiting.id)).status == "sent"

        assert await wait_for(sent, 5)
    later = await add_email(family["guardian"], "notice")
    await asyncio.sleep(0.5)

    assert [p.name for p in mails(tmp_path, "2fa-reset")] == [
        f"outbox-{waiting.id}-2fa-reset.eml"
    ]
    assert (await Outbox.get(id=later.id)).status == "pending"  # stopped


async def test_the_test_client_and_redis_keep_the_loop_off(database, family, tmp_path):
    row = await add_email(family["guardian"], "notice")
    off = serving_app(database, tmp_path, outbox_sweep_s=0.1)
    off.config["JOBS_IN_PROCESS"] = False
    redis = serving_app(
        database, tmp_path, outbox_sweep_s=0.1, redis_url=REDIS_TEST_URL
    )

    for app in (off, redis):
        async with app.test_app():
            await asyncio.sleep(0.5)

    assert (await Outbox.get(id=row.id)).status == "pending"


# ------------------------------------------------------- two sweepers at once


async def test_two_sweepers_at_once_send_each_row_once(database, family, sink):
    handler, port = sink
    rows = [await add_email(family["guardian"], "notice") for _ in range(3)]
    settings = dataclasses.replace(
        database, smtp_host="127.0.0.1", smtp_port=port, secret_key=SECRET
    )
    ctx = {"settings": settings}

    started = await asyncio.gather(*(sweep_outbox(ctx) for _ in range(4)))
    await queue.drain()

    assert sum(started) == 3
    assert sorted(m["Message-ID"] for m in handler.messages) == sorted(
        f"<outbox-{row.id}.inzage@127.0.0.1>" for row in rows
    )
    assert {r.status for r in await Outbox.all()} == {"sent"}


async def test_a_row_waiting_for_a_retry_is_not_swept_again(database, family, sink):
    handler, port = sink
    handler.answer = "421 Try again later"
    row = await add_email(family["guardian"], "notice")
    settings = dataclasses.replace(
        database, smtp_host="127.0.0.1", smtp_port=port, secret_key=SECRET
    )

    assert await deliver_here(settings, row.id)
    assert not await deliver_here(settings, row.id)  # this process holds it

    async def retrying() -> bool:
        return (await Outbox.get(id=row.id)).attempts == 1

    async def held() -> bool:
        row_now = await Outbox.get(id=row.id)
        return row_now.queued_at > utcnow() + timedelta(seconds=20)

    assert await wait_for(retrying, 10) and await wait_for(held, 5)
    # The first retry waits 30 s: past the stale time counted from when the
    # row was queued, it is still held, so no second process takes it.
    past_stale = utcnow() + STALE_QUEUED + timedelta(seconds=5)
    assert row.id not in await ids_to_sweep(STALE_QUEUED, now=past_stale)
    assert row.id in await ids_to_sweep(
        STALE_QUEUED, now=past_stale + timedelta(seconds=30)
    )
    for task in list(queue._running):
        task.cancel()


# ------------------------------------------------------- the schedule


def test_the_web_process_keeps_the_worker_schedule(settings):
    cron = InProcessCron(settings, zone=UTC)
    start = datetime(2026, 5, 4, 0, 0, 30, tzinfo=UTC)

    runs: dict[str, list[datetime]] = {}
    now = start
    while now < start + timedelta(days=1):
        for job in cron._due(now):
            runs.setdefault(job.name.removeprefix("cron:"), []).append(now)
        now = min(job.next_run for job in cron.jobs)

    assert sorted(runs) == sorted(
        job.name.removeprefix("cron:") for job in WorkerSettings.cron_jobs
    )
    assert runs["sweep_outbox"][0] == start  # once at start-up
    assert len(runs["sweep_outbox"]) == 1 + 24 * 60  # then every minute
    assert len(runs["purge_expired_sessions"]) == 24 * 4
    summaries, notices = runs["send_daily_summaries"], runs["send_sharing_notices"]
    assert [(t.hour, t.minute) for t in summaries + notices] == [(5, 30), (5, 10)]


def test_the_sweep_interval_changes_only_the_sweeper(settings):
    fast = InProcessCron(dataclasses.replace(settings, outbox_sweep_s=2), zone=UTC)
    start = datetime(2026, 5, 4, 5, 29, 58, tzinfo=UTC)

    first = {job.name for job in fast._due(start)}
    planned = {job.name.removeprefix("cron:"): job.next_run for job in fast.jobs}

    assert first == {"cron:sweep_outbox"}
    assert planned["sweep_outbox"] == start + timedelta(seconds=2)
    assert planned["send_daily_summaries"].replace(microsecond=0) == datetime(
        2026, 5, 4, 5, 30, tzinfo=UTC
    )


def test_a_long_pause_runs_a_missed_job_once(settings):
    cron = InProcessCron(settings, zone=UTC)
    start = datetime(2026, 5, 4, 12, 0, 30, tzinfo=UTC)
    cron._due(start)

    after_a_night = start + timedelta(hours=20)
    again = [job.name for job in cron._due(after_a_night)]
    right_after = cron._due(after_a_night + timedelta(seconds=1))

    assert sorted(again) == sorted(job.name for job in cron.jobs)
    assert right_after == []
