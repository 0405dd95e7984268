"""Choosing the recommendation model of a database on a holdout carved from its purchases.

The holdout (``holdout``): by default (``random``) a random ``holdout_fraction`` of each
customer's distinct products (at least one, customers with two or more), drawn ``folds`` times
with different seeds; or each customer's latest products (``customer``); or one cut in time,
the latest ``holdout_fraction`` of all lines (``time``). Every candidate (each model of
``recommenders.py`` over its parameter grid, then with time decay at each model's best
parameters) is fitted on the rest and scored on the customers who then bought something new to them: NDCG@10 and recall@20
against what was held out, and coverage (the share of the catalogue appearing in some top 10),
pooled over the folds. The best NDCG@10 wins, except that a decayed candidate is eligible only
where it beats the same model without decay by more than the noise (two standard errors of the
per-customer gain); the winner is then fitted again on every purchase. ``choose`` is what both
``crm-graph analytics train`` and ``bench/recommend_quality.py`` run.

Why random by default: on MovieLens 100K, the time holdout (the latest 10% of lines, a few
recent customers rating in one session) ranked the candidates unlike a random fifth of
everyone's products and picked RP3beta and item-kNN where EASE was best (docs/benchmarks.md,
issue 21).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from crm_analytics import recommend, recommenders

NDCG_AT = 10
RECALL_AT = 20
MAX_EVALUATED = 20_000  # customers scored per candidate on the holdout, all folds together


@dataclass(frozen=True)
class Lines:
    """Purchase lines: who bought which product (id) when (days)."""

    customer: np.ndarray
    product: np.ndarray
    time: np.ndarray

    def where(self, mask: np.ndarray) -> Lines:
        return Lines(self.customer[mask], self.product[mask], self.time[mask])


@dataclass(frozen=True)
class Figures:
    ndcg: float  # NDCG@10
    recall: float  # recall@20
    coverage: float
    customers: int
    # NDCG@10 of each evaluated customer (the noise of a difference between two candidates)
    per_customer: np.ndarray | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ndcg@10": round(self.ndcg, 5),
            "recall@20": round(self.recall, 5),
            "coverage": round(self.coverage, 5),
            "customers": self.customers,
        }


@dataclass
class Choice:
    model: str
    params: dict[str, Any]
    half_life_days: float | None
    weights: sparse.csr_matrix  # fitted on every purchase
    figures: Figures | None  # the chosen candidate's holdout figures (None: no holdout)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        return {
            "chosen": self.label,
            "holdout": self.figures.as_dict() if self.figures else None,
            "candidates": self.candidates,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }

    @property
    def label(self) -> str:
        return label(self.model, self.half_life_days)


def label(model: str, half_life_days: float | None) -> str:
    return model if half_life_days is None else f"{model}+decay"


def matrix(
    lines: Lines, items: np.ndarray, now: float, half_life_days: float | None
) -> recommend.Purchases:
    return recommend.purchases(
        lines.customer, lines.product, items, now - lines.time, half_life_days
    )


def truth(bought: recommend.Purchases, later: Lines) -> tuple[np.ndarray, np.ndarray]:
    """(row, item column) pairs bought after the cut by customers known before it, new to them."""
    known = np.isin(later.customer, bought.customers)
    rows = np.searchsorted(bought.customers, later.customer[known])
    cols = np.searchsorted(bought.items, later.product[known])
    pairs = np.unique(rows.astype(np.int64) * len(bought.items) + cols)
    rows, cols = pairs // len(bought.items), pairs % len(bought.items)
    new = recommend.lookup(bought.matrix, rows, cols) == 0
    return rows[new], cols[new]


def rank(
    bought: recommend.Purchases,
    weights: sparse.csr_matrix | None,
    rows: np.ndarray,
    n: int,
    category: np.ndarray,
    popular: np.ndarray,
) -> recommend.Ranked:
    """The shipped ranking (model, then category and overall popularity) of some rows;
    ``weights`` None ranks by popularity alone. Rows of the result are positions in ``rows``;
    ``popular`` is the share of customers who bought each item."""
    subset = recommend.Purchases(bought.matrix[rows], bought.customers[rows], bought.items)
    if weights is None:
        empty = np.zeros(0, dtype=np.int64)
        ranked = recommend.Ranked(empty, empty, np.zeros(0), empty, empty)
        none = np.full(len(category), recommend.NO_ITEM)
        return recommend.fill(subset, ranked, n, none, popular)
    ranked = recommend.collaborative(subset, weights, n, explain=False)
    return recommend.fill(subset, ranked, n, category, popular)


def score(ranked: recommend.Ranked, rows: np.ndarray, items: int, truth_pairs) -> Figures:
    """NDCG@10, recall@20 and coverage of a ranking of ``rows`` against held-out pairs."""
    truth_rows, truth_cols = truth_pairs
    position = np.arange(len(ranked.row)) - np.searchsorted(ranked.row, ranked.row)
    keys = rows[ranked.row].astype(np.int64) * items + ranked.item
    hit = np.isin(keys, truth_rows.astype(np.int64) * items + truth_cols)
    wanted = np.bincount(np.searchsorted(rows, truth_rows), minlength=len(rows))
    discount = 1.0 / np.log2(position + 2.0)
    top = position < NDCG_AT
    dcg = np.bincount(ranked.row[hit & top], weights=discount[hit & top], minlength=len(rows))
    ideal_discounts = np.cumsum(1.0 / np.log2(np.arange(NDCG_AT) + 2.0))
    ideal = ideal_discounts[np.minimum(wanted, NDCG_AT) - 1]
    found = np.bincount(ranked.row[hit & (position < RECALL_AT)], minlength=len(rows))
    return Figures(
        ndcg=float(np.mean(dcg / ideal)),
        recall=float(np.mean(found / np.minimum(wanted, RECALL_AT))),
        coverage=float(len(np.unique(ranked.item[top])) / max(items, 1)),
        customers=len(rows),
        per_customer=dcg / ideal,
    )


def evaluate(
    bought: recommend.Purchases,
    weights: sparse.csr_matrix | None,
    truth_pairs: tuple[np.ndarray, np.ndarray],
    category: np.ndarray,
) -> Figures:
    """Holdout figures of a model (or of popularity, ``weights`` None)."""
    rows = np.unique(truth_pairs[0])
    share = recommend.popularity(bought.matrix) / max(len(bought.customers), 1)
    ranked = rank(bought, weights, rows, RECALL_AT, category, share)
    return score(ranked, rows, len(bought.items), truth_pairs)


def sample(truth_pairs, seed: int, limit: int = MAX_EVALUATED) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` customers' held-out pairs (seeded: repeatable)."""
    rows = np.unique(truth_pairs[0])
    if len(rows) <= limit:
        return truth_pairs
    chosen = np.random.default_rng(seed).choice(rows, limit, replace=False)
    keep = np.isin(truth_pairs[0], chosen)
    return truth_pairs[0][keep], truth_pairs[1][keep]


SPLITS = ("random", "time", "customer")


def holdout(lines: Lines, fraction: float, split: str = "random", seed: int = 0) -> np.ndarray:
    """Which lines are kept for fitting (True) rather than held out.

    - ``random``: of each customer with two products or more, a random ``fraction`` of their
      distinct products (at least one) is held out (seeded), all lines of those products.
    - ``customer``: the same, but the products each customer first bought last.
    - ``time``: one cut in time, the latest ``fraction`` of the lines.
    """
    if not len(lines.time):
        return np.zeros(0, dtype=bool)
    if split == "time":
        return lines.time <= float(np.quantile(lines.time, 1.0 - fraction))
    base = int(lines.product.max()) + 1
    key = lines.customer.astype(np.int64) * base + lines.product
    pairs, pair_of = np.unique(key, return_inverse=True)
    owner = pairs // base
    if split == "customer":
        first = np.full(len(pairs), np.inf)
        np.minimum.at(first, pair_of.ravel(), lines.time)
        within = first
    else:
        within = np.random.default_rng(seed).random(len(pairs))
    order = np.lexsort((within, owner))  # by customer, then when first bought (or at random)
    starts = np.searchsorted(owner[order], owner[order])
    position = np.arange(len(order)) - starts
    size = np.bincount(starts)[starts]
    held = np.maximum(1, np.round(size * fraction)).astype(np.int64)
    test = np.zeros(len(pairs), dtype=bool)
    test[order] = (size >= 2) & (position >= size - held)
    return ~test[pair_of.ravel()]


def _grid(neighbours: int, only: str | None) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, {"k": neighbours} if name == "cosine" else params)
        for name, grid in recommenders.GRIDS.items()
        if only is None or name == only
        for params in grid
    ]


def _pooled(folds: list[Figures]) -> Figures:
    """One candidate's figures over every fold: the mean over all customers evaluated."""
    per_customer = np.concatenate([f.per_customer for f in folds])
    weights = np.array([f.customers for f in folds], dtype=np.float64)
    return Figures(
        ndcg=float(per_customer.mean()),
        recall=float(np.average([f.recall for f in folds], weights=weights)),
        coverage=float(np.mean([f.coverage for f in folds])),
        customers=int(weights.sum()),
        per_customer=per_customer,
    )


def beats(better: Figures, than: Figures, z: float = 2.0) -> bool:
    """Whether ``better`` wins by more than the noise: its mean per-customer NDCG@10 gain over
    ``than`` (the same customers) exceeds ``z`` standard errors of that gain."""
    gain = better.per_customer - than.per_customer
    if len(gain) < 2:
        return False
    return float(gain.mean()) > z * float(gain.std(ddof=1)) / np.sqrt(len(gain))


# One BLAS thread: on a machine busy with other work, OpenBLAS's threads wait on each other (EASE's
# Cholesky solve of 3,000 items took 14.5 s with two threads and 3.5 s with one, at load 12).
@threadpool_limits.wrap(limits=1)
def choose(
    lines: Lines,
    items: np.ndarray,
    category: np.ndarray,
    now: float,
    *,
    holdout_fraction: float,
    half_life_days: float | None,
    neighbours: int,
    only: str | None = None,
    split: str = "random",
    folds: int = 1,
    seed: int = 0,
) -> Choice:
    """Pick and fit the recommendation model for these purchases (see the module docstring).

    ``only`` restricts the candidates to one model (its grid is still searched). With the
    ``random`` split, ``folds`` holdouts (seeds ``seed``, ``seed + 1``...) are drawn and every
    candidate's figures pooled over them. A decayed candidate is eligible only where it beats
    its model without decay by more than the noise (``beats``). Without enough history to hold
    any out, the item-item cosine model is fitted without figures.
    """
    clock = time.perf_counter()
    seconds: dict[str, float] = {}
    rounds = folds if split == "random" else 1
    per_fold = MAX_EVALUATED // rounds  # the customers scored per candidate, over all folds
    popularity_folds: list[Figures] = []

    def measure(configurations) -> dict[str, tuple[Figures, dict[str, Any], float | None]]:
        """Each model's best configuration, its figures pooled over the folds."""
        measured: dict[tuple[str, str], list[Figures]] = {}
        settings: dict[tuple[str, str], tuple[dict[str, Any], float | None]] = {}
        record_popularity = not popularity_folds
        for fold in range(rounds):
            before = holdout(lines, holdout_fraction, split, seed + fold)
            if not (before.any() and (~before).any()):
                return {}
            cut = float(lines.time[before].max())
            grams: dict[float | None, tuple[recommend.Purchases, recommenders.Gram]] = {}
            pairs: tuple[np.ndarray, np.ndarray] | None = None
            for name, params, decay in configurations:
                if decay not in grams:
                    bought = matrix(lines.where(before), items, cut, decay)
                    grams[decay] = (bought, recommenders.Gram.of(bought.matrix))
                bought, gram = grams[decay]
                if pairs is None:
                    pairs = sample(truth(bought, lines.where(~before)), seed, per_fold)
                    if not len(pairs[0]):
                        return {}
                    if record_popularity:
                        popularity_folds.append(evaluate(bought, None, pairs, category))
                started = time.perf_counter()
                weights = recommenders.fit(name, gram, params)
                key = label(name, decay)
                config = (key, repr(sorted(params.items())))
                measured.setdefault(config, []).append(evaluate(bought, weights, pairs, category))
                settings[config] = (params, decay)
                seconds[f"holdout {key}"] = seconds.get(f"holdout {key}", 0.0) + (
                    time.perf_counter() - started
                )
        best: dict[str, tuple[Figures, dict[str, Any], float | None]] = {}
        for config, folds_measured in measured.items():
            figures = _pooled(folds_measured)
            if config[0] not in best or figures.ndcg > best[config[0]][0].ndcg:
                best[config[0]] = (figures, *settings[config])
        return best

    # Every model over its grid without decay; then with decay, each model's best parameters
    # only (decay is kept only where it beats them by more than the noise).
    best = measure([(name, params, None) for name, params in _grid(neighbours, only)])
    if best and half_life_days:
        best |= measure(
            [(key, params, half_life_days) for key, (_f, params, _d) in list(best.items())]
        )
    seconds["holdout"] = time.perf_counter() - clock
    eligible = [
        key
        for key in best
        if not key.endswith("+decay")
        or key.removesuffix("+decay") not in best
        or beats(best[key][0], best[key.removesuffix("+decay")][0])
    ]
    candidates = [
        {"model": key, "params": params, **figures.as_dict(), "eligible": key in eligible}
        for key, (figures, params, _decay) in best.items()
    ]
    if popularity_folds:
        candidates.append(
            {"model": "popularity", "params": {}, **_pooled(popularity_folds).as_dict()}
        )
    if eligible:
        key = max(eligible, key=lambda k: best[k][0].ndcg)
        figures, params, decay = best[key]
        name = key.removesuffix("+decay")
    else:
        figures, name, params, decay = None, only or "cosine", {"k": neighbours}, None
        if name != "cosine":
            params = recommenders.GRIDS[name][0]
    started = time.perf_counter()
    full = matrix(lines, items, now, decay)
    weights = recommenders.fit(name, recommenders.Gram.of(full.matrix), params)
    seconds["fit"] = time.perf_counter() - started
    return Choice(name, params, decay, weights, figures, candidates, seconds)
