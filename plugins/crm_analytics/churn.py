"""Churn risk: will a customer place no order within the window after a cut-off?

Two scikit-learn pipelines are compared by cross-validated ROC AUC on customers as they were at
``as_of - window`` (labelled by what they did in the window that followed): a logistic
regression on signed-log, standardised features, and histogram gradient boosting. The better
one is refitted on all of them and scores every customer as of ``as_of``.

Factors are per-customer attributions: how much the probability moves when one feature is
replaced by its typical (median) value. Positive impact means the feature raises the risk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from crm_graph.plugin import ExplainedFailure

MIN_PER_OUTCOME = 10
BANDS = ((0.3, "LOW"), (0.6, "MEDIUM"), (1.01, "HIGH"))
TOP_FACTORS = 3


class NotEnoughData(ExplainedFailure, ValueError):
    """Too few customers of one outcome to train and validate a model."""


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def candidates(seed: int) -> dict[str, Pipeline]:
    return {
        "logistic_regression": make_pipeline(
            FunctionTransformer(_signed_log),
            StandardScaler(),
            LogisticRegression(max_iter=2000),
        ),
        "gradient_boosting": make_pipeline(
            HistGradientBoostingClassifier(
                max_iter=100, learning_rate=0.08, max_leaf_nodes=15, random_state=seed
            )
        ),
    }


@dataclass(frozen=True)
class ChurnModel:
    kind: str
    pipeline: Pipeline
    cv_auc: dict[str, float]
    reference: np.ndarray  # per-feature median of the training customers
    customers: int
    churn_rate: float

    def probability(self, values: np.ndarray) -> np.ndarray:
        return self.pipeline.predict_proba(values)[:, 1]


@threadpool_limits.wrap(limits=1)
def fit(values: np.ndarray, labels: np.ndarray, seed: int = 0) -> ChurnModel:
    """Cross-validate both pipelines, keep the better, refit it on everything.

    One thread: gradient boosting's OpenMP threads spin against the web server and each other
    on a busy machine (10x slower with two cores under load), and the data is small.
    """
    smaller = int(min(labels.sum(), len(labels) - labels.sum()))
    if smaller < MIN_PER_OUTCOME:
        raise NotEnoughData(
            f"churn needs at least {MIN_PER_OUTCOME} customers who churned and "
            f"{MIN_PER_OUTCOME} who stayed in the training window; the smaller group has {smaller}"
        )
    folds = StratifiedKFold(n_splits=min(5, smaller), shuffle=True, random_state=seed)
    scores = {
        name: float(np.mean(cross_val_score(pipeline, values, labels, cv=folds, scoring="roc_auc")))
        for name, pipeline in candidates(seed).items()
    }
    best = max(scores, key=lambda name: scores[name])
    pipeline = clone(candidates(seed)[best]).fit(values, labels)
    return ChurnModel(
        kind=best,
        pipeline=pipeline,
        cv_auc=scores,
        reference=np.median(values, axis=0),
        customers=len(labels),
        churn_rate=float(labels.mean()),
    )


def band(probability: Any) -> Any:
    """The band of a probability, or of each of an array of them."""
    limits = np.array([limit for limit, _name in BANDS])
    return np.array([name for _limit, name in BANDS])[
        np.searchsorted(limits, probability, side="right")
    ]


@threadpool_limits.wrap(limits=1)
def factors(
    model: ChurnModel, values: np.ndarray, names: list[str], top: int = TOP_FACTORS
) -> tuple[np.ndarray, list[list[list[Any]]]]:
    """Probabilities and, per customer, the ``top`` features that move them most, as
    ``[name, impact]`` pairs (what is stored)."""
    probability = model.probability(values)
    impacts = np.empty_like(values, dtype=float)
    for j in range(values.shape[1]):
        typical = values.copy()
        typical[:, j] = model.reference[j]
        impacts[:, j] = probability - model.probability(typical)
    order = np.argsort(-np.abs(impacts), axis=1)[:, :top]
    named = np.array(names, dtype=object)[order].tolist()
    sizes = np.round(np.take_along_axis(impacts, order, axis=1), 4).tolist()
    explained = [
        [[name, size] for name, size in zip(n, v, strict=True)]
        for n, v in zip(named, sizes, strict=True)
    ]
    return probability, explained
