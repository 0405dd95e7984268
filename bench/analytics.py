"""Analytics benchmark: CLV fit and scoring on 1,000,000 simulated customers, recommendation
model on 1,000,000 order lines. Prints each figure, its target and the peak memory it needed.

    .venv/bin/python bench/analytics.py [--customers N] [--lines N]

Customers are simulated from BG/NBD + Gamma-Gamma with the CDNOW parameters, purchase days
rounded to whole days (as real order dates are) and a weekly time unit, so many customers
share an observation and the grouped likelihood pays off as it does on real data. When the
``lifetimes`` package is installed, its BG/NBD fit on the same data is timed for comparison.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from crm_analytics import clv, recommend, recommenders
from crm_analytics.simulate import simulate

TRUTH = (clv.BgNbd(0.243, 4.414, 0.793, 2.426), clv.GammaGamma(6.25, 3.74, 15.44))


def measure(label: str, target: float | None, work: Callable[[], Any]) -> tuple[Any, float]:
    """Time ``work``, then run it again under tracemalloc for its peak memory (tracing slows
    Python code down, so it never runs during the timed run)."""
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    verdict = "" if target is None else ("  ok" if seconds < target else "  SLOWER THAN TARGET")
    limit = "" if target is None else f" (target < {target:g} s)"
    print(f"{label:<46} {seconds:7.2f} s{limit:<18} peak {peak / 2**20:7.1f} MiB{verdict}")
    return result, seconds


def _params(model: Any) -> str:
    return ", ".join(f"{k}={float(v):.4g}" for k, v in vars(model).items())


def customers(n: int, rng: np.random.Generator) -> clv.Summary:
    age = np.floor(rng.uniform(4, 80, n) * 7) / 7  # first purchase 4 to 80 weeks ago, whole days
    data = simulate(*TRUTH, age, rng, resolution=1 / 7)
    return clv.Summary(
        customer=np.arange(n),
        frequency=data.frequency,
        recency=data.recency,
        age=data.age,
        monetary=data.monetary,
        first_day=np.zeros(n, dtype=np.int64),
        unit_days=7,
    )


def order_lines(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lines of 200,000 customers over 5,000 products in 100 categories; each customer buys
    mostly (80 %) in one favourite category, popular products more than others (Zipf)."""
    products, per_category, buyers = 5_000, 50, 200_000
    customer = rng.integers(0, buyers, n)
    favourite = rng.integers(0, products // per_category, buyers)
    product = favourite[customer] * per_category + (rng.zipf(1.5, n) - 1) % per_category
    elsewhere = rng.random(n) < 0.2
    product[elsewhere] = rng.integers(0, products, int(elsewhere.sum()))
    return customer, product, np.arange(products)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(2026)

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{args.customers:,} simulated customers, {args.lines:,} order lines")
    print(f"{os.cpu_count()} cores, load average {load}\n")
    s, _ = measure("simulate customers (no target)", None, lambda: customers(args.customers, rng))

    def fit() -> tuple[clv.Fitted, clv.Fitted]:
        return (
            clv.fit_bgnbd(s.frequency, s.recency, s.age),
            clv.fit_gamma_gamma(s.frequency, s.monetary),
        )

    (bg, gg), _ = measure("fit BG/NBD + Gamma-Gamma (grouped MLE)", 1.0, fit)
    print(f"  {bg.distinct:,} distinct (x, t_x, T) among {bg.customers:,} customers")
    print(f"  BG/NBD      {_params(bg.model)}   (truth {_params(TRUTH[0])})")
    print(f"  Gamma-Gamma {_params(gg.model)}   (truth {_params(TRUTH[1])})")
    scores, _ = measure(
        "score all (E[purchases], P(alive), spend, value)",
        5.0,
        lambda: clv.score(bg.model, gg.model, s, 365, 0.10, 1.0),
    )
    print(f"  mean predicted 1-year value {scores.value.mean():.2f}")

    customer, product, items = order_lines(args.lines, rng)

    def recommendations() -> recommend.Ranked:
        data = recommend.purchases(customer, product, items)
        similar = recommenders.cosine(recommenders.Gram.of(data.matrix), 20)
        popular = recommend.popularity(data.matrix)
        ranked = recommend.collaborative(data, similar, 20)
        return recommend.fill(data, ranked, 20, items // 50, popular)

    ranked, _ = measure("recommendation model (item-item, top 20)", 30.0, recommendations)
    print(f"  {len(ranked.row):,} recommendations for {len(np.unique(ranked.row)):,} customers")

    if importlib.util.find_spec("lifetimes") is None:
        print("\nlifetimes is not installed: no side-by-side comparison")
    else:
        from lifetimes import BetaGeoFitter

        _, ours = measure(
            "BG/NBD, crm-analytics", None, lambda: clv.fit_bgnbd(s.frequency, s.recency, s.age)
        )
        _, theirs = measure(
            "BG/NBD, lifetimes BetaGeoFitter",
            None,
            lambda: BetaGeoFitter().fit(s.frequency, s.recency, s.age),
        )
        print(f"  lifetimes takes {theirs / ours:.1f}x as long")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
