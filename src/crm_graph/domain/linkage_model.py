"""The Fellegi-Sunter model of the duplicate finder: how much each comparison level says.

For every comparison (given name, surname, e-mail, ...) and level, ``m`` is the chance of the
level among true duplicates and ``u`` among different people; a pair's match weight is the sum
of ``log2(m/u)`` over its known levels (a missing value says nothing) plus the prior odds
``lambda`` of a compared pair being a duplicate, and its score the posterior probability.

Weights are learned from the data, as Splink does: ``u`` from random pairs of customers
(nearly all of them different people), then ``m`` and ``lambda`` by expectation-maximisation
over the pairs blocking proposes, ``lambda`` being the chance that any two customers are one
(:func:`fit`). A database that has never been fitted scores with :data:`STARTING`, the values
a fit starts from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from crm_graph.domain.linkage_compare import COMPARISONS, LEVELS

EM_ROUNDS, EM_TOLERANCE = 40, 1e-5
PSEUDO_COUNT = 20.0  # the starting values weigh as much as this many pairs


@dataclass(frozen=True)
class Model:
    """``m[c][level]`` and ``u[c][level]`` (level 0, missing, unused) and the prior."""

    m: tuple[tuple[float, ...], ...]
    u: tuple[tuple[float, ...], ...]
    prior: float
    pairs: int = 0  # how many candidate pairs it was fitted on (0: the starting values)

    def weights(self) -> np.ndarray:
        """log2(m/u) per comparison and level, 0 for "missing"; a (comparisons, 6) array."""
        table = np.zeros((len(LEVELS), max(LEVELS) + 1))
        for c, count in enumerate(LEVELS):
            for level in range(1, count):
                table[c, level] = math.log2(self.m[c][level] / self.u[c][level])
        return table

    def scores(self, levels: np.ndarray) -> np.ndarray:
        """The posterior probability of each row of ``levels`` (pairs x comparisons)."""
        return _posterior(levels, self.weights(), self.prior)

    def score(self, levels: tuple[int, ...]) -> float:
        return float(self.scores(np.array([levels], dtype=np.int8))[0])

    def as_json(self) -> dict[str, Any]:
        return {
            "comparisons": list(COMPARISONS),
            "m": [list(x) for x in self.m],
            "u": [list(x) for x in self.u],
            "prior": self.prior,
            "pairs": self.pairs,
        }

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> Model:
        if list(data.get("comparisons", ())) != list(COMPARISONS):
            return STARTING  # fitted for other comparisons: refit with the next rerun
        return cls(
            tuple(tuple(x) for x in data["m"]),
            tuple(tuple(x) for x in data["u"]),
            float(data["prior"]),
            int(data.get("pairs", 0)),
        )


def _posterior(levels: np.ndarray, weights: np.ndarray, prior: float) -> np.ndarray:
    total = weights[np.arange(levels.shape[1]), levels].sum(axis=1)
    total += math.log2(prior / (1 - prior))
    return 1 / (1 + np.exp2(-np.clip(total, -60, 60)))


# Where fitting starts (and what a database never fitted scores with): per comparison, m and
# u of each level from "different" to "same" (index 0, missing, unused). Duplicates mostly
# agree and different people mostly do not; sharing an e-mail or phone is rarer by chance
# than sharing a name. One pair of customers in ten thousand is taken to be a duplicate.
STARTING = Model(
    m=(
        (1.0, 0.1, 0.05, 0.15, 0.7),  # given name: different, close, very close, same
        (1.0, 0.1, 0.05, 0.15, 0.7),  # surname
        (1.0, 0.2, 0.8),  # e-mail: different, same
        (1.0, 0.2, 0.05, 0.75),  # phone: different, same last 7 digits, same
        (1.0, 0.05, 0.05, 0.02, 0.88),  # birth date: different, one part off, swapped, same
        (1.0, 0.15, 0.05, 0.1, 0.7),  # place: different, near, same city, same postal code
        (1.0, 0.3, 0.3, 0.4),  # street
        (1.0, 0.3, 0.2, 0.5),  # company
    ),
    u=(
        (1.0, 0.95, 0.04, 0.009, 0.001),
        (1.0, 0.95, 0.04, 0.009, 0.001),
        (1.0, 0.99999, 0.00001),
        (1.0, 0.9999, 0.00009, 0.00001),
        (1.0, 0.997, 0.0028, 0.0001, 0.0001),
        (1.0, 0.99, 0.009, 0.0009, 0.0001),
        (1.0, 0.999, 0.0009, 0.0001),
        (1.0, 0.99, 0.009, 0.001),
    ),
    prior=1e-4,
)


def _distribution(
    levels: np.ndarray, start: tuple[tuple[float, ...], ...], weights: np.ndarray | None = None
) -> tuple[tuple[float, ...], ...]:
    """Per comparison, the (weighted) share of each level among known values; ``start``'s
    shares count as :data:`PSEUDO_COUNT` pairs more, so a comparison the data hardly has
    (few customers with an e-mail) keeps about its starting values."""
    out = []
    for c, count in enumerate(LEVELS):
        mass = np.bincount(levels[:, c], weights=weights, minlength=count)[:count].astype(float)
        mass[1:] += PSEUDO_COUNT * np.array(start[c][1:])
        out.append((1.0, *(mass[1:] / mass[1:].sum())))
    return tuple(out)


def fit(
    candidates: np.ndarray, random_pairs: np.ndarray, all_pairs: float, start: Model = STARTING
) -> Model:
    """``u`` from ``random_pairs``; ``m`` and the prior by EM over ``candidates`` (both
    pairs x comparisons level arrays) among ``all_pairs`` possible pairs.

    The prior is that of any pair of customers, not of a pair blocking proposed: blocking
    picks pairs by agreeing fields, so among its pairs agreement on those fields says less
    than the random-pair ``u`` claims, and a prior fitted there (mostly duplicates) would call
    every pair sharing a birth date one person. With the random-pair prior a pair's score is
    the same whichever block proposed it; pairs no block proposes count as different people.
    """
    u = _distribution(random_pairs, start.u)
    prior = float(np.clip(0.3 * len(candidates) / max(all_pairs, 1), 1e-12, 0.5))
    model = Model(start.m, u, prior, len(candidates))
    if not len(candidates):
        return model
    for _ in range(EM_ROUNDS):
        p = model.scores(candidates)
        prior = float(np.clip(p.sum() / all_pairs, 1e-12, 0.5))
        m = _distribution(candidates, start.m, p)
        moved = abs(math.log(prior / model.prior)) + max(
            abs(a - b)
            for new, old in zip(m, model.m, strict=True)
            for a, b in zip(new, old, strict=True)
        )
        model = Model(m, u, prior, len(candidates))
        if moved < EM_TOLERANCE:
            break
    return model
