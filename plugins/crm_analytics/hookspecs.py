"""Hooks the analytics plugin declares for other plugins (added via ``crm_add_hookspecs``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from crm_graph.plugin import AppContext, hookspec


@hookspec
def crm_analytics_customer_features(
    app: AppContext, customer_ids: list[int], as_of: datetime
) -> Mapping[str, Mapping[int, float]] | Any:
    """Numeric features of customers as they were at ``as_of``, for the churn model.

    Return ``{feature name: {customer id: value}}`` (``async def`` is awaited); customers left
    out get 0. Use only what was known at ``as_of``: training asks for features at a past
    cut-off and labels them with what happened next, so later data would leak the answer.
    Features appear in churn factors as ``<plugin>.<feature>``, e.g. ``service.open_tickets``.
    """
