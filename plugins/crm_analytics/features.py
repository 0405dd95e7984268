"""Per-customer features at a point in time, for churn risk and segments.

Everything is computed from what was known at ``now`` (a ``Dataset`` already cut there), so a
model trained on features at a past cut-off never sees its own future.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from crm_analytics.dataset import Dataset

ORDER_FEATURES = (
    "recency_days",
    "tenure_days",
    "orders",
    "orders_in_window",
    "revenue",
    "average_order_value",
    "days_between_orders",
    "overdue_ratio",
    "interactions",
    "interactions_in_window",
    "inbound_in_window",
    "days_since_interaction",
)


@dataclass(frozen=True)
class Features:
    customers: np.ndarray  # ids, ascending
    names: list[str]
    values: np.ndarray  # customers x names

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]


def _per_customer(
    customers: np.ndarray, owner: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Index of each row's customer (-1 when not among ``customers``) and per-customer sums."""
    index = np.searchsorted(customers, owner)
    index[index >= len(customers)] = 0
    known = customers[index] == owner if len(customers) else np.zeros(len(owner), bool)
    index = np.where(known, index, -1)
    sums = np.bincount(
        index[known], weights=None if weights is None else weights[known], minlength=len(customers)
    )
    return index, sums.astype(float)


def _extreme(
    index: np.ndarray, values: np.ndarray, size: int, fill: float, ufunc: np.ufunc
) -> np.ndarray:
    out = np.full(size, fill)
    known = index >= 0
    ufunc.at(out, index[known], values[known])
    return out


def customer_features(
    data: Dataset, window_days: float, extra: Mapping[str, Mapping[int, float]] | None = None
) -> Features:
    """Order and interaction features of every customer with an order, plus plugin features
    (``extra``: feature name -> {customer id: value}; customers a plugin leaves out get 0)."""
    now = data.now
    customers = np.unique(data.order_customer)
    n = len(customers)
    idx, orders = _per_customer(customers, data.order_customer)
    _, revenue = _per_customer(customers, data.order_customer, data.order_total)
    first = _extreme(idx, data.order_time, n, np.inf, np.minimum)
    last = _extreme(idx, data.order_time, n, -np.inf, np.maximum)
    recent = data.order_time > now - window_days
    _, orders_in_window = _per_customer(customers, data.order_customer[recent])
    tenure = now - first
    recency = now - last
    gap = np.where(orders > 1, (last - first) / np.maximum(orders - 1, 1), tenure)
    tidx, interactions = _per_customer(customers, data.touch_customer)
    touch_recent = data.touch_time > now - window_days
    _, interactions_in_window = _per_customer(customers, data.touch_customer[touch_recent])
    _, inbound_in_window = _per_customer(
        customers, data.touch_customer[touch_recent & data.touch_inbound]
    )
    last_touch = _extreme(tidx, data.touch_time, n, -np.inf, np.maximum)
    since_touch = np.where(np.isfinite(last_touch), now - last_touch, tenure)
    columns = [
        recency,
        tenure,
        orders,
        orders_in_window,
        revenue,
        revenue / np.maximum(orders, 1),
        gap,
        recency / np.maximum(gap, 1.0),
        interactions,
        interactions_in_window,
        inbound_in_window,
        np.maximum(since_touch, 0.0),
    ]
    names = list(ORDER_FEATURES)
    for name, by_customer in sorted((extra or {}).items()):
        names.append(name)
        columns.append(np.array([float(by_customer.get(int(c), 0.0)) for c in customers]))
    return Features(customers, names, np.column_stack(columns) if n else np.zeros((0, len(names))))


def churned(data: Dataset, customers: np.ndarray, start: float, window_days: float) -> np.ndarray:
    """1 for each customer with no order in (start, start + window], else 0."""
    later = (data.order_time > start) & (data.order_time <= start + window_days)
    bought = np.isin(customers, data.order_customer[later])
    return (~bought).astype(int)
