"""Hooks the analytics plugin declares for other plugins (added via ``crm_add_hookspecs``).

A plugin implementing them works with or without analytics: while analytics is disabled the
hook is never declared and its implementations are never called.
"""

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

    Receives the app (open sessions with ``app.read()``), the ids of the customers being
    scored (ascending; everyone with an order up to ``as_of``) and ``as_of``, a timezone-aware
    UTC datetime. Returns ``{feature name: {customer id: number}}``, or an awaitable of it
    (``async def`` is awaited). Feature names are ``snake_case`` and appear in churn factors
    and the model's feature list as ``<plugin>.<feature>``, e.g. ``loyalty.points_balance``.

    A customer left out of a feature (or given ``None``) counts as 0, so return only the
    customers you know something about. Values must be finite numbers (``int``, ``float``,
    ``Decimal``); anything else fails the training run with a message naming the plugin and
    the feature. Use only what was known at ``as_of``: training asks for features at a past
    cut-off and labels them with what happened next, so later data would leak the answer.
    """
