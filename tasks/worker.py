"""The arq worker: ``arq tasks.worker.WorkerSettings`` (the Procfile's worker)."""

from __future__ import annotations

import logging

from arq import cron
from arq.connections import RedisSettings
from arq.worker import func

from models.db import close_database, open_database
from models.outbox import ids_to_sweep, mark_queued
from models.settings import load_settings
from tasks.email import JOB_TIMEOUT_S, MAX_TRIES, send_email
from tasks.housekeeping import purge_expired_sessions
from tasks.notices import send_daily_summaries
from tasks.queue import EMAIL_JOB, STALE_QUEUED, deliver_here, email_job_id
from tasks.sharing_notices import send_sharing_notices

logger = logging.getLogger(__name__)

__all__ = ["STALE_QUEUED", "WorkerSettings", "sweep_outbox"]


async def startup(ctx: dict) -> None:
    settings = load_settings()
    await open_database(settings, upgrade=False)
    ctx["settings"] = settings
    logger.info("worker started")


async def shutdown(ctx: dict) -> None:
    await close_database()


async def sweep_outbox(ctx: dict) -> int:
    """Queue outbox rows that no job holds: pending, or queued too long (R3).

    Under arq (``ctx["redis"]``) the rows go to the queue, whose job ids keep
    a row from being queued twice. Without Redis the web process runs this
    job itself (``tasks.in_process``): each row is claimed by one conditional
    UPDATE and sent from this process, so two web processes sweeping at once
    send a row once.
    """
    redis = ctx.get("redis")
    queued = 0
    for outbox_id in await ids_to_sweep(STALE_QUEUED):
        if redis is None:
            queued += await deliver_here(ctx["settings"], outbox_id)
            continue
        job = await redis.enqueue_job(
            EMAIL_JOB, outbox_id, _job_id=email_job_id(outbox_id)
        )
        await mark_queued(outbox_id)
        queued += job is not None
    if queued:
        logger.info("sweeper queued %d outbox rows", queued)
    return queued


class WorkerSettings:
    functions = [
        purge_expired_sessions,
        sweep_outbox,
        # keep_result bounds how long arq refuses the same job id after a
        # job ended; past it the job sees the row sent and stops (R8).
        func(
            send_email,
            name=EMAIL_JOB,
            timeout=JOB_TIMEOUT_S,
            max_tries=MAX_TRIES,
            keep_result=600,
        ),
    ]
    # The one schedule: without Redis each web process runs these same jobs
    # on these same times itself (tasks.in_process).
    cron_jobs = [
        cron(purge_expired_sessions, minute={0, 15, 30, 45}),
        # Daily, early (UTC): the notices about turning 16.
        cron(send_sharing_notices, hour={5}, minute={10}),
        # Once a day, early (the worker's clock is UTC): the summaries.
        cron(send_daily_summaries, hour={5}, minute={30}),
        cron(sweep_outbox, second=0, run_at_startup=True),
    ]
    on_startup = startup
    on_shutdown = shutdown
    # The in-progress lock after a killed worker lasts the longest job
    # timeout plus 10 s (arq); no job here runs longer than the e-mail job.
    job_timeout = JOB_TIMEOUT_S
    redis_settings = RedisSettings.from_dsn(
        load_settings().redis_url or "redis://127.0.0.1:6379"
    )
