"""Writing a training run's results and tracking jobs, each in its own short transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_analytics.tables import (
    AnalyticsCustomerScore,
    AnalyticsJob,
    AnalyticsModel,
    AnalyticsRecommendation,
    AnalyticsSegment,
    AnalyticsSimilarProduct,
)
from crm_graph.plugin import AppContext, emit, utcnow

if TYPE_CHECKING:
    from crm_analytics.training import Trained

BATCH = 5000
TRAINED_EVENT = "analytics.trained"


def _batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


async def add_job(session: AsyncSession, as_of: datetime, time_unit_days: int) -> AnalyticsJob:
    job = AnalyticsJob(as_of=as_of, time_unit_days=time_unit_days)
    session.add(job)
    await session.flush()
    return job


async def create_job(app: AppContext, as_of: datetime, time_unit_days: int) -> AnalyticsJob:
    async with app.write() as session:
        return await add_job(session, as_of, time_unit_days)


async def update_job(app: AppContext, job_id: int, **values: Any) -> None:
    async with app.write() as session:
        job = await session.get(AnalyticsJob, job_id)
        if job is None:
            return
        for name, value in values.items():
            setattr(job, name, value)
        job.updated_at = utcnow()


async def save(app: AppContext, trained: Trained, job_id: int) -> None:
    """Replace every stored score and model in one transaction, finish the job and emit
    ``analytics.trained`` with it, so readers never see half a training."""
    async with app.write() as session:
        for table in (
            AnalyticsRecommendation,
            AnalyticsSimilarProduct,
            AnalyticsCustomerScore,
            AnalyticsSegment,
            AnalyticsModel,
        ):
            await session.execute(delete(table))
        for table, rows in (
            (AnalyticsModel, trained.models),
            (AnalyticsSegment, trained.segments),
            (AnalyticsCustomerScore, trained.scores),
            (AnalyticsRecommendation, trained.recommendations),
            (AnalyticsSimilarProduct, trained.similar),
        ):
            for batch in _batches(rows):
                await session.execute(insert(table), batch)
        job = await session.get(AnalyticsJob, job_id)
        now = utcnow()
        if job is not None:
            job.status, job.progress, job.message = "SUCCEEDED", 1.0, trained.summary()
            job.updated_at = job.finished_at = now
        await emit(
            session,
            TRAINED_EVENT,
            "AnalyticsJob",
            job_id,
            {
                "asOf": trained.models[0]["as_of"].isoformat() if trained.models else None,
                "models": {m["kind"]: m["trained"] for m in trained.models},
                "customers": len(trained.scores),
            },
        )


async def latest_job(app: AppContext) -> AnalyticsJob | None:
    async with app.read() as session:
        return await session.scalar(select(AnalyticsJob).order_by(AnalyticsJob.id.desc()).limit(1))


async def forget(session: AsyncSession, customer_ids: list[int]) -> dict[str, int]:
    """Delete the stored scores and recommendations of these customers (in ``session``)."""
    counts = {}
    for table, key in (
        (AnalyticsRecommendation, "analytics_recommendations"),
        (AnalyticsCustomerScore, "analytics_scores"),
    ):
        result = await session.execute(delete(table).where(table.customer_id.in_(customer_ids)))
        counts[key] = result.rowcount or 0
    return counts
