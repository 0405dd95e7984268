"""Chart-shaped summaries of the purchase history, computed at training time and stored.

Cohorts group customers by the period of their first order; retention[k] is the share of a
cohort that ordered again k periods later (retention[0] is 1). Weeks start on Monday.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from crm_analytics.dataset import Dataset

PERIODS = ("WEEK", "MONTH", "QUARTER")
MAX_COHORTS = 24
EPOCH = date(1970, 1, 1)


def period_index(days: np.ndarray, period: str) -> np.ndarray:
    """Whole periods since the epoch for times in days since the epoch."""
    whole = np.floor(days).astype(np.int64)
    if period == "WEEK":
        return (whole + 3) // 7  # 1970-01-01 was a Thursday: shift to Monday-start weeks
    months = whole.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months if period == "MONTH" else months // 3


def period_start(index: int, period: str) -> date:
    if period == "WEEK":
        return EPOCH + timedelta(days=int(index) * 7 - 3)
    months = int(index) * (3 if period == "QUARTER" else 1)
    return date(1970 + months // 12, months % 12 + 1, 1)


def cohorts(data: Dataset, period: str) -> list[dict[str, object]]:
    """The most recent cohorts with their size and retention curve."""
    if len(data.order_customer) == 0:
        return []
    customers, owner = np.unique(data.order_customer, return_inverse=True)
    when = period_index(data.order_time, period)
    first = np.full(len(customers), np.iinfo(np.int64).max)
    np.minimum.at(first, owner, when)
    offset = when - first[owner]
    last_period = int(period_index(np.array([data.now]), period)[0])
    active = np.unique(np.c_[owner, offset], axis=0)  # (customer, periods after its first)
    rows = []
    for cohort in np.unique(first)[-MAX_COHORTS:]:
        members = first == cohort
        size = int(members.sum())
        seen = active[members[active[:, 0]]]
        counts = np.bincount(seen[:, 1], minlength=last_period - int(cohort) + 1)
        rows.append(
            {
                "cohort": period_start(int(cohort), period).isoformat(),
                "customers": size,
                "retention": [round(float(c) / size, 4) for c in counts],
            }
        )
    return rows


def revenue_by_month(data: Dataset) -> list[dict[str, object]]:
    months = period_index(data.order_time, "MONTH")
    rows = []
    for month in np.unique(months):
        chosen = months == month
        rows.append(
            {
                "month": period_start(int(month), "MONTH").isoformat()[:7],
                "revenue": round(float(data.order_total[chosen].sum()), 4),
                "orders": int(chosen.sum()),
                "customers": len(np.unique(data.order_customer[chosen])),
            }
        )
    return rows


def repeat_purchase_rate(data: Dataset) -> float | None:
    """Share of purchasing customers with more than one order."""
    if len(data.order_customer) == 0:
        return None
    _, counts = np.unique(data.order_customer, return_counts=True)
    return round(float(np.mean(counts > 1)), 4)


def summary(data: Dataset) -> dict[str, object]:
    return {
        "cohorts": {period: cohorts(data, period) for period in PERIODS},
        "revenueByMonth": revenue_by_month(data),
        "repeatPurchaseRate": repeat_purchase_rate(data),
    }
