"""Per-request DataLoaders (from ``crm_request_context``): N customers cost one statement per
kind of stored score, whatever N is."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from crm_analytics.tables import (
    AnalyticsCustomerScore,
    AnalyticsModel,
    AnalyticsRecommendation,
    AnalyticsSegment,
    AnalyticsSimilarProduct,
)
from crm_graph.plugin import AppContext


def _by_key(app: AppContext, table: Any, column: Any) -> DataLoader[Any, Any]:
    async def load(keys: Sequence[Any]) -> list[Any]:
        async with app.read() as session:
            rows = {
                getattr(row, column.key): row
                for row in await session.scalars(select(table).where(column.in_(keys)))
            }
        return [rows.get(key) for key in keys]

    return DataLoader(load_fn=load)


def _ranked(app: AppContext, table: Any, column: Any) -> DataLoader[int, list[Any]]:
    async def load(keys: Sequence[int]) -> list[list[Any]]:
        found: dict[int, list[Any]] = defaultdict(list)
        async with app.read() as session:
            for row in await session.scalars(
                select(table).where(column.in_(keys)).order_by(column, table.rank)
            ):
                found[getattr(row, column.key)].append(row)
        return [found[key] for key in keys]

    return DataLoader(load_fn=load)


class AnalyticsLoaders:
    """Created fresh for every request: stored models, scores, segments and recommendations."""

    def __init__(self, app: AppContext) -> None:
        self.models = _by_key(app, AnalyticsModel, AnalyticsModel.kind)
        self.scores = _by_key(app, AnalyticsCustomerScore, AnalyticsCustomerScore.customer_id)
        self.segments = _by_key(app, AnalyticsSegment, AnalyticsSegment.number)
        self.recommendations = _ranked(
            app, AnalyticsRecommendation, AnalyticsRecommendation.customer_id
        )
        self.similar = _ranked(app, AnalyticsSimilarProduct, AnalyticsSimilarProduct.product_id)
