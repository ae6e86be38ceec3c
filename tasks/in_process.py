"""Without Redis, the web process runs the worker's periodic jobs itself.

The schedule is the worker's: ``WorkerSettings.cron_jobs``, read through arq's
own ``CronJob`` (its times and ``calculate_next``), in the time zone the arq
worker would use. Each job runs as an in-process job (``tasks.queue``) with
the ctx the worker gives a job: ``ctx["settings"]`` and ``ctx["job_try"]``;
``ctx["redis"]`` is absent, which tells the sweeper to send from here.

Every web process runs this loop (the Procfile starts two), so each job must
be safe to run twice at once: the sweeper claims every outbox row with one
conditional UPDATE (``models.outbox.claim``); the daily summaries claim their
pending notices, and the turning-16 notices their ``student_notice`` row, in
the transaction that writes the e-mail or message; purging expired sessions
is one DELETE.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime, timedelta, tzinfo

from arq.cron import CronJob

from models.settings import Settings
from tasks.queue import run_in_process

logger = logging.getLogger(__name__)

# The longest nap: a changed wall clock is noticed within a minute.
MAX_NAP_S = 60.0
MIN_NAP_S = 0.05
STOP_GRACE_S = 5.0


def worker_schedule() -> tuple[list[CronJob], tzinfo]:
    """Return fresh copies of the worker's cron jobs, and the worker's time zone."""
    from tasks.worker import WorkerSettings

    jobs = [dataclasses.replace(job, next_run=None) for job in WorkerSettings.cron_jobs]
    # arq evaluates cron times in WorkerSettings.timezone, else the system's.
    zone = getattr(WorkerSettings, "timezone", None)
    return jobs, zone or datetime.now().astimezone().tzinfo


class InProcessCron:
    """Run cron jobs on their times in this process, until stopped."""

    def __init__(
        self,
        settings: Settings,
        jobs: list[CronJob] | None = None,
        zone: tzinfo | None = None,
    ):
        worker_jobs, worker_zone = worker_schedule()
        self.settings = settings
        self.jobs = worker_jobs if jobs is None else jobs
        self.zone = zone or worker_zone
        self._every: dict[str, timedelta] = {}
        if settings.outbox_sweep_s:
            from tasks.worker import sweep_outbox

            for job in self.jobs:
                if job.coroutine is sweep_outbox:
                    self._every[job.name] = timedelta(seconds=settings.outbox_sweep_s)
        self._loop: asyncio.Task | None = None
        self._running: dict[str, asyncio.Task] = {}

    def start(self) -> InProcessCron:
        self._loop = asyncio.get_running_loop().create_task(self._run())
        logger.info(
            "no Redis: this process runs the jobs %s",
            ", ".join(job.name for job in self.jobs),
        )
        return self

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop planning; let running jobs finish for a moment, then cancel them."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None
        running = [task for task in self._running.values() if not task.done()]
        if running:
            await asyncio.wait(running, timeout=grace_s)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        self._running.clear()

    async def _run(self) -> None:
        while True:
            try:
                for job in self._due(datetime.now(self.zone)):
                    self._launch(job)
            except Exception:
                # A job's own failure is logged by run_in_process; this is the
                # planning itself, which must not end the loop.
                logger.exception("in-process cron planning failed")
            await asyncio.sleep(self._nap_s())

    def _due(self, now: datetime) -> list[CronJob]:
        """Return the jobs due now, and plan the next run of each (as arq does)."""
        due = []
        for job in self.jobs:
            if job.next_run is None:
                if job.run_at_startup:
                    job.next_run = now
                else:
                    self._plan(job, now)
                    continue
            if job.next_run <= now:
                due.append(job)
                # From now, not from the missed time: after a long pause (a
                # suspended laptop) a job runs once, not once per missed slot.
                self._plan(job, now)
        return due

    def _plan(self, job: CronJob, after: datetime) -> None:
        every = self._every.get(job.name)
        if every is not None:
            job.next_run = after + every
        else:
            job.calculate_next(after)

    def _nap_s(self) -> float:
        planned = [job.next_run for job in self.jobs if job.next_run is not None]
        if not planned:
            return MAX_NAP_S
        wait = (min(planned) - datetime.now(self.zone)).total_seconds()
        return min(max(wait, MIN_NAP_S), MAX_NAP_S)

    def _launch(self, job: CronJob) -> None:
        previous = self._running.get(job.name)
        if previous is not None and not previous.done():
            logger.warning("%s still runs; this run is skipped", job.name)
            return
        ctx = {"settings": self.settings}
        self._running[job.name] = run_in_process(job.coroutine, ctx)
