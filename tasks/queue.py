"""Hand jobs to arq on Redis, or run them in this process without Redis.

The web process calls ``enqueue_email`` after the transaction that wrote the
outbox row has committed. With ``INZAGE_REDIS_URL`` the job goes to arq with
the outbox id as its job id, so a second enqueue of the same row (a retried
request, the sweeper) is refused by arq while the first exists. Without Redis
the same job function runs here as an asyncio task, retried on ``Retry`` like
arq would; the row is claimed first (``models.outbox.claim``), so that two web
processes never deliver one row at once.

Redis is transport, not storage: when it cannot be reached the request goes
on, the row stays pending, and the sweeper queues it later (R3, R4).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from arq import Retry
from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.exceptions import RedisError

from models.access import utcnow
from models.outbox import claim, hold_until, mark_queued
from models.settings import Settings

logger = logging.getLogger(__name__)

EMAIL_JOB = "send_email"
IN_PROCESS_MAX_TRIES = 8
# A queued row whose job may be lost (Redis restarted without persistence, an
# expired job, a web process stopped mid-send) is handed to a job again after
# this long; arq refuses the job id while the first job still exists, so a
# live job is not doubled.
STALE_QUEUED = timedelta(minutes=10)

_pools: dict[str, ArqRedis] = {}
_running: set[asyncio.Task] = set()


def email_job_id(outbox_id: int) -> str:
    return f"outbox-{outbox_id}"


def redis_settings(url: str) -> RedisSettings:
    """Fail fast: a request must not wait for Redis to come back."""
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 1
    settings.conn_retries = 0
    return settings


async def pool(url: str) -> ArqRedis:
    """Return this process's connection pool to Redis, made on first use."""
    if url not in _pools:
        _pools[url] = await create_pool(redis_settings(url))
    return _pools[url]


async def _drop_pool(url: str) -> None:
    broken = _pools.pop(url, None)
    if broken is not None:
        try:
            await broken.aclose()
        except (OSError, RedisError):
            pass


async def close_pools() -> None:
    for url in list(_pools):
        await _pools.pop(url).aclose()


async def enqueue_email(settings: Settings, outbox_id: int) -> bool:
    """Queue the delivery of one outbox row; False when it stays pending."""
    if not settings.redis_url:
        # Not started when another process holds the row: it is on its way.
        await deliver_here(settings, outbox_id)
        return True
    try:
        redis = await pool(settings.redis_url)
        await redis.enqueue_job(EMAIL_JOB, outbox_id, _job_id=email_job_id(outbox_id))
    except (OSError, TimeoutError, RedisError) as error:
        # One line, the id only; the sweeper queues the row once Redis is back.
        await _drop_pool(settings.redis_url)
        logger.warning(
            "outbox=%s stays pending, Redis unavailable: %s",
            outbox_id,
            type(error).__name__,
        )
        return False
    await mark_queued(outbox_id)
    return True


async def deliver_here(settings: Settings, outbox_id: int) -> bool:
    """Claim one outbox row and send it from this process; False if held elsewhere."""
    from tasks.email import send_email

    if not await claim(outbox_id, STALE_QUEUED):
        return False

    async def hold(delay_s: float) -> None:
        await hold_until(outbox_id, utcnow() + timedelta(seconds=delay_s))

    run_in_process(send_email, {"settings": settings}, outbox_id, on_retry=hold)
    return True


def run_in_process(
    job: Callable[..., Awaitable],
    ctx: dict,
    *args,
    delay_s: float = 0,
    on_retry: Callable[[float], Awaitable] | None = None,
) -> asyncio.Task:
    """Run a job as a task of this process, retrying on ``Retry`` like arq.

    ``on_retry`` is awaited with the delay before each wait for a retry.
    """

    async def attempt() -> None:
        for job_try in range(1, IN_PROCESS_MAX_TRIES + 1):
            try:
                await job({**ctx, "job_try": job_try}, *args)
                return
            except Retry as retry:
                wait_s = retry.defer_score / 1000 if retry.defer_score else 0
            except Exception:
                logger.exception("in-process job %s failed", job.__name__)
                return
            if on_retry is not None:
                try:
                    await on_retry(wait_s)
                except Exception:
                    logger.exception("in-process job %s: retry hook", job.__name__)
            await asyncio.sleep(wait_s)

    async def later() -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
        await attempt()

    task = asyncio.get_running_loop().create_task(later())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


async def drain() -> None:
    """Wait for the in-process jobs of this process (tests, shutdown)."""
    while _running:
        await asyncio.gather(*list(_running), return_exceptions=True)
