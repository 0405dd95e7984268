"""The plugin's background jobs: points expire, one award at its time, and in a periodic sweep
for awards that no job was scheduled for (imported entries, or expiry switched on later)."""

from __future__ import annotations

from crm_graph.plugin import AppContext, JobRun, ScheduledJob, utcnow
from crm_loyalty import accounts
from crm_loyalty.config import EXPIRE_AWARD, EXPIRY_SWEEP, NAME, LoyaltySettings


async def expire_award(app: AppContext, run: JobRun) -> None:
    """The one-shot job :func:`accounts.schedule_expiry` schedules for each award."""
    async with app.write() as session:
        await accounts.expire(session, [run.payload["entry"]])


async def expire_points(app: AppContext, run: JobRun) -> None:
    """Expire every award older than ``points_expire_after`` not expired yet."""
    settings: LoyaltySettings = app.plugin_settings(NAME)
    if settings.points_expire_after is None:
        return
    async with app.write() as session:
        due = await accounts.awards_due_to_expire(session, utcnow() - settings.points_expire_after)
        await accounts.expire(session, due)


def declarations(settings: LoyaltySettings) -> list[ScheduledJob]:
    """The sweep runs only while points expire; an award's own expiry job always can."""
    jobs = [ScheduledJob(EXPIRE_AWARD, expire_award)]
    if settings.points_expire_after is not None:
        jobs.append(ScheduledJob(EXPIRY_SWEEP, expire_points, schedule=settings.expiry_sweep))
    return jobs
