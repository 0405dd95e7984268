"""RFM scoring, segments, recommendations and the churn pipeline on data with known structure."""

from __future__ import annotations

import numpy as np
import pytest

from crm_analytics import churn, recommend, recommenders, rfm, segments
from crm_analytics.definitions import SEGMENTS


def test_rfm_quintiles_and_named_segments() -> None:
    recency = np.arange(100, dtype=float)  # customer i last bought i days ago
    frequency = np.r_[np.ones(60), np.arange(2, 42)]  # 60 one-order customers
    monetary = np.linspace(10, 1000, 100)
    scored = rfm.score(recency, frequency, monetary)
    assert scored.r.tolist() == [5] * 20 + [4] * 20 + [3] * 20 + [2] * 20 + [1] * 20
    assert set(scored.f[:60]) == {1}  # ties share the lowest score, however many they are
    assert scored.f[-1] == 5 and scored.m[-1] == 5 and scored.m[0] == 1
    assert scored.segment[0] == "New"  # bought yesterday, once
    assert scored.segment[99] == "Cannot Lose Them"  # long gone, bought the most
    assert scored.segment[59] == "Hibernating" or scored.r[59] == 3


def test_segment_map_names_every_cell_with_the_documented_segments() -> None:
    cells = {rfm.segment_of(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert cells == set(SEGMENTS) and len(SEGMENTS) == 11
    assert rfm.segment_of(5, 5) == "Champions" and rfm.segment_of(1, 1) == "Lost"
    assert rfm.segment_of(1, 5) == "Cannot Lose Them" and rfm.segment_of(3, 3) == "Need Attention"


def test_kmeans_finds_the_planted_segments_and_describes_them() -> None:
    rng = np.random.default_rng(0)
    # recency_days, orders, revenue: loyal big spenders, new small buyers, lapsed.
    centres = [(5, 30, 5000), (10, 1, 40), (400, 3, 150)]
    values = np.vstack(
        [
            np.column_stack([rng.lognormal(np.log(c), 0.15, 300) for c in centre])
            for centre in centres
        ]
    )
    found = segments.cluster(values, ["recency_days", "orders", "revenue"], "USD")
    assert len(found.segments) == 3
    assert max(found.silhouettes, key=found.silhouettes.get) == 3
    for block in range(3):
        labels = found.labels[block * 300 : (block + 1) * 300]
        assert len(set(labels.tolist())) == 1  # each planted group is one segment
    by_label = {s.number: s for s in found.segments}
    best = by_label[int(found.labels[0])]
    assert best.name == "Best customers"
    assert "order often" in best.description and "spend a lot" in best.description
    lapsed = by_label[int(found.labels[-1])]
    assert "have not bought for a long time" in lapsed.description
    assert lapsed.customers == 300


def _baskets() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items 0-2 are bought together, and 3-5; item 6 by everyone; item 7 by nobody."""
    rng = np.random.default_rng(1)
    customers, products = [], []
    for c in range(200):
        kit = (0, 1, 2) if c < 100 else (3, 4, 5)
        for item in [*rng.choice(kit, size=2, replace=False).tolist(), 6]:
            customers.append(c)
            products.append(item)
    return np.array(customers), np.array(products), np.arange(8)


def test_item_item_recommendations_follow_co_purchases() -> None:
    customers, products, items = _baskets()
    data = recommend.purchases(customers, products, items)
    similar = recommenders.cosine(recommenders.Gram.of(data.matrix), k=3)
    ranked = recommend.collaborative(data, similar, n=2)
    for row in range(data.matrix.shape[0]):
        bought = set(products[customers == row].tolist())
        mine = ranked.item[ranked.row == row].tolist()
        kit = {0, 1, 2} if row < 100 else {3, 4, 5}
        assert mine[0] in kit - bought  # the missing kit item comes first
        assert not set(mine) & bought  # never what they already have
        because = ranked.because[ranked.row == row][0]
        assert because in bought  # explained by one of their own purchases
    # Similar products: bought by the same customers (kit mates, the staple), never the other kit.
    none = np.full(8, recommend.NO_ITEM)
    alike = recommend.similar_items(similar, 2, none, recommend.popularity(data.matrix))
    assert set(alike.item[alike.row == 0].tolist()) <= {1, 2, 6}
    assert set(alike.item[alike.row == 3].tolist()) <= {4, 5, 6}


def test_fallbacks_fill_with_category_then_overall_popularity() -> None:
    customers, products, items = _baskets()
    data = recommend.purchases(customers, products, items)
    similar = recommenders.cosine(
        recommenders.Gram.of(data.matrix), k=1
    )  # too few neighbours to fill 4 places
    category = np.array([0, 0, 0, 1, 1, 1, 2, 0])
    popular = recommend.popularity(data.matrix)
    ranked = recommend.fill(data, recommend.collaborative(data, similar, n=4), 4, category, popular)
    used_fallback = False
    for row in range(data.matrix.shape[0]):
        mine = ranked.item[ranked.row == row].tolist()
        bought = set(products[customers == row].tolist())
        # Four distinct products, none already bought; item 7 (never bought) is never offered.
        assert len(mine) == len(set(mine)) == 4 and not set(mine) & bought and 7 not in mine
        fallback = ranked.because[ranked.row == row] == recommend.NO_ITEM
        codes = ranked.category[ranked.row == row][fallback].tolist()
        # Same-category picks (categories the customer buys from) come before overall ones.
        assert codes == sorted(codes, key=lambda code: code == recommend.NO_ITEM)
        assert {c for c in codes if c != recommend.NO_ITEM} <= {int(category[i]) for i in bought}
        used_fallback |= bool(fallback.any())
    assert used_fallback


def test_churn_pipeline_learns_the_signal_and_names_it() -> None:
    rng = np.random.default_rng(2)
    n = 600
    recency = rng.exponential(60, n)
    orders = rng.poisson(5, n) + 1.0
    noise = rng.normal(0, 1, n)
    complaints = rng.poisson(0.5, n).astype(float)
    risk = 1 / (1 + np.exp(-(recency / 40 - 2 + complaints)))
    labels = (rng.random(n) < risk).astype(int)
    values = np.column_stack([recency, orders, noise, complaints])
    names = ["recency_days", "orders", "noise", "service.complaints"]
    model = churn.fit(values, labels)
    assert set(model.cv_auc) == {"logistic_regression", "gradient_boosting"}
    assert model.kind == max(model.cv_auc, key=model.cv_auc.get)
    assert model.cv_auc[model.kind] > 0.75
    probability, factors = churn.factors(model, values, names)
    assert probability.shape == (n,) and ((probability >= 0) & (probability <= 1)).all()
    worst = int(np.argmax(values[:, 0]))  # the longest-absent customer
    assert factors[worst][0][0] == "recency_days" and factors[worst][0][1] > 0
    assert churn.band(0.1) == "LOW" and churn.band(0.45) == "MEDIUM" and churn.band(0.9) == "HIGH"


def test_churn_needs_both_outcomes() -> None:
    with pytest.raises(churn.NotEnoughData, match="at least 10"):
        churn.fit(np.ones((50, 2)), np.r_[np.zeros(45), np.ones(5)].astype(int))
