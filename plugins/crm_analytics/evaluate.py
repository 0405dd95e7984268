"""Backtests: how well the models predicted what then happened.

- CLV: fit BG/NBD on the history up to ``as_of - holdout``, predict each customer's repeat
  purchase days in the holdout, compare with the actual ones (aggregate and per-customer RMSE,
  next to a naive "same rate as before" forecast).
- Churn: train at ``as_of - 2 x window`` as training does, score customers at
  ``as_of - window`` and measure ROC AUC against whether they then ordered.
- Recommendations: hold out a fifth (at least one) of the distinct products of every customer
  with two or more, choose and fit the model on the rest as training does and measure NDCG@10,
  recall@20 and coverage against recommending the most popular products.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from crm_analytics import churn, clv, selection
from crm_analytics.dataset import Dataset
from crm_analytics.features import churned, customer_features
from crm_analytics.training import Config, category_codes


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
class RecommendationBacktest:
    customers: int
    chosen: str
    model: selection.Figures
    popularity: selection.Figures


def recommendation_backtest(data: Dataset, config: Config) -> RecommendationBacktest:
    s = config.settings
    rng = np.random.default_rng(s.seed)
    pairs, pair_of = np.unique(
        np.c_[data.line_customer, data.line_product], axis=0, return_inverse=True
    )
    _customers, starts = np.unique(pairs[:, 0], return_index=True)
    ends = np.r_[starts[1:], len(pairs)]
    test = np.zeros(len(pairs), dtype=bool)
    for start, end in zip(starts, ends, strict=True):
        if end - start >= 2:
            size = max(1, round((end - start) * 0.2))
            test[rng.choice(np.arange(start, end), size=size, replace=False)] = True
    held = test[pair_of.ravel()]
    lines = selection.Lines(data.line_customer, data.line_product, data.line_time)
    _names, category = category_codes(data)
    choice = selection.choose(
        lines.where(~held),
        data.product_id,
        category,
        data.now,
        holdout_fraction=s.holdout_fraction,
        half_life_days=s.half_life_days,
        neighbours=s.neighbours,
        only=None if s.recommender == "auto" else s.recommender,
        split=s.holdout_split,
        folds=s.holdout_folds,
        seed=s.seed,
    )
    bought = selection.matrix(lines.where(~held), data.product_id, data.now, choice.half_life_days)
    truth = selection.truth(bought, lines.where(held))
    return RecommendationBacktest(
        customers=len(np.unique(truth[0])),
        chosen=choice.label,
        model=selection.evaluate(bought, choice.weights, truth, category),
        popularity=selection.evaluate(bought, None, truth, category),
    )
