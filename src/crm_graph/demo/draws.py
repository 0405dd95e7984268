"""Weighted draws from one seeded generator (cumulative weights, then a bisection)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from itertools import accumulate

import numpy as np


def pick(rng: np.random.Generator, cdf: Sequence[float]) -> int:
    return bisect.bisect_right(cdf, rng.random() * cdf[-1])


def cdf(weights: Sequence[float]) -> tuple[float, ...]:
    return tuple(accumulate(weights))
