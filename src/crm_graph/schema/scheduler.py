"""The scheduler over GraphQL: ``scheduledJobs``, for operators (``jobs:read``)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from crm_graph.auth.declare import requires
from crm_graph.db.models import utcnow
from crm_graph.db.paging import Ordering
from crm_graph.scheduler.models import ScheduledJobRow, jobs_select
from crm_graph.schema.lists import connection
from crm_graph.schema.types.common import Connection, page_args, row_type

OLDEST_FIRST = Ordering("scheduled_job.id.asc", (), descending=False)


@strawberry.enum
class ScheduledJobStatus(Enum):
    SCHEDULED = "scheduled"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@strawberry.type(
    name="ScheduledJob",
    description="A plugin's periodic job, or a one-shot job (with its key), and its last run.",
)
@row_type(ScheduledJobRow, "ScheduledJob")
class ScheduledJobNode:
    name: str
    plugin: str

    @strawberry.field(description="A one-shot job's key; null for a periodic job.")
    def key(self) -> str | None:
        return self.key or None  # type: ignore[attr-defined]

    schedule: str | None = strawberry.field(
        description="A cron expression (UTC) or `every Ns`; null for a one-shot job."
    )
    status: ScheduledJobStatus

    @strawberry.field(description="A process is running it now (its lease is live).")
    def running(self) -> bool:
        lease = self.lease_until  # type: ignore[attr-defined]
        return lease is not None and lease > utcnow()

    due_at: datetime | None = strawberry.field(description="When the current run was due.")
    next_run_at: datetime | None = strawberry.field(
        description="When it is tried next (a failed attempt's retry, or the next run)."
    )
    attempts: int = strawberry.field(description="Attempts made at the current run so far.")
    last_run_at: datetime | None
    last_status: str | None = strawberry.field(description="`succeeded` or `failed`.")
    last_error: str | None
    runs: int = strawberry.field(description="Runs that succeeded.")
    created_at: datetime


@strawberry.type
class SchedulerQueries:
    @strawberry.field(metadata=requires("jobs:read"), description="Scheduled jobs, oldest first.")
    async def scheduled_jobs(
        self,
        info: Info,
        plugin: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ScheduledJobNode]:
        return await connection(
            info,
            jobs_select(plugin),
            ScheduledJobRow,
            OLDEST_FIRST,
            page_args(first, after, None, None),
        )
