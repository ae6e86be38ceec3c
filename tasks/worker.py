"""The arq worker: ``arq tasks.worker.WorkerSettings`` (the Procfile's worker)."""

from __future__ import annotations

import logging

from arq import cron
from arq.connections import RedisSettings

from models.db import close_database, open_database
from models.settings import load_settings
from tasks.housekeeping import purge_expired_sessions

logger = logging.getLogger(__name__)


async def startup(ctx: dict) -> None:
    settings = load_settings()
    await open_database(settings, upgrade=False)
    ctx["settings"] = settings
    logger.info("worker started")


async def shutdown(ctx: dict) -> None:
    await close_database()


class WorkerSettings:
    functions = [purge_expired_sessions]
    cron_jobs = [cron(purge_expired_sessions, minute={0, 15, 30, 45})]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = RedisSettings.from_dsn(
        load_settings().redis_url or "redis://127.0.0.1:6379"
    )
