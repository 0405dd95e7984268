"""Backtests: how well the models predicted what then happened.

- CLV: fit BG/NBD on the history up to ``as_of - holdout``, predict each customer's repeat
  purchase days in the holdout, compare with the actual ones (aggregate and per-customer RMSE,
  next to a naive "same rate as before" forecast).
- Churn: train at ``as_of - 2 x window`` as training does, score customers at
  ``as_of - window`` and measure ROC AUC against whether they then ordered.
- Recommendations: hold out a fifth (at least one) of the distinct products of every customer
  with two or more, train on the rest and measure precision@10, recall@10 and NDCG@10 against
  recommending the most popular products.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from crm_analytics import churn, clv, recommend
from crm_analytics.dataset import Dataset
from crm_analytics.features import churned, customer_features
from crm_analytics.training import Config

K = 10


@dataclass(frozen=True)
class ClvBacktest:
    customers: int
    predicted: float
    actual: float
    rmse: float
    naive_rmse: float


def clv_backtest(data: Dataset, config: Config, holdout_days: float) -> ClvBacktest:
    end = data.now - holdout_days
    past = data.until(end)
    unit = config.unit_days
    days = np.floor(past.order_time).astype(np.int64)
    summary = clv.summarise(past.order_customer, days, past.order_total, int(np.floor(end)), unit)
    model = clv.fit_bgnbd(summary.frequency, summary.recency, summary.age).model
    predicted = model.conditional_expected_purchases(
        holdout_days / unit, summary.frequency, summary.recency, summary.age
    )
    later = data.order_time > end
    pairs = np.unique(np.c_[data.order_customer[later], np.floor(data.order_time[later])], axis=0)
    known = np.isin(pairs[:, 0], summary.customer)
    actual = np.bincount(
        np.searchsorted(summary.customer, pairs[known, 0].astype(np.int64)),
        minlength=len(summary.customer),
    ).astype(float)
    naive = summary.frequency / np.maximum(summary.age, 1.0) * holdout_days / unit
    return ClvBacktest(
        customers=len(summary.customer),
        predicted=float(predicted.sum()),
        actual=float(actual.sum()),
        rmse=float(np.sqrt(np.mean((predicted - actual) ** 2))),
        naive_rmse=float(np.sqrt(np.mean((naive - actual) ** 2))),
    )


@dataclass(frozen=True)
class ChurnBacktest:
    customers: int
    churn_rate: float
    model: str
    roc_auc: float


def churn_backtest(
    data: Dataset,
    config: Config,
    extra_train: Mapping[str, Mapping[int, float]],
    extra_test: Mapping[str, Mapping[int, float]],
) -> ChurnBacktest:
    window = config.settings.churn_window_days
    scored_at = data.now - window
    trained_at = scored_at - window
    train = customer_features(data.until(trained_at), window, extra_train)
    model = churn.fit(
        train.values, churned(data, train.customers, trained_at, window), config.settings.seed
    )
    test = customer_features(data.until(scored_at), window, extra_test)
    labels = churned(data, test.customers, scored_at, window)
    if labels.min() == labels.max():
        raise churn.NotEnoughData("every customer in the test window had the same outcome")
    return ChurnBacktest(
        customers=len(labels),
        churn_rate=float(labels.mean()),
        model=model.kind,
        roc_auc=float(roc_auc_score(labels, model.probability(test.values))),
    )


@dataclass(frozen=True)
class RankingScores:
    precision: float
    recall: float
    ndcg: float


@dataclass(frozen=True)
class RecommendationBacktest:
    customers: int
    model: RankingScores
    popularity: RankingScores


def _ranking(recommended: list[list[int]], held: list[set[int]]) -> RankingScores:
    discounts = 1.0 / np.log2(np.arange(2, K + 2))
    precision, recall, ndcg = [], [], []
    for items, truth in zip(recommended, held, strict=True):
        hits = np.array([item in truth for item in items[:K]], dtype=float)
        precision.append(hits.sum() / K)
        recall.append(hits.sum() / len(truth))
        ideal = discounts[: min(len(truth), K)].sum()
        ndcg.append(float(hits @ discounts[: len(hits)]) / ideal)
    return RankingScores(float(np.mean(precision)), float(np.mean(recall)), float(np.mean(ndcg)))


def recommendation_backtest(data: Dataset, config: Config) -> RecommendationBacktest:
    rng = np.random.default_rng(config.settings.seed)
    pairs = np.unique(np.c_[data.line_customer, data.line_product], axis=0)
    _customers, starts = np.unique(pairs[:, 0], return_index=True)
    ends = np.r_[starts[1:], len(pairs)]
    test = np.zeros(len(pairs), dtype=bool)
    for start, end in zip(starts, ends, strict=True):
        if end - start >= 2:
            size = max(1, round((end - start) * 0.2))
            test[rng.choice(np.arange(start, end), size=size, replace=False)] = True
    train = pairs[~test]
    bought = recommend.purchases(train[:, 0], train[:, 1], data.product_id)
    similar = recommend.neighbours(bought.matrix, config.settings.neighbours)
    popular = recommend.popularity(bought.matrix)
    none = np.full(len(data.product_id), recommend.NO_ITEM)
    ranked = recommend.fill(bought, recommend.collaborative(bought, similar, K), K, none, popular)
    by_popularity = np.lexsort((np.arange(len(popular)), -popular))
    held: dict[int, set[int]] = {}
    for customer, product in pairs[test].tolist():
        held.setdefault(customer, set()).add(product)
    model_lists, popular_lists, truths = [], [], []
    bounds = np.searchsorted(ranked.row, np.arange(len(bought.customers) + 1))
    for customer, truth in held.items():
        row = int(np.searchsorted(bought.customers, customer))
        mine = set(bought.matrix.indices[bought.matrix.indptr[row] : bought.matrix.indptr[row + 1]])
        model_lists.append(data.product_id[ranked.item[bounds[row] : bounds[row + 1]]].tolist())
        popular_lists.append(
            data.product_id[
                [i for i in by_popularity[: K + len(mine)] if i not in mine][:K]
            ].tolist()
        )
        truths.append(truth)
    return RecommendationBacktest(
        customers=len(truths),
        model=_ranking(model_lists, truths),
        popularity=_ranking(popular_lists, truths),
    )
