"""Taking a due run under a lease, keeping the lease while it runs, and recording its outcome.

Every change is a short write transaction. A claim locks the row it takes (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL; on SQLite every write transaction is ``BEGIN IMMEDIATE``, so claims of
several processes queue), so two processes never take the same run while its lease is live.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_graph.db.engine import read_session, write_session
from crm_graph.db.models import utcnow
from crm_graph.db.types import UTCDateTime
from crm_graph.scheduler.jobs import JobRun, ScheduledJob, insert_job
from crm_graph.scheduler.models import DONE, FAILED, SCHEDULED, ScheduledJobRow

INTERRUPTED = "the process running attempt {n} stopped before it finished"
Declared = dict[tuple[str, str], ScheduledJob]  # (plugin, job name) -> declaration


@dataclass(frozen=True)
class Policy:
    """How one process runs jobs: its identity, lease and retries (from the settings)."""

    owner: str
    lease: timedelta
    max_attempts: int
    retry_base: timedelta

    def attempts_for(self, job: ScheduledJob) -> int:
        return job.max_attempts or self.max_attempts

    def backoff(self, attempt: int) -> timedelta:
        """Doubling from ``retry_base`` after each failed attempt, at most an hour (or the base)."""
        return min(self.retry_base * 2 ** (attempt - 1), max(self.retry_base, timedelta(hours=1)))


def _declared(declared: Declared) -> ColumnElement[bool]:
    """Rows this process can run: jobs its enabled plugins declare."""
    pairs = [
        and_(ScheduledJobRow.plugin == plugin, ScheduledJobRow.name == name)
        for plugin, name in declared
    ]
    return or_(*pairs) if pairs else false()


async def declare(engine: AsyncEngine, declared: Declared) -> None:
    """Create the row of each periodic job, and follow a changed schedule (next run anew)."""
    now = utcnow()
    periodic = [(key, job) for key, job in declared.items() if job.parsed is not None]
    if not periodic:
        return
    async with write_session(engine) as session:
        for (plugin, name), job in periodic:
            first = job.parsed.first(now)  # type: ignore[union-attr]
            text = job.parsed.text  # type: ignore[union-attr]
            await insert_job(session, plugin, name, "", first, {}, schedule=text)
            await session.execute(
                update(ScheduledJobRow)
                .where(
                    ScheduledJobRow.plugin == plugin,
                    ScheduledJobRow.name == name,
                    ScheduledJobRow.key == "",
                    ScheduledJobRow.schedule != text,
                )
                .values(
                    schedule=text,
                    due_at=first,
                    next_run_at=first,
                    attempts=0,
                    updated_at=now,
                )
            )


async def next_due(engine: AsyncEngine, declared: Declared, owner: str) -> datetime | None:
    """When this process may next find a run to take: the earliest next run, or the end of
    the live lease of a run another process holds (a read: an idle process takes no lock)."""
    at = case(
        (
            and_(
                ScheduledJobRow.lease_until.is_not(None),
                ScheduledJobRow.lease_until > ScheduledJobRow.next_run_at,
            ),
            ScheduledJobRow.lease_until,
        ),
        else_=ScheduledJobRow.next_run_at,
    )
    async with read_session(engine) as session:
        return await session.scalar(
            select(type_coerce(func.min(at), UTCDateTime())).where(
                ScheduledJobRow.status == SCHEDULED,
                ScheduledJobRow.next_run_at.is_not(None),
                or_(ScheduledJobRow.lease_owner.is_(None), ScheduledJobRow.lease_owner != owner),
                _declared(declared),
            )
        )


async def claim(engine: AsyncEngine, declared: Declared, policy: Policy) -> JobRun | None:
    """Take the next due run and start its attempt; None when nothing is due."""
    while True:
        now = utcnow()
        async with write_session(engine) as session:
            row = await session.scalar(
                select(ScheduledJobRow)
                .where(
                    ScheduledJobRow.status == SCHEDULED,
                    ScheduledJobRow.next_run_at <= now,
                    or_(ScheduledJobRow.lease_until.is_(None), ScheduledJobRow.lease_until < now),
                    _declared(declared),
                )
                .order_by(ScheduledJobRow.next_run_at, ScheduledJobRow.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if row is None:
                return None
            job = declared[(row.plugin, row.name)]
            if row.lease_owner is not None:  # its process died during the attempt
                row.last_error = INTERRUPTED.format(n=row.attempts)
                row.last_status, row.last_run_at = "failed", row.lease_until
                row.lease_owner = row.lease_until = None
                if row.attempts >= policy.attempts_for(job):
                    _give_up(row, job, now)
                    continue
            row.attempts += 1
            row.lease_owner, row.lease_until = policy.owner, now + policy.lease
            row.updated_at = now
            return JobRun(
                job_id=row.id,  # type: ignore[arg-type]
                plugin=row.plugin,
                name=row.name,
                key=row.key,
                payload=dict(row.payload),
                due_at=row.due_at or now,
                attempt=row.attempts,
            )


async def finish(
    engine: AsyncEngine, run: JobRun, job: ScheduledJob, policy: Policy, error: str | None
) -> bool:
    """Record the attempt's outcome; False when the lease was lost (another process took the
    run again, and its outcome counts)."""
    now = utcnow()
    async with write_session(engine) as session:
        row = await session.scalar(
            select(ScheduledJobRow)
            .where(
                ScheduledJobRow.id == run.job_id,
                ScheduledJobRow.lease_owner == policy.owner,
                ScheduledJobRow.status == SCHEDULED,
            )
            .with_for_update()
        )
        if row is None:
            return False
        row.lease_owner = row.lease_until = None
        row.last_run_at, row.updated_at = now, now
        row.last_error = error[:2000] if error else None
        row.last_status = "failed" if error else "succeeded"
        if error is None:
            row.runs += 1
            _next_run(row, job, now)
        elif row.attempts < policy.attempts_for(job):
            row.next_run_at = now + policy.backoff(row.attempts)
        else:
            _give_up(row, job, now)
    return True


def _give_up(row: ScheduledJobRow, job: ScheduledJob, now: datetime) -> None:
    """The run's attempts are used up: a periodic job waits for its next run."""
    if job.parsed is None:
        row.status, row.attempts, row.next_run_at = FAILED, row.attempts, None
    else:
        _next_run(row, job, now)
    row.updated_at = now


def _next_run(row: ScheduledJobRow, job: ScheduledJob, now: datetime) -> None:
    row.attempts = 0
    if job.parsed is None:
        row.status, row.next_run_at = DONE, None
    else:
        row.due_at = row.next_run_at = job.parsed.after(row.due_at or now, now)


async def renew(
    engine: AsyncEngine, owner: str, job_ids: Iterable[int], lease: timedelta
) -> set[int]:
    """Extend this process's leases on the given jobs; the ids whose lease it still holds."""
    ids = list(job_ids)
    if not ids:
        return set()
    async with write_session(engine) as session:
        held = await session.scalars(
            update(ScheduledJobRow)
            .where(ScheduledJobRow.id.in_(ids), ScheduledJobRow.lease_owner == owner)
            .values(lease_until=utcnow() + lease)
            .returning(ScheduledJobRow.id)
        )
        return set(held)


async def release(engine: AsyncEngine, owner: str) -> None:
    """A graceful stop gives back every run this process holds: they are due again at once,
    elsewhere, and the stopped attempt does not count. Every one, not only those running: a
    claim the stop interrupted may have committed before its run started."""
    async with write_session(engine) as session:
        await session.execute(
            update(ScheduledJobRow)
            .where(ScheduledJobRow.lease_owner == owner, ScheduledJobRow.status == SCHEDULED)
            .values(
                lease_owner=None,
                lease_until=None,
                attempts=ScheduledJobRow.attempts - 1,
                updated_at=utcnow(),
            )
        )
