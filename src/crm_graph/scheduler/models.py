"""The scheduler's table: one row per periodic job and per one-shot job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Select, UniqueConstraint, select
from sqlmodel import Field, SQLModel

from crm_graph.db.models import utcnow
from crm_graph.db.registry import register_tables
from crm_graph.db.types import Json, UTCDateTime

SCHEDULED = "scheduled"  # waiting for ``next_run_at`` (or running, under a lease)
DONE = "done"  # a one-shot job that succeeded
FAILED = "failed"  # a one-shot job whose attempts are used up
CANCELLED = "cancelled"  # a one-shot job cancelled before it ran


class ScheduledJobRow(SQLModel, table=True):
    """A periodic job (``schedule`` set, ``key`` empty) or a one-shot job (its ``key``).

    ``attempts`` counts the attempts of the current run (reset when it succeeds or gives up);
    a row whose ``lease_until`` is in the future is running in process ``lease_owner``.
    """

    __tablename__ = "scheduled_job"
    __table_args__ = (
        UniqueConstraint("plugin", "name", "key", name="uq_scheduled_job_key"),
        Index("ix_scheduled_job_due", "status", "next_run_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plugin: str = Field(max_length=64)
    name: str = Field(max_length=120)
    key: str = Field(default="", max_length=200)
    schedule: str | None = Field(default=None, max_length=120)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(Json, nullable=False))
    status: str = Field(default=SCHEDULED, max_length=16)
    # When the current run was due (kept while it is retried), and when to try it next.
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status: str | None = Field(default=None, max_length=16)
    last_error: str | None = Field(default=None, max_length=2000)
    runs: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


register_tables(ScheduledJobRow)


def jobs_select(plugin: str | None = None) -> Select[tuple[ScheduledJobRow]]:
    """Jobs as ``scheduledJobs`` lists them (oldest first), optionally one plugin's."""
    statement = select(ScheduledJobRow)
    return statement if plugin is None else statement.where(ScheduledJobRow.plugin == plugin)
