"""The report fields' reads: aggregates over stored scores and models and, for retention, the
orders.

Kept out of the resolvers so that the GraphQL layer only validates arguments and shapes
results, as in the core.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_analytics.definitions import NOT_COUNTED
from crm_analytics.tables import AnalyticsCustomerScore, AnalyticsModel, AnalyticsSegment
from crm_graph.plugin import CustomerRow, OrderRow


async def segment_totals(session: AsyncSession) -> dict[str, tuple[int, float]]:
    """Customers and revenue per stored RFM segment."""
    score = AnalyticsCustomerScore
    rows = await session.execute(
        select(score.rfm_segment, func.count(), func.sum(score.revenue)).group_by(score.rfm_segment)
    )
    return {name: (count, revenue or 0.0) for name, count, revenue in rows}


async def churn_band_counts(session: AsyncSession) -> dict[str, int]:
    """Scored customers per stored churn band."""
    band = AnalyticsCustomerScore.churn_band
    rows = await session.execute(select(band, func.count()).where(band.is_not(None)).group_by(band))
    return {name: count for name, count in rows}


async def segments(session: AsyncSession) -> list[AnalyticsSegment]:
    """The stored segments, largest (number 1) first."""
    return list(await session.scalars(select(AnalyticsSegment).order_by(AnalyticsSegment.number)))


async def retention(
    session: AsyncSession, start: datetime, end: datetime, currency: str
) -> tuple[int, int]:
    """Customers who ordered before ``start``, and how many of them ordered in [start, end)."""
    counted = (
        CustomerRow.deleted_at.is_(None),
        OrderRow.status.not_in(NOT_COUNTED),
        OrderRow.currency == currency,
    )
    buyers = select(OrderRow.customer_id).join(CustomerRow, CustomerRow.id == OrderRow.customer_id)
    before = buyers.where(*counted, OrderRow.placed_at < start).distinct().subquery()
    during = (
        buyers.where(*counted, OrderRow.placed_at >= start, OrderRow.placed_at < end)
        .distinct()
        .subquery()
    )
    base, kept = (
        await session.execute(
            select(func.count(before.c.customer_id), func.count(during.c.customer_id)).select_from(
                before.outerjoin(during, before.c.customer_id == during.c.customer_id)
            )
        )
    ).one()
    return base, kept


async def value_histogram(session: AsyncSession, edges: list[float]) -> list[tuple[int, float]]:
    """Customers and their total predicted value per bucket between ``edges``: the first bucket
    also takes tiny negative rounding noise, the last is open-ended."""
    value = AnalyticsCustomerScore.predicted_value
    ranges = [value < edges[1]]
    ranges += [and_(value >= lo, value < hi) for lo, hi in itertools.pairwise(edges[1:])]
    ranges += [value >= edges[-1]]
    row = (
        await session.execute(
            select(
                *[func.sum(case((r, 1), else_=0)) for r in ranges],
                *[func.sum(case((r, value), else_=0.0)) for r in ranges],
            ).where(value.is_not(None))
        )
    ).one()
    return [(int(row[i] or 0), row[len(edges) + i] or 0.0) for i in range(len(edges))]


async def model_metrics(session: AsyncSession) -> dict[str, dict[str, Any]]:
    """Each stored model's metrics by kind, with whether it trained, as of when and, for the
    models built on customer features (churn, segments), which features they use."""
    rows = await session.scalars(select(AnalyticsModel).order_by(AnalyticsModel.kind))
    return {
        row.kind: {
            "trained": row.trained,
            "asOf": row.as_of.isoformat(),
            **row.metrics,
            **({"features": row.params["features"]} if "features" in row.params else {}),
        }
        for row in rows
    }
