"""What plugins use: job declarations, the run a job receives, one-shot jobs and cancelling.

``schedule_once`` and ``cancel_job`` write in the caller's unit of work, so a job scheduled
together with the change that needs it (a task and its reminder) commits with it, or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.db.models import utcnow
from crm_graph.scheduler.models import CANCELLED, SCHEDULED, ScheduledJobRow
from crm_graph.scheduler.schedules import Schedule

if TYPE_CHECKING:
    from crm_graph.runtime import AppContext

CHANNEL = "crm_scheduler"  # NOTIFY on PostgreSQL: wakes every process's scheduler
DUE_CHANGED = "crm_scheduler_due_changed"  # session.info flag: wake this process after commit


@dataclass(frozen=True)
class JobRun:
    """One run of a job, as its function receives it.

    ``run_id`` names this run (the job and the time it was due) and stays the same when the
    run is retried: a job whose side effects must happen once keys them on it.
    """

    job_id: int
    plugin: str
    name: str
    key: str
    payload: dict[str, Any]
    due_at: datetime
    attempt: int

    @property
    def run_id(self) -> str:
        return f"{self.job_id}@{self.due_at.isoformat()}"


JobFunction = Callable[["AppContext", JobRun], Awaitable[Any]]


@dataclass(frozen=True)
class ScheduledJob:
    """A job a plugin declares with ``crm_scheduled_jobs``.

    ``schedule``: a cron expression (UTC, five fields) or a ``timedelta`` for a periodic job;
    ``None`` for a job that runs only when scheduled with :func:`schedule_once`.
    ``max_attempts`` (default ``CRM_SCHEDULER_MAX_ATTEMPTS``) bounds the attempts of one run.
    """

    name: str
    run: JobFunction
    schedule: str | timedelta | None = None
    max_attempts: int | None = None
    parsed: Schedule | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parsed = None if self.schedule is None else Schedule.of(self.schedule)
        object.__setattr__(self, "parsed", parsed)


async def schedule_once(
    session: AsyncSession,
    plugin: str,
    name: str,
    at: datetime,
    payload: dict[str, Any] | None = None,
    *,
    key: str,
) -> bool:
    """Run the plugin's job ``name`` once at ``at`` (an aware datetime) with ``payload``.

    Idempotent on ``key``: when the plugin already has a job ``name`` with this key (pending,
    done or cancelled), nothing new is scheduled and the answer is False.
    """
    if at.tzinfo is None:
        raise ValueError("schedule_once needs an aware datetime")
    inserted = await insert_job(session, plugin, name, key, at, payload or {})
    if inserted:
        await due_changed(session)
    return inserted


async def insert_job(
    session: AsyncSession,
    plugin: str,
    name: str,
    key: str,
    at: datetime,
    payload: dict[str, Any],
    schedule: str | None = None,
) -> bool:
    """Add a job due at ``at`` unless the plugin has one of this name and key; whether added.
    (An insert that skips a conflict: two processes or requests at once add it once.)"""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    now = utcnow()
    inserted = await session.execute(
        dialect.insert(ScheduledJobRow)
        .values(
            plugin=plugin,
            name=name,
            key=key,
            schedule=schedule,
            payload=payload,
            status=SCHEDULED,
            due_at=at,
            next_run_at=at,
            attempts=0,
            runs=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["plugin", "name", "key"])
    )
    return bool(inserted.rowcount)


async def cancel_job(session: AsyncSession, plugin: str, name: str, *, key: str) -> bool:
    """Cancel the plugin's pending one-shot job ``name`` with ``key``; whether there was one.

    A run already under way finishes; it is not run again."""
    cancelled = await session.execute(
        update(ScheduledJobRow)
        .where(
            ScheduledJobRow.plugin == plugin,
            ScheduledJobRow.name == name,
            ScheduledJobRow.key == key,
            ScheduledJobRow.status == SCHEDULED,
        )
        .values(status=CANCELLED, next_run_at=None, updated_at=utcnow())
    )
    return bool(cancelled.rowcount)


async def due_changed(session: AsyncSession) -> None:
    """Wake the schedulers once this unit of work commits (NOTIFY is sent at commit)."""
    session.info[DUE_CHANGED] = True
    if session.bind.dialect.name == "postgresql":
        await session.execute(text(f"SELECT pg_notify('{CHANNEL}', '')"))
