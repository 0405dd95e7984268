"""Background jobs: periodic ones a plugin declares (``crm_scheduled_jobs``) and one-shot ones
its code schedules inside a unit of work; each run is taken by one server process at a time.

A run that raises fails (and is retried): ``scheduledJobs`` shows an :class:`ExplainedFailure`'s
message as ``lastError``, and anything else only as ``INTERNAL_ERROR`` with an error id, the
exception and its traceback going to the ``crm_graph.errors`` log. ``failure_text`` gives a
plugin the same for failures it stores and shows itself (a job row's message, say)."""

from __future__ import annotations

from crm_graph.failures import ExplainedFailure, failure_text
from crm_graph.scheduler.jobs import JobRun, ScheduledJob, cancel_job, schedule_once

__all__ = [
    "ExplainedFailure",
    "JobRun",
    "ScheduledJob",
    "cancel_job",
    "failure_text",
    "schedule_once",
]
