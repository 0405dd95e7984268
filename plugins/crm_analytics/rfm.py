"""RFM: recency, frequency and monetary value scored 1-5 by quintile, and named segments.

Scores are quintiles over all purchasing customers, computed from percentile ranks in which
tied customers share the lowest rank of their tie (so every one-order customer has F = 1, even
when they are more than a fifth of all customers). Recency is inverted: the most recent buyers
score 5.

Segments are read from the (R, F) pair with the widely used map below (M refines value but
does not change the segment). Every one of the 25 cells is named:

R/F  1               2                   3                   4          5
5    New             Potential Loyalist  Potential Loyalist  Champions  Champions
4    Promising       Potential Loyalist  Potential Loyalist  Loyal      Loyal
3    About to Sleep  About to Sleep      Need Attention      Loyal      Loyal
2    Hibernating     Hibernating         At Risk             At Risk    Cannot Lose Them
1    Lost            Hibernating         At Risk             At Risk    Cannot Lose Them
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

# SEGMENT_MAP[r - 1][f - 1]
SEGMENT_MAP: tuple[tuple[str, ...], ...] = (
    ("Lost", "Hibernating", "At Risk", "At Risk", "Cannot Lose Them"),
    ("Hibernating", "Hibernating", "At Risk", "At Risk", "Cannot Lose Them"),
    ("About to Sleep", "About to Sleep", "Need Attention", "Loyal", "Loyal"),
    ("Promising", "Potential Loyalist", "Potential Loyalist", "Loyal", "Loyal"),
    ("New", "Potential Loyalist", "Potential Loyalist", "Champions", "Champions"),
)


@dataclass(frozen=True)
class Rfm:
    recency_days: np.ndarray
    frequency: np.ndarray
    monetary: np.ndarray
    r: np.ndarray
    f: np.ndarray
    m: np.ndarray
    segment: list[str]


def quintile(values: np.ndarray) -> np.ndarray:
    """Scores 1-5 from percentile ranks (ties share the lowest rank of their tie)."""
    if len(values) == 0:
        return np.zeros(0, dtype=int)
    percentile = rankdata(values, method="min") / len(values)
    return np.clip(np.ceil(percentile * 5), 1, 5).astype(int)


def segment_of(r: int, f: int) -> str:
    return SEGMENT_MAP[r - 1][f - 1]


def score(recency_days: np.ndarray, frequency: np.ndarray, monetary: np.ndarray) -> Rfm:
    """Quintile scores and segments for aligned per-customer arrays."""
    r, f, m = quintile(-recency_days), quintile(frequency), quintile(monetary)
    return Rfm(
        recency_days=recency_days,
        frequency=frequency,
        monetary=monetary,
        r=r,
        f=f,
        m=m,
        segment=[SEGMENT_MAP[ri - 1][fi - 1] for ri, fi in zip(r, f, strict=True)],
    )
