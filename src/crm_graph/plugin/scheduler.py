"""Background jobs: periodic ones a plugin declares (``crm_scheduled_jobs``) and one-shot ones
its code schedules inside a unit of work; each run is taken by one server process at a time."""

from __future__ import annotations

from crm_graph.scheduler.jobs import JobRun, ScheduledJob, cancel_job, schedule_once

__all__ = ["JobRun", "ScheduledJob", "cancel_job", "schedule_once"]
