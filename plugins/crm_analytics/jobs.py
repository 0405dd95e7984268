"""Training as a background job of the running app, its state kept in ``analytics_job``.

The job row is the truth (any process can read it); the task itself lives in the process
that started it. One training at a time per app: a second request is refused while one runs.
While it runs, the task touches its row every ``HEARTBEAT_SECONDS``; a queued or running job
whose row has not been touched for ``ABANDONED_AFTER`` belonged to a process that died (a
graceful stop marks its jobs FAILED itself) and reads as FAILED.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from crm_analytics import store
from crm_analytics.lazy import models_module
from crm_analytics.settings import NAME, AnalyticsSettings
from crm_analytics.tables import AnalyticsJob
from crm_graph.plugin import (
    AppContext,
    JobRun,
    ScheduledJob,
    failure_text,
    schedule_once,
    utcnow,
)

if TYPE_CHECKING:
    from crm_analytics.training import Progress, Trained

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 30.0
ABANDONED_AFTER = timedelta(minutes=2)
UNFINISHED = ("QUEUED", "RUNNING")
TRAIN_JOB = "train"
ABANDONED = "stopped: the process running this job ended without finishing it"


def abandoned(job: AnalyticsJob) -> bool:
    """Whether an unfinished job's process has stopped without finishing it."""
    return job.status in UNFINISHED and utcnow() - job.updated_at > ABANDONED_AFTER


async def _heartbeat(app: AppContext, job_id: int) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        await store.update_job(app, job_id)  # touches updated_at


def _settings(app: AppContext) -> AnalyticsSettings:
    return app.plugin_settings(NAME)


async def run(
    app: AppContext, job: AnalyticsJob, report: Progress | None = None, trigger: str = "manual"
) -> Trained:
    """Train and store as the given job, recording progress and the outcome on its row."""

    async def progress(fraction: float, message: str) -> None:
        await store.update_job(app, job.id, status="RUNNING", progress=fraction, message=message)
        if report is not None:
            await report(fraction, message)

    heartbeat = asyncio.create_task(_heartbeat(app, job.id), name=f"analytics-job-{job.id}-alive")
    try:
        training = await models_module("training")
        config = training.config_for(
            _settings(app), app.settings.default_currency, job.as_of, job.time_unit_days
        )
        trained = await training.train(app, config, progress)
        await progress(0.9, f"saving scores of {trained.customers} customers")
        await store.save(app, trained, job.id, trigger, _settings(app).reject_margin)
    except BaseException as exc:
        # An unexpected error's text may hold internals: the job shows its id, the log the rest.
        reason = (
            "stopped"
            if isinstance(exc, asyncio.CancelledError)
            else failure_text(exc, f"analytics training job {job.id}")
        )
        await asyncio.shield(
            store.update_job(
                app, job.id, status="FAILED", message=reason[:2000], finished_at=utcnow()
            )
        )
        raise
    finally:
        heartbeat.cancel()
    return trained


async def train_here(
    app: AppContext,
    as_of: datetime,
    time_unit_days: int | None = None,
    report: Progress | None = None,
) -> Trained:
    """Train as a new job run in this task, not in the background (the command line, the demo)."""
    job = await store.create_job(app, as_of, time_unit_days or _settings(app).time_unit_days)
    return await run(app, job, report)


class Jobs:
    """Background training tasks of one app (kept in ``AppContext.plugin_state``)."""

    def __init__(self, app: AppContext) -> None:
        self.app = app
        self.tasks: dict[int, asyncio.Task[Trained]] = {}

    @property
    def running(self) -> int | None:
        return next((job_id for job_id, task in self.tasks.items() if not task.done()), None)

    async def add(
        self, session: AsyncSession, as_of: datetime, time_unit_days: int | None
    ) -> AnalyticsJob:
        """The job's row, written in the caller's unit of work (``perform``: audited)."""
        unit = time_unit_days or _settings(self.app).time_unit_days
        return await store.add_job(session, as_of, unit)

    def launch(self, job: AnalyticsJob) -> None:
        """Train in the background once the job's row is committed. A fresh context: the task
        must see every customer, not only those in the requesting caller's scope."""
        task = asyncio.create_task(
            run(self.app, job), name=f"analytics-job-{job.id}", context=contextvars.Context()
        )
        task.add_done_callback(self._finished)
        self.tasks[job.id] = task

    def _finished(self, task: asyncio.Task[Trained]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("analytics training failed", exc_info=task.exception())

    async def stop(self) -> None:
        """Cancel running jobs (their rows say FAILED: stopped) and wait for them."""
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


async def unfinished(app: AppContext) -> AnalyticsJob | None:
    """The job some process is running now (not one whose process died), if any."""
    job = await store.latest_job(app)
    return job if job is not None and job.status in UNFINISHED and not abandoned(job) else None


async def scheduled(app: AppContext, run_: JobRun) -> str:
    """The scheduler's training run (``CRM_PLUGIN_ANALYTICS_SCHEDULE``, or once enough new
    orders came in): skipped while another training runs, in this process or another."""
    running = await unfinished(app)
    if running is not None:
        return f"skipped: job {running.id} is still running"
    job = await store.create_job(app, utcnow(), _settings(app).time_unit_days)
    trained = await run(app, job, trigger=str(run_.payload.get("trigger", "schedule")))
    return trained.summary()


def declarations(settings: AnalyticsSettings) -> list[ScheduledJob]:
    """One job, ``train``: periodic on the schedule when one is set, and scheduled once by
    ``orders_arrived`` whatever the schedule."""
    return [ScheduledJob(name=TRAIN_JOB, run=scheduled, schedule=settings.schedule)]


async def orders_arrived(app: AppContext) -> bool:
    """After an order: schedule a training once ``retrain_after_orders`` orders were placed
    since the active version was trained (once per version: the job's key names it)."""
    after = _settings(app).retrain_after_orders
    if after is None:
        return False
    async with app.read() as session:
        version = await store.active_version(session)
        since = version.created_at if version is not None else None
        if await store.orders_since(session, since) < after:
            return False
    async with app.write() as session:
        return await schedule_once(
            session,
            NAME,
            TRAIN_JOB,
            utcnow(),
            {"trigger": "orders"},
            key=f"after-orders-{version.id if version is not None else 0}",
        )
