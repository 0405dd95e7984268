"""One training run: load the history, fit every model, score every customer, store it all.

The CPU-heavy steps run in worker threads so a server keeps answering while it trains. Each
model is trained independently: one that lacks data (say, too few churners yet) is stored as
untrained with the reason, and the others are still stored.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np

from crm_analytics import churn, clv, definitions, recommend, reports, rfm, segments, selection
from crm_analytics.dataset import Dataset, from_days, load
from crm_analytics.features import Features, churned, customer_features
from crm_analytics.settings import AnalyticsSettings
from crm_graph.plugin import AppContext, ExplainedFailure, failure_text

Progress = Callable[[float, str], Awaitable[None]]
MIN_CLV_CUSTOMERS = 20
MIN_REPEAT_CUSTOMERS = 10
FEATURE_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Config:
    as_of: datetime
    settings: AnalyticsSettings
    currency: str

    @property
    def unit_days(self) -> int:
        return self.settings.time_unit_days


@dataclass
class Trained:
    """What a run stores: model and segment rows as column dicts; the per-customer scores and
    similar products column by column (name -> a numpy array or list, one value per row),
    written in bulk."""

    as_of: datetime | None = None
    data_from: datetime | None = None  # the first order counted
    orders: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    models: list[dict[str, Any]] = field(default_factory=list)
    scores: dict[str, Any] = field(default_factory=dict)
    segments: list[dict[str, Any]] = field(default_factory=list)
    item_weights: list[dict[str, Any]] = field(default_factory=list)
    popular_in_category: list[dict[str, Any]] = field(default_factory=list)
    similar: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def customers(self) -> int:
        """Customers scored."""
        return len(self.scores.get("customer_id", ()))

    def model(self, kind: str, trained: bool, as_of: datetime, **details: Any) -> None:
        self.models.append(
            {
                "kind": kind,
                "trained": trained,
                "as_of": as_of,
                "params": details.get("params", {}),
                "metrics": details.get("metrics", {}),
            }
        )

    def summary(self) -> str:
        parts = []
        for m in self.models:
            if m["kind"] == "reports":
                continue
            parts.append(
                m["kind"] if m["trained"] else f"{m['kind']} not trained ({m['metrics']['error']})"
            )
        return "trained: " + ", ".join(parts)


def _revenue_periods(
    customers: np.ndarray, first_day: np.ndarray, data: Dataset, unit_days: int
) -> list[list[list[float]]]:
    """Per customer, [[time units since the first purchase, revenue], ...]."""
    owner = np.searchsorted(customers, data.order_customer)
    period = (np.floor(data.order_time).astype(np.int64) - first_day[owner]) // unit_days
    keys, index = np.unique(np.c_[owner, period], axis=0, return_inverse=True)
    sums = np.bincount(index.ravel(), weights=data.order_total)
    out: list[list[list[float]]] = [[] for _ in customers]
    for (who, when), total in zip(keys.tolist(), sums.tolist(), strict=True):
        out[who].append([when, round(total, 4)])
    return out


def fit_value(
    data: Dataset, config: Config, trained: Trained
) -> tuple[Features, np.ndarray | None]:
    """RFM and lifetime value for every purchasing customer; fills ``trained.scores``."""
    s = config.settings
    base = customer_features(data, s.churn_window_days)
    recency, orders, revenue = (
        base.column("recency_days"),
        base.column("orders"),
        base.column("revenue"),
    )
    scored = rfm.score(recency, orders, revenue)
    summary = clv.summarise(
        data.order_customer,
        np.floor(data.order_time).astype(np.int64),
        data.order_total,
        int(np.floor(data.now)),
        config.unit_days,
    )
    periods = _revenue_periods(summary.customer, summary.first_day, data, config.unit_days)
    if len(base.customers):
        trained.model("rfm", True, data.as_of, metrics={"customers": len(base.customers)})
    else:
        trained.model("rfm", False, data.as_of, metrics={"error": "no orders yet"})
    value = _fit_clv(summary, config, trained, data.as_of)
    trained.scores = {
        "customer_id": base.customers,
        "recency_days": recency,
        "orders": orders.astype(np.int64),
        "revenue": revenue,
        "r": scored.r,
        "f": scored.f,
        "m": scored.m,
        "rfm_segment": scored.segment,
        "frequency": summary.frequency.astype(np.float64),
        "recency": summary.recency.astype(np.float64),
        "age": summary.age.astype(np.float64),
        "repeat_mean": summary.monetary.astype(np.float64),
        "revenue_periods": periods,
    }
    if value is not None:
        trained.scores |= {
            "expected_purchases": value.expected_purchases,
            "probability_alive": value.probability_alive,
            "expected_spend": value.expected_spend,
            "predicted_value": value.value,
        }
    return base, None if value is None else value.value


def _fit_clv(
    summary: clv.Summary, config: Config, trained: Trained, as_of: datetime
) -> clv.Scores | None:
    s = config.settings
    repeaters = int(np.sum(summary.frequency > 0))
    problem = None
    if len(summary.customer) < MIN_CLV_CUSTOMERS or repeaters < MIN_REPEAT_CUSTOMERS:
        problem = (
            f"needs {MIN_CLV_CUSTOMERS} customers and {MIN_REPEAT_CUSTOMERS} with repeat "
            f"purchases; has {len(summary.customer)} and {repeaters}"
        )
    else:
        bg = clv.fit_bgnbd(summary.frequency, summary.recency, summary.age)
        gg = clv.fit_gamma_gamma(summary.frequency, summary.monetary)
        if gg.model.q <= 1:
            problem = "spend varies too much between customers to predict it (Gamma-Gamma q <= 1)"
    if problem:
        trained.model("clv", False, as_of, metrics={"error": problem})
        return None
    value = clv.score(bg.model, gg.model, summary, s.horizon_days, s.discount_rate, s.margin)
    trained.model(
        "clv",
        True,
        as_of,
        params={
            "bgnbd": {k: float(v) for k, v in vars(bg.model).items()},
            "gammaGamma": {k: float(v) for k, v in vars(gg.model).items()},
            "timeUnitDays": config.unit_days,
            "currency": config.currency,
            "discountRate": s.discount_rate,
            "margin": s.margin,
            "horizonDays": s.horizon_days,
        },
        metrics={
            "customers": bg.customers,
            "distinct": bg.distinct,
            "logLikelihood": bg.log_likelihood,
            "gammaGammaCustomers": gg.customers,
            "gammaGammaLogLikelihood": gg.log_likelihood,
            "valueP99": float(np.quantile(value.value, 0.99)),
        },
    )
    return value


class FeatureError(ExplainedFailure, ValueError):
    """A plugin's feature breaks the ``crm_analytics_customer_features`` contract (the failed
    job's message names the plugin and the feature)."""


async def plugin_features(
    app: AppContext, customers: np.ndarray, as_of: datetime
) -> dict[str, Mapping[int, float]]:
    """Features other plugins contribute (``crm_analytics_customer_features``), namespaced
    by plugin: ``service.open_tickets``; checked against the hook's contract."""
    found: dict[str, Mapping[int, float]] = {}
    ids = [int(c) for c in customers]
    hook = app.plugins.hook.crm_analytics_customer_features
    for plugin, result in app.plugins.each(hook, app=app, customer_ids=ids, as_of=as_of):
        features = await result if inspect.isawaitable(result) else result
        for name, values in (features or {}).items():
            found[f"{plugin}.{name}"] = _checked(plugin, name, values)
    return found


def _checked(plugin: str, name: Any, values: Any) -> dict[int, float]:
    where = f"plugin {plugin!r}, feature {name!r}"
    if not isinstance(name, str) or not FEATURE_NAME.fullmatch(name):
        raise FeatureError(f"{where}: a feature name is snake_case (letters, digits, _)")
    if not isinstance(values, Mapping):
        raise FeatureError(f"{where}: values are a mapping of customer id to number")
    checked = {}
    for customer, value in values.items():
        if value is None:
            continue  # missing: counts as 0, like a customer left out
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise FeatureError(f"{where}: customer {customer}: {value!r} is not a number")
        if not math.isfinite(value):
            raise FeatureError(f"{where}: customer {customer}: {value!r} is not finite")
        checked[int(customer)] = float(value)
    return checked


def fit_churn(
    data: Dataset,
    config: Config,
    trained: Trained,
    extra_then: Mapping[str, Mapping[int, float]],
    extra_now: Mapping[str, Mapping[int, float]],
) -> None:
    window = config.settings.churn_window_days
    cutoff = data.now - window
    then = customer_features(data.until(cutoff), window, extra_then)
    labels = churned(data, then.customers, cutoff, window)
    try:
        model = churn.fit(then.values, labels, seed=config.settings.seed)
    except churn.NotEnoughData as exc:
        trained.model("churn", False, data.as_of, metrics={"error": str(exc)})
        return
    now = customer_features(data, window, extra_now)
    probability, factors = churn.factors(model, now.values, now.names)
    at = np.searchsorted(now.customers, trained.scores["customer_id"])
    probability = probability[at]
    trained.scores |= {
        "churn_probability": probability,
        "churn_band": churn.band(probability),
        "churn_factors": [factors[i] for i in at.tolist()],
    }
    trained.model(
        "churn",
        True,
        data.as_of,
        params={"model": model.kind, "features": now.names, "windowDays": window},
        metrics={
            "cvRocAuc": model.cv_auc,
            "trainingCustomers": model.customers,
            "trainingChurnRate": model.churn_rate,
        },
    )


def fit_segments(
    data: Dataset, config: Config, trained: Trained, base: Features, value: np.ndarray | None
) -> None:
    names = ["recency_days", "orders", "revenue"]
    columns = [base.column(n) for n in names]
    if value is not None:
        names.append("predicted_value")
        columns.append(value)
    try:
        found = (
            segments.cluster(np.column_stack(columns), names, config.currency, config.settings.seed)
            if len(base.customers) >= 3
            else None
        )
    except ValueError as exc:  # too few customers, or the clustering's own refusal
        error = failure_text(exc, "analytics training: segments")
        trained.model("segments", False, data.as_of, metrics={"error": error})
        return
    if found is None:
        trained.model(
            "segments",
            False,
            data.as_of,
            metrics={"error": "needs at least 3 customers with orders"},
        )
        return
    trained.scores["segment"] = found.labels
    trained.segments = [
        {
            "number": s.number,
            "name": s.name,
            "description": s.description,
            "customers": s.customers,
            "centre": s.centre,
        }
        for s in found.segments
    ]
    trained.model(
        "segments",
        True,
        data.as_of,
        params={"features": names},
        metrics={
            "k": len(found.segments),
            "silhouette": found.silhouette,
            "silhouettes": {str(k): v for k, v in found.silhouettes.items()},
        },
    )


def _ranked_rows(
    ranked: recommend.Ranked,
    owners: np.ndarray,
    owner_key: str,
    item_key: str,
    items: np.ndarray,
    reason: Callable[[int, int], str],
) -> dict[str, list[Any]]:
    """Table columns (owner, rank from 1, item, score, reason) from a ranking by row index."""
    rank = np.arange(len(ranked.row)) - np.searchsorted(ranked.row, ranked.row) + 1
    return {
        owner_key: owners[ranked.row].tolist(),
        "rank": rank.tolist(),
        item_key: items[ranked.item].tolist(),
        "score": np.round(ranked.score, 6).tolist(),
        "reason": [
            reason(because, code)
            for because, code in zip(ranked.because.tolist(), ranked.category.tolist(), strict=True)
        ],
    }


def category_codes(data: Dataset) -> tuple[list[str], np.ndarray]:
    """The categories, sorted, and each product's code in them (``NO_ITEM`` for none)."""
    categories = sorted({c for c in data.product_category if c is not None})
    code = {c: i for i, c in enumerate(categories)}
    return categories, np.array(
        [recommend.NO_ITEM if c is None else code[c] for c in data.product_category], dtype=int
    )


def fit_recommendations(data: Dataset, config: Config, trained: Trained) -> None:
    """Choose and fit the recommendation model; store its item weights (recommendations are
    computed from them when read), each category's most bought products, and the similar
    products of every product."""
    if len(data.line_customer) == 0:
        trained.model("recommendations", False, data.as_of, metrics={"error": "no orders yet"})
        return
    s = config.settings
    names = data.product_name
    categories, category = category_codes(data)
    lines = selection.Lines(data.line_customer, data.line_product, data.line_time)
    choice = selection.choose(
        lines,
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
    bought = selection.matrix(lines, data.product_id, data.now, choice.half_life_days)
    popular = recommend.popularity(bought.matrix)
    buyers = len(bought.customers)
    trained.item_weights = recommend.weight_rows(choice.weights, data.product_id)
    pool = s.recommendations + recommend.POOL_SLACK
    trained.popular_in_category = recommend.category_pools(
        popular, category, categories, data.product_id, buyers, pool
    )

    def reason(because: int, category_code: int) -> str:
        if because == recommend.CONTENT:
            return "similar in category and name"
        return definitions.reason(
            names[because] if because != recommend.NO_ITEM else None,
            categories[category_code] if category_code != recommend.NO_ITEM else None,
        )

    alike = recommend.similar_items(choice.weights, s.recommendations, category, popular)
    unsold = np.flatnonzero(popular == 0)
    if len(unsold):
        alike = recommend.merge(
            alike, recommend.by_content(names, data.product_category, unsold, s.recommendations)
        )
    trained.similar = _ranked_rows(
        alike, data.product_id, "product_id", "similar_id", data.product_id, reason
    )
    top = recommend.most_popular(popular)[:pool]
    trained.model(
        "recommendations",
        True,
        data.as_of,
        params={
            "model": choice.model,
            "modelParams": choice.params,
            "halfLifeDays": choice.half_life_days,
            "currency": config.currency,
            "popular": [int(data.product_id[i]) for i in top],
            "popularScore": [float(popular[i]) / buyers for i in top],
        },
        metrics={
            "customers": buyers,
            "products": int(np.sum(popular > 0)),
            "neighbours": int(choice.weights.nnz),
            **choice.metrics(),
        },
    )


async def train(app: AppContext, config: Config, progress: Progress) -> Trained:
    """Fit and score everything as of ``config.as_of``; the caller stores the result."""
    trained = Trained(as_of=config.as_of)
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        trained.timings[stage] = round(now - clock, 3)
        clock = now

    await progress(0.05, "loading orders and interactions")
    data = await load(app, config.as_of, config.currency)
    trained.orders = len(data.order_customer)
    if trained.orders:
        trained.data_from = from_days(float(data.order_time.min()))
    lap("load")
    await progress(0.2, f"fitting RFM and lifetime value ({len(data.order_customer)} orders)")
    base, value = await asyncio.to_thread(fit_value, data, config, trained)
    lap("rfm and lifetime value")
    await progress(0.4, "training the churn model")
    cutoff = data.now - config.settings.churn_window_days
    then = await plugin_features(
        app, np.unique(data.until(cutoff).order_customer), data.until(cutoff).as_of
    )
    now = await plugin_features(app, base.customers, data.as_of)
    await asyncio.to_thread(fit_churn, data, config, trained, then, now)
    lap("churn")
    await progress(0.6, "finding segments")
    await asyncio.to_thread(fit_segments, data, config, trained, base, value)
    lap("segments")
    await progress(0.7, "choosing and fitting the recommendation model")
    await asyncio.to_thread(fit_recommendations, data, config, trained)
    lap("recommendations")
    summary = await asyncio.to_thread(reports.summary, data)
    trained.model(
        "reports",
        True,
        data.as_of,
        params=summary | {"currency": config.currency},
        metrics={"otherCurrencyOrders": data.other_currency_orders},
    )
    lap("reports")
    return trained


def config_for(
    settings: AnalyticsSettings, core_currency: str, as_of: datetime, time_unit_days: int | None
) -> Config:
    if time_unit_days is not None:
        settings = settings.model_copy(update={"time_unit_days": time_unit_days})
    return Config(as_of=as_of, settings=settings, currency=settings.currency or core_currency)
