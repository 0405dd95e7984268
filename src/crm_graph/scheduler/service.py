"""The scheduler of one server process: takes due runs, runs them, keeps their leases.

It sleeps until the earliest next run (or the end of another process's lease), or until a
unit of work schedules something (after commit in this process; NOTIFY on PostgreSQL for the
others), and at most ``CRM_SCHEDULER_POLL_SECONDS``: an idle server reads one row a poll.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from crm_graph.db.models import utcnow
from crm_graph.events.loops import wait_or_timeout
from crm_graph.events.notify import listen
from crm_graph.failures import failure_text
from crm_graph.mail import delivery as mail
from crm_graph.plugins_manager import PluginError
from crm_graph.scheduler import claims
from crm_graph.scheduler.claims import Declared, Policy
from crm_graph.scheduler.jobs import CHANNEL, DUE_CHANGED, JobRun, ScheduledJob

if TYPE_CHECKING:
    from crm_graph.runtime import AppContext

logger = logging.getLogger("crm_graph.scheduler")
CORE = "core"  # the owner of the core's jobs, where a plugin's name would be
SOONEST_SECONDS = 0.05  # a due run another process is claiming right now: look again shortly


def core_jobs(app: AppContext) -> Declared:
    """The core's own jobs: delivering outbound e-mail, while ``CRM_SMTP_URL`` is set."""
    if app.settings.smtp_url is None:
        return {}
    every = timedelta(seconds=app.settings.smtp_poll_seconds)
    return {(CORE, mail.JOB): ScheduledJob(mail.JOB, mail.deliver_due, schedule=every)}


def declared_jobs(app: AppContext) -> Declared:
    """The core's jobs and every enabled plugin's ``crm_scheduled_jobs``, checked (a bad one
    stops startup)."""
    declared: Declared = core_jobs(app)
    for plugin, jobs in app.plugins.each(app.plugins.hook.crm_scheduled_jobs, app=app):
        for job in jobs or []:
            if not isinstance(job, ScheduledJob):
                raise PluginError(f"plugin {plugin!r}: crm_scheduled_jobs must return ScheduledJob")
            if (plugin, job.name) in declared:
                raise PluginError(
                    f"plugin {plugin!r} declares the scheduled job {job.name!r} twice"
                )
            declared[(plugin, job.name)] = job
    return declared


class Scheduler:
    def __init__(self, app: AppContext) -> None:
        self.app = app
        settings = app.settings
        self.policy = Policy(
            owner=uuid.uuid4().hex,
            lease=timedelta(seconds=settings.scheduler_lease_seconds),
            max_attempts=settings.scheduler_max_attempts,
            retry_base=timedelta(seconds=settings.scheduler_retry_seconds),
        )
        self.declared: Declared = {}
        self.wake = asyncio.Event()
        self.running: dict[int, asyncio.Task[None]] = {}
        self.tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        self.declared = declared_jobs(self.app)
        if not self.declared:
            return
        await claims.declare(self.app.engine, self.declared)
        event.listen(Session, "after_commit", self._after_commit)
        self.tasks.append(asyncio.create_task(self._loop(), name="scheduler"))
        self.tasks.append(asyncio.create_task(self._heartbeat(), name="scheduler leases"))
        if self.app.engine.dialect.name == "postgresql":
            channels = {CHANNEL: self.wake.set}
            self.tasks.append(asyncio.create_task(listen(self.app.engine.url, channels)))

    async def stop(self) -> None:
        if event.contains(Session, "after_commit", self._after_commit):
            event.remove(Session, "after_commit", self._after_commit)
        runs = list(self.running.values())
        for task in [*self.tasks, *runs]:
            task.cancel()
        await asyncio.gather(*self.tasks, *runs, return_exceptions=True)
        self.tasks.clear()
        await claims.release(self.app.engine, self.policy.owner)

    async def _loop(self) -> None:
        poll = self.app.settings.scheduler_poll_seconds
        while True:
            self.wake.clear()
            try:
                timeout = await self._step(poll)
            except Exception:
                logger.exception("the scheduler failed; retrying in %.1fs", poll)
                timeout = poll
            await wait_or_timeout(self.wake, timeout)

    async def _step(self, poll: float) -> float:
        """Take due runs while there is room; how long to sleep then."""
        engine, workers = self.app.engine, self.app.settings.scheduler_workers
        while True:
            if len(self.running) >= workers:
                return poll  # a finishing run wakes the loop
            due = await claims.next_due(engine, self.declared, self.policy.owner)
            if due is None:
                return poll
            wait = (due - utcnow()).total_seconds()
            if wait > 0:
                return min(wait, poll)
            run = await claims.claim(engine, self.declared, self.policy)
            if run is None:
                return SOONEST_SECONDS
            self._start(run)

    def _start(self, run: JobRun) -> None:
        """A fresh context: a job sees every row, whoever's request scheduled it."""
        task = asyncio.create_task(
            self._run(run), name=f"job {run.plugin}.{run.name}", context=contextvars.Context()
        )
        self.running[run.job_id] = task

    async def _run(self, run: JobRun) -> None:
        job = self.declared[(run.plugin, run.name)]
        try:
            error = None
            try:
                await job.run(self.app, run)
            except Exception as exc:  # logged with its traceback; shown as its id only
                error = failure_text(exc, f"scheduled job {run.plugin}.{run.name}")
            if not await claims.finish(self.app.engine, run, job, self.policy, error):
                logger.warning("scheduled job %s.%s lost its lease", run.plugin, run.name)
        finally:
            self.running.pop(run.job_id, None)
            self.wake.set()

    async def _heartbeat(self) -> None:
        """Renew the leases of the runs under way; one whose lease was lost is stopped."""
        every = self.app.settings.scheduler_lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            under_way = list(self.running)
            try:
                held = await claims.renew(
                    self.app.engine, self.policy.owner, under_way, self.policy.lease
                )
            except Exception:
                logger.exception("renewing scheduled jobs' leases failed")
                continue
            for job_id in under_way:
                if job_id not in held and job_id in self.running:
                    self.running[job_id].cancel()

    def _after_commit(self, session: Session) -> None:
        """A unit of work of this app scheduled a job: look again now."""
        if getattr(session.bind, "pool", None) is not self.app.engine.sync_engine.pool:
            return
        if session.info.pop(DUE_CHANGED, False):
            self.wake.set()
