"""Writing a training run's results and tracking jobs, each in its own short transaction."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_analytics.tables import (
    AnalyticsCustomerScore,
    AnalyticsItemWeights,
    AnalyticsJob,
    AnalyticsModel,
    AnalyticsModelVersion,
    AnalyticsPopularInCategory,
    AnalyticsSegment,
    AnalyticsSimilarProduct,
)
from crm_graph.plugin import AppContext, OrderRow, emit, insert_records, utcnow

if TYPE_CHECKING:
    from crm_analytics.training import Trained

BATCH = 100_000  # score rows per bulk write
TRAINED_EVENT = "analytics.trained"
REJECTED_EVENT = "analytics.model_rejected"
ACTIVE, RETIRED, REJECTED = "ACTIVE", "RETIRED", "REJECTED"


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


# The figures a new run must not fall more than the margin below (model kind, metric path).
GUARDED = (("recommendations", ("holdout", "ndcg@10")), ("churn", ("cvRocAuc",)))


def _figure(metrics: dict[str, Any], kind: str, path: tuple[str, ...]) -> float | None:
    value: Any = metrics.get(kind)
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


def worse(current: dict[str, Any], new: dict[str, Any], margin: float) -> str | None:
    """Why ``new`` figures fall more than ``margin`` (a share) below ``current``, or None."""
    reasons = []
    for kind, path in GUARDED:
        before, after = _figure(current, kind, path), _figure(new, kind, path)
        if before is not None and after is not None and after < before * (1.0 - margin):
            reasons.append(
                f"{kind} {path[-1]} {after:.4f} is more than {margin:.0%} below "
                f"the active version's {before:.4f}"
            )
    return "; ".join(reasons) or None


def version_metrics(trained: Trained) -> dict[str, Any]:
    return {m["kind"]: {"trained": m["trained"], **m["metrics"]} for m in trained.models}


async def save(
    app: AppContext, trained: Trained, job_id: int, trigger: str, margin: float
) -> AnalyticsModelVersion:
    """Record the run as a model version and, unless its figures fall more than ``margin``
    below the active version's, replace every stored score and model in the same transaction
    and emit ``analytics.trained``, so readers never see half a training. A rejected run is
    kept (``REJECTED``, with the reason) and emits ``analytics.model_rejected`` instead."""
    started = time.perf_counter()
    async with app.write() as session:
        current = await session.scalar(
            select(AnalyticsModelVersion).where(AnalyticsModelVersion.status == ACTIVE)
        )
        metrics = version_metrics(trained)
        problem = worse(current.metrics, metrics, margin) if current is not None else None
        version = AnalyticsModelVersion(
            job_id=job_id,
            status=REJECTED if problem else ACTIVE,
            trigger=trigger,
            as_of=trained.as_of,
            data_from=trained.data_from,
            orders=trained.orders,
            customers=trained.customers,
            metrics=metrics,
            timings=trained.timings,
            reason=problem or "",
        )
        session.add(version)
        if current is not None and not problem:
            current.status = RETIRED
        await session.flush()
        if not problem:
            await _replace(session, trained)
        version.timings = {**trained.timings, "store": round(time.perf_counter() - started, 3)}
        job = await session.get(AnalyticsJob, job_id)
        now = utcnow()
        if job is not None:
            message = f"rejected: {problem}" if problem else trained.summary()
            job.status, job.progress, job.message = "SUCCEEDED", 1.0, message[:2000]
            job.updated_at = job.finished_at = now
        payload: dict[str, Any] = {"asOf": trained.as_of.isoformat(), "version": version.id}
        if problem:
            await emit(
                session,
                REJECTED_EVENT,
                "AnalyticsJob",
                job_id,
                payload | {"reason": problem, "activeVersion": current.id if current else None},
            )
        else:
            await emit(
                session,
                TRAINED_EVENT,
                "AnalyticsJob",
                job_id,
                payload
                | {
                    "models": {m["kind"]: m["trained"] for m in trained.models},
                    "customers": trained.customers,
                },
            )
    return version


async def _replace(session: AsyncSession, trained: Trained) -> None:
    for table in (
        AnalyticsItemWeights,
        AnalyticsPopularInCategory,
        AnalyticsSimilarProduct,
        AnalyticsCustomerScore,
        AnalyticsSegment,
        AnalyticsModel,
    ):
        await session.execute(delete(table))
    for table, rows in (
        (AnalyticsModel, trained.models),
        (AnalyticsSegment, trained.segments),
        (AnalyticsItemWeights, trained.item_weights),
        (AnalyticsPopularInCategory, trained.popular_in_category),
    ):
        if rows:
            await session.execute(insert(table), rows)
    # The large ones column by column, in bulk (COPY on PostgreSQL, executemany on SQLite):
    # derived data, not a change anyone made, so not audited.
    for table, columns in (
        (AnalyticsCustomerScore, trained.scores),
        (AnalyticsSimilarProduct, trained.similar),
    ):
        for start in range(0, len(next(iter(columns.values()), ())), BATCH):
            await insert_records(
                session,
                table.__table__,
                list(columns),
                list(
                    zip(*(_plain(c[start : start + BATCH]) for c in columns.values()), strict=True)
                ),
                audited=False,
            )


def _plain(values: Any) -> list[Any]:
    """Python values of a column's slice (numpy arrays become lists a batch at a time: a
    million customers' scores are never all Python objects at once)."""
    return values.tolist() if hasattr(values, "tolist") else values


async def versions(session: AsyncSession) -> list[dict[str, Any]]:
    """Every model version, newest first, as ``analyticsModels(history: true)`` lists them."""
    rows = await session.scalars(
        select(AnalyticsModelVersion).order_by(AnalyticsModelVersion.id.desc())
    )
    return [
        {
            "version": row.id,
            "status": row.status,
            "trigger": row.trigger,
            "asOf": row.as_of.isoformat(),
            "dataFrom": row.data_from.isoformat() if row.data_from else None,
            "orders": row.orders,
            "customers": row.customers,
            "metrics": row.metrics,
            "seconds": row.timings,
            "reason": row.reason or None,
            "createdAt": row.created_at.isoformat(),
        }
        for row in rows
    ]


async def active_version(session: AsyncSession) -> AnalyticsModelVersion | None:
    return await session.scalar(
        select(AnalyticsModelVersion).where(AnalyticsModelVersion.status == ACTIVE)
    )


async def latest_job(app: AppContext) -> AnalyticsJob | None:
    async with app.read() as session:
        return await session.scalar(select(AnalyticsJob).order_by(AnalyticsJob.id.desc()).limit(1))


async def forget(session: AsyncSession, customer_ids: list[int]) -> dict[str, int]:
    """Delete the stored scores of these customers (in ``session``)."""
    score = AnalyticsCustomerScore
    result = await session.execute(delete(score).where(score.customer_id.in_(customer_ids)))
    return {"analytics_scores": result.rowcount or 0}


async def orders_since(session: AsyncSession, moment: datetime | None) -> int:
    """Orders recorded after ``moment`` (all of them for None)."""
    query = select(func.count()).select_from(OrderRow)
    if moment is not None:
        query = query.where(OrderRow.created_at > moment)
    return int(await session.scalar(query) or 0)
