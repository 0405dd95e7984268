"""Segments: K-means on standardised RFM and value features, k chosen by silhouette in 2..8.

Features are log-transformed first (spend and order counts are heavily skewed), then
standardised. K-means and the silhouette are computed on a sample of at most
``SAMPLE`` customers, then every customer is assigned to its nearest centre. Each segment is
named and described in plain words from how its median customer compares with everyone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from crm_graph.plugin import ExplainedFailure

SAMPLE = 20_000
SILHOUETTE_SAMPLE = 4_000
K_RANGE = range(2, 9)
HIGH, LOW = 0.5, -0.5


class TooFewCustomers(ExplainedFailure, ValueError):
    """Too few customers who behave differently to form segments."""


# (recency level, value level) -> name; recency "low" means bought recently.
NAMES = {
    ("low", "high"): "Best customers",
    ("low", "average"): "Steady buyers",
    ("low", "low"): "New and light buyers",
    ("average", "high"): "Valuable regulars",
    ("average", "average"): "Average customers",
    ("average", "low"): "Occasional buyers",
    ("high", "high"): "Slipping high spenders",
    ("high", "average"): "Fading customers",
    ("high", "low"): "Dormant",
}


@dataclass(frozen=True)
class Segment:
    number: int
    name: str
    description: str
    customers: int
    centre: dict[str, float]  # medians of the members, in the features' own units


@dataclass(frozen=True)
class Segmentation:
    labels: np.ndarray  # segment number per customer (1-based)
    segments: list[Segment]
    silhouette: float
    silhouettes: dict[int, float]


def _level(z: float) -> str:
    return "high" if z > HIGH else "low" if z < LOW else "average"


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.0f} {currency}"


def describe(z: dict[str, float], centre: dict[str, float], currency: str) -> tuple[str, str]:
    """A name and one plain sentence for a segment from its standardised and raw centre."""
    recency, orders, spend = centre["recency_days"], centre["orders"], centre["revenue"]
    when = {
        "low": f"bought recently (about {recency:.0f} days ago)",
        "average": f"last bought about {recency:.0f} days ago",
        "high": f"have not bought for a long time (about {recency:.0f} days)",
    }[_level(z["recency_days"])]
    often = {
        "high": f"order often ({orders:.0f} orders)",
        "average": f"order now and then ({orders:.0f} orders)",
        "low": f"order rarely ({orders:.0f} order{'s' if round(orders) != 1 else ''})",
    }[_level(z["orders"])]
    spent = {
        "high": f"spend a lot ({_money(spend, currency)} in total)",
        "average": f"spend a moderate {_money(spend, currency)} in total",
        "low": f"spend little ({_money(spend, currency)} in total)",
    }[_level(z["revenue"])]
    sentence = f"Customers who {when}, {often} and {spent}"
    value_key = "predicted_value" if "predicted_value" in z else "revenue"
    if "predicted_value" in z:
        sentence += (
            f"; predicted value {_level(z['predicted_value'])} "
            f"({_money(centre['predicted_value'], currency)} next year)"
        )
    name = NAMES[(_level(z["recency_days"]), _level(z[value_key]))]
    return name, sentence + "."


@threadpool_limits.wrap(limits=1)  # see churn.fit: OpenMP threads thrash on a busy machine
def cluster(values: np.ndarray, names: list[str], currency: str, seed: int = 0) -> Segmentation:
    """Segment customers (rows of ``values``, columns ``names``); needs at least 3 rows."""
    n = len(values)
    scaled = StandardScaler().fit_transform(np.log1p(np.maximum(values, 0.0)))
    rng = np.random.default_rng(seed)
    sample = scaled[rng.choice(n, size=min(n, SAMPLE), replace=False)]
    silhouettes: dict[int, float] = {}
    models: dict[int, KMeans] = {}
    for k in K_RANGE:
        if k >= len(np.unique(sample, axis=0)):
            break
        model = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(sample)
        silhouettes[k] = float(
            silhouette_score(
                sample,
                model.labels_,
                sample_size=min(len(sample), SILHOUETTE_SAMPLE),
                random_state=seed,
            )
        )
        models[k] = model
    if not models:
        raise TooFewCustomers("segments need at least three customers with different behaviour")
    best = max(silhouettes, key=lambda k: silhouettes[k])
    raw_labels = models[best].predict(scaled)
    # Number segments by size, largest first, so numbers are stable for the same data.
    sizes = np.bincount(raw_labels, minlength=best)
    order = np.argsort(-sizes, kind="stable")
    renumber = np.empty(best, dtype=int)
    renumber[order] = np.arange(1, best + 1)
    labels = renumber[raw_labels]
    segments = []
    used: dict[str, int] = {}
    for number in range(1, best + 1):
        members = labels == number
        centre = dict(zip(names, np.median(values[members], axis=0).tolist(), strict=True))
        z = dict(zip(names, scaled[members].mean(axis=0).tolist(), strict=True))
        name, description = describe(z, centre, currency)
        used[name] = used.get(name, 0) + 1
        if used[name] > 1:
            name = f"{name} ({used[name]})"
        segments.append(Segment(number, name, description, int(members.sum()), centre))
    return Segmentation(labels, segments, silhouettes[best], silhouettes)
