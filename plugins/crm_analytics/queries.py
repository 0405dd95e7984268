"""The report fields' reads: aggregates over stored scores and models and, for retention, the
orders.

Kept out of the resolvers so that the GraphQL layer only validates arguments and shapes
results, as in the core.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_analytics.definitions import NOT_COUNTED
from crm_analytics.tables import (
    AnalyticsCustomerScore,
    AnalyticsItemWeights,
    AnalyticsModel,
    AnalyticsPopularInCategory,
    AnalyticsSegment,
)
from crm_graph.plugin import CustomerRow, OrderLineRow, OrderRow, ProductRow


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


Bought = tuple[int, int, datetime, str | None, bytes | None, bytes | None, str]


async def purchases_with_model(
    session: AsyncSession, customer_ids: list[int], as_of: datetime, currency: str
) -> tuple[list[Bought], dict[str, tuple[bytes, bytes]]]:
    """What recommending to these customers reads, in one statement: per (customer, product)
    they bought up to ``as_of`` as training counted it, the latest purchase, the product's
    category, its row of the model's weights and its name; and the popular products of those
    categories.

    Core tables, not the ORM: the ownership scope already chose the customers (their orders
    are read only to rank products for them, as training did for everyone)."""
    order, line, product = OrderRow.__table__, OrderLineRow.__table__, ProductRow.__table__
    weights, pool = AnalyticsItemWeights.__table__, AnalyticsPopularInCategory.__table__
    bought = (
        select(
            order.c.customer_id,
            line.c.product_id,
            func.max(order.c.placed_at).label("latest"),
        )
        .select_from(line.join(order, order.c.id == line.c.order_id))
        .where(
            order.c.customer_id.in_(customer_ids),
            order.c.status.not_in(NOT_COUNTED),
            order.c.placed_at <= as_of,
            order.c.currency == currency,
        )
        .group_by(order.c.customer_id, line.c.product_id)
        .cte("bought")
    )
    lines = select(
        bought.c.customer_id,
        bought.c.product_id,
        bought.c.latest,
        product.c.category,
        weights.c.neighbours,
        weights.c.weights,
        product.c.name,
    ).select_from(
        bought.join(product, product.c.id == bought.c.product_id).outerjoin(
            weights, weights.c.product_id == bought.c.product_id
        )
    )
    bought_categories = select(product.c.category).join(bought, bought.c.product_id == product.c.id)
    pools = select(
        literal(None, Integer),
        literal(None, Integer),
        literal(None, bought.c.latest.type),
        pool.c.category,
        pool.c.products,
        pool.c.shares,
        literal(None, String),
    ).where(pool.c.category.in_(bought_categories))
    found: list[Bought] = []
    categories: dict[str, tuple[bytes, bytes]] = {}
    for row in await session.execute(lines.union_all(pools)):
        if row[0] is None:
            categories[row[3]] = (row[4], row[5])
        else:
            found.append(tuple(row))  # type: ignore[arg-type]
    return found, categories
