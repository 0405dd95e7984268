"""Recommendations: scoring customers and products with an item x item model.

The purchase matrix holds, for each customer and item they ever bought, 1, or with time decay
``0.5 ** (age / half-life)`` of their latest purchase of it. The model (``recommenders.py``,
chosen by ``selection.py``) is an item x item weight matrix ``W``; a customer's score for item j
is ``sum_i x_i W[i, j]`` over the items i they bought; items they already bought are left out.
Every recommendation names the bought item that contributed most ("bought with X").
Customers with too few such candidates are filled up with the most popular items of the
categories they buy from, then with the most popular items overall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

CHUNK = 50_000  # customers scored at once, at most
SCORES_PER_CHUNK = 20_000_000  # (customer, item) scores a chunk may hold, about
NO_ITEM = -1
CONTENT = -2  # ``because`` of a content-based similar product
# Popular products kept per category, and overall, beyond the recommendations asked for: what
# fills up a customer who bought that many of them (``serve``).
POOL_SLACK = 100


@dataclass(frozen=True)
class Purchases:
    matrix: sparse.csr_matrix  # customers x items, weight in (0, 1] where bought
    customers: np.ndarray  # customer ids per row, ascending
    items: np.ndarray  # product ids per column, ascending


@dataclass(frozen=True)
class Ranked:
    """Top items per row: parallel arrays, sorted by row then rank."""

    row: np.ndarray
    item: np.ndarray  # column index
    score: np.ndarray
    because: np.ndarray  # column index of the explaining item, NO_ITEM for fallbacks
    category: np.ndarray  # category code of a same-category fallback, NO_ITEM otherwise


def purchases(
    customer: np.ndarray,
    product: np.ndarray,
    items: np.ndarray,
    age_days: np.ndarray | None = None,
    half_life_days: float | None = None,
) -> Purchases:
    """Customer x item matrix from purchase lines (``items``: every known product id): 1 where
    bought or, with a half-life, ``0.5 ** (age / half-life)`` of the latest purchase."""
    customers, rows = np.unique(customer, return_inverse=True)
    cols = np.searchsorted(items, product)
    weight = np.ones(len(rows), dtype=np.float64)
    if half_life_days is not None and age_days is not None:
        weight = 0.5 ** (np.maximum(age_days, 0.0) / half_life_days)
    # The latest purchase of a pair counts: sort by pair then weight, keep each pair's last.
    key = rows.ravel().astype(np.int64) * max(len(items), 1) + cols
    order = np.lexsort((weight, key))
    last = np.r_[key[order][1:] != key[order][:-1], True] if len(key) else np.zeros(0, bool)
    chosen = order[last]
    matrix = sparse.csr_matrix(
        (weight[chosen], (rows.ravel()[chosen], cols[chosen])),
        shape=(len(customers), len(items)),
    )
    return Purchases(matrix, customers, items)


def _top_per_row(matrix: sparse.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest entries of every row as (row, column, value), by row then rank.

    One stable sort on ``row + (1 - value / max)`` orders rows and, within a row, values from
    largest to smallest (ties by column, as CSR keeps columns sorted): much faster than a
    three-key lexsort on millions of entries.
    """
    matrix.sort_indices()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    data = matrix.data.astype(np.float64)
    top = float(data.max(initial=0.0)) * (1.0 + 1e-9) or 1.0
    order = np.argsort(rows + (1.0 - data / top), kind="stable")
    rows, cols, data = rows[order], matrix.indices[order], data[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
    keep = rank < k
    return rows[keep], cols[keep], data[keep]


def lookup(matrix: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """matrix[rows[i], cols[i]] for many pairs at once (0 where absent)."""
    matrix.sort_indices()
    entry_rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    keys = entry_rows.astype(np.int64) * matrix.shape[1] + matrix.indices
    wanted = rows.astype(np.int64) * matrix.shape[1] + cols
    pos = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    found = keys[pos] == wanted if len(keys) else np.zeros(len(wanted), bool)
    return np.where(found, matrix.data[pos] if len(keys) else 0.0, 0.0)


def _explain(
    bought: sparse.csr_matrix, similar: sparse.csr_matrix, rows: np.ndarray, items: np.ndarray
) -> np.ndarray:
    """For each (row, item), the bought item most similar to it."""
    if not len(rows):  # nobody in this chunk has an unbought item worth recommending
        return np.zeros(0, dtype=bought.indices.dtype)
    per_row = np.diff(bought.indptr)[rows]
    pair = np.repeat(np.arange(len(rows)), per_row)
    offsets = np.arange(len(pair)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    candidate = bought.indices[np.repeat(bought.indptr[rows], per_row) + offsets]
    weight = bought.data[np.repeat(bought.indptr[rows], per_row) + offsets]
    strength = weight * lookup(similar, candidate, items[pair])
    # Pairs are contiguous: the first candidate reaching its pair's maximum explains it.
    starts = np.searchsorted(pair, np.arange(len(rows)))
    best = np.maximum.reduceat(strength, starts) if len(pair) else strength
    hits = np.flatnonzero(strength == best[pair])
    first = np.r_[True, pair[hits][1:] != pair[hits][:-1]]
    return candidate[hits[first]]


def collaborative(
    data: Purchases, similar: sparse.csr_matrix, n: int, explain: bool = True
) -> Ranked:
    """Top ``n`` unbought items per customer by summed weights, with their explanation (only
    positive scores: a negative EASE weight argues against an item). ``explain`` False leaves
    ``because`` at NO_ITEM (the holdout measures rankings, it needs no reasons)."""
    parts = []
    # Customers per chunk: bounded by the (customer, item) scores a chunk may hold.
    per_row = min(
        similar.shape[1],
        max(data.matrix.nnz / max(data.matrix.shape[0], 1), 1.0)
        * max(similar.nnz / max(similar.shape[0], 1), 1.0),
    )
    chunk = int(min(CHUNK, max(1000, SCORES_PER_CHUNK / per_row)))
    for start in range(0, data.matrix.shape[0], chunk):
        bought = data.matrix[start : start + chunk]
        scores = (bought @ similar).tocsr()
        scores = scores - scores.multiply(bought > 0)
        scores.data[scores.data < 0] = 0.0
        scores.eliminate_zeros()
        rows, items, values = _top_per_row(scores, n)
        because = _explain(bought, similar, rows, items) if explain else np.full(len(rows), NO_ITEM)
        parts.append((rows + start, items, values, because))
    rows, items, values, because = (np.concatenate(p) for p in zip(*parts, strict=True))
    return Ranked(rows, items, values, because, np.full(len(rows), NO_ITEM))


def popularity(matrix: sparse.csr_matrix) -> np.ndarray:
    """Number of customers who bought each item."""
    return np.asarray((matrix > 0).sum(axis=0)).ravel()


def most_popular(popular: np.ndarray) -> np.ndarray:
    """Item indexes bought at least once, most bought first (ties by index); ``popular``:
    buyers, or their share, per item."""
    order = np.lexsort((np.arange(len(popular)), -popular))
    return order[popular[order] > 0]


def _merge(ranked: Ranked, extra: list[tuple[int, int, float, int]]) -> Ranked:
    """Append fallback rows (row, item, score, category code) after each row's own."""
    if not extra:
        return ranked
    rows, items, scores, codes = (np.array(c) for c in zip(*extra, strict=True))
    return merge(ranked, Ranked(rows, items, scores, np.full(len(rows), NO_ITEM), codes))


def merge(first: Ranked, then: Ranked) -> Ranked:
    """Both rankings, each row's entries of ``first`` before those of ``then``."""
    merged = Ranked(
        *(np.r_[a, b] for a, b in zip(vars(first).values(), vars(then).values(), strict=True))
    )
    order = np.argsort(merged.row, kind="stable")
    return Ranked(
        merged.row[order],
        merged.item[order],
        merged.score[order],
        merged.because[order],
        merged.category[order],
    )


def fill(
    data: Purchases, ranked: Ranked, n: int, category: np.ndarray, share: np.ndarray
) -> Ranked:
    """Add same-category, then overall, popular items for customers with fewer than ``n``.

    ``category`` is a code per item (NO_ITEM when it has none), codes in the order of the
    categories' names; ``share`` the share of customers who bought each item (the score of a
    popular item; 0 for an item nobody bought, never offered).
    """
    bounds = np.searchsorted(ranked.row, np.arange(data.matrix.shape[0] + 1))
    counts = np.diff(bounds)
    by_popularity = most_popular(share)
    in_category = {
        code: by_popularity[category[by_popularity] == code] for code in np.unique(category)
    }
    extra: list[tuple[int, int, float, int]] = []
    for row in np.flatnonzero(counts < n):
        bought = set(data.matrix.indices[data.matrix.indptr[row] : data.matrix.indptr[row + 1]])
        taken = bought | set(ranked.item[bounds[row] : bounds[row + 1]].tolist())
        missing = n - counts[row]
        codes = sorted({int(category[i]) for i in bought} - {NO_ITEM})
        pools = [(code, in_category[code]) for code in codes] + [(NO_ITEM, by_popularity)]
        for code, pool in pools:
            for item in pool:
                if missing == 0:
                    break
                if item not in taken:
                    taken.add(item)
                    extra.append((row, int(item), float(share[item]), code))
                    missing -= 1
    return _merge(ranked, extra)


def similar_items(
    similar: sparse.csr_matrix, n: int, category: np.ndarray, popular: np.ndarray
) -> Ranked:
    """For each sold item its ``n`` most similar items, padded with popular items of its
    category (items nobody bought yet are left to ``by_content``). Only positive weights
    count as similar (EASE's negative ones say the opposite)."""
    positive = similar.multiply(similar > 0).tocsr()
    rows, items, scores = _top_per_row(positive, n)
    base = Ranked(rows, items, scores, rows, np.full(len(rows), NO_ITEM))
    counts = np.bincount(base.row, minlength=similar.shape[0])
    by_popularity = most_popular(popular)
    share = popular / max(float(popular.max(initial=0.0)), 1.0)
    extra: list[tuple[int, int, float, int]] = []
    for item in np.flatnonzero((counts < n) & (category != NO_ITEM) & (popular > 0)):
        taken = {item, *base.item[base.row == item]} if counts[item] else {item}
        pool = by_popularity[category[by_popularity] == category[item]]
        for other in pool[: n + len(taken)]:
            if len(taken) - 1 >= n:
                break
            if other not in taken:
                taken.add(other)
                extra.append((int(item), int(other), float(share[other]), int(category[item])))
    return _merge(base, extra)


def by_content(
    names: list[str], categories: list[str | None], targets: np.ndarray, n: int
) -> Ranked:
    """For each target item (one nobody bought yet), the ``n`` items closest in content: TF-IDF
    cosine over the words of the name and the category (the category counted as one token)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [
        f"{name} category:{(category or '').replace(' ', '_')}"
        for name, category in zip(names, categories, strict=True)
    ]
    vectors = TfidfVectorizer(token_pattern=r"[\w:]+", sublinear_tf=True).fit_transform(texts)
    found = (vectors[targets] @ vectors.T).tocoo()
    other = found.col != targets[found.row]
    similarity = sparse.csr_matrix(
        (found.data[other], (found.row[other], found.col[other])), shape=found.shape
    )
    rows, items, scores = _top_per_row(similarity, n)
    return Ranked(
        targets[rows], items, scores, np.full(len(rows), CONTENT), np.full(len(rows), NO_ITEM)
    )


def weight_rows(weights: sparse.csr_matrix, items: np.ndarray) -> list[dict[str, object]]:
    """The model's item x item weights as ``analytics_item_weights`` rows: per item with any,
    its neighbours' product ids (int64) and the weights (float64) as bytes."""
    weights.sort_indices()
    rows = []
    for row in np.flatnonzero(np.diff(weights.indptr)):
        start, end = weights.indptr[row], weights.indptr[row + 1]
        rows.append(
            {
                "product_id": int(items[row]),
                "neighbours": items[weights.indices[start:end]].astype("<i8").tobytes(),
                "weights": weights.data[start:end].astype("<f8").tobytes(),
            }
        )
    return rows


def category_pools(
    popular: np.ndarray,
    category: np.ndarray,
    categories: list[str],
    items: np.ndarray,
    buyers: int,
    size: int,
) -> list[dict[str, object]]:
    """Each category's ``size`` most bought products (``analytics_popular_in_category`` rows:
    product ids and buyer shares as bytes), most bought first."""
    by_popularity = most_popular(popular)
    rows = []
    for code, name in enumerate(categories):
        pool = by_popularity[category[by_popularity] == code][:size]
        if len(pool):
            rows.append(
                {
                    "category": name,
                    "products": items[pool].astype("<i8").tobytes(),
                    "shares": (popular[pool] / max(buyers, 1)).astype("<f8").tobytes(),
                }
            )
    return rows


@dataclass(frozen=True)
class Served:
    """One recommendation computed when read: a product, its score, the bought product that
    explains it (None for a popular one) and the category it is popular in (None: overall)."""

    product_id: int
    score: float
    because: int | None
    category: str | None


def serve(
    bought: list[tuple[int, int, float, str | None, bytes | None, bytes | None, str]],
    pools: dict[str, tuple[bytes, bytes]],
    popular: tuple[list[int], list[float]],
    now: float,
    half_life_days: float | None,
    n: int,
) -> dict[int, list[Served]]:
    """The top ``n`` recommendations of some customers from the stored model, ranked as
    training ranks (``collaborative`` then ``fill``) over the products that can matter: what
    they bought, its neighbours, and the popular products of their categories and overall.

    ``bought``: per (customer, product) bought, (customer id, product id, day of the latest
    purchase, the product's category, its stored neighbours and weights, its name: not
    used here); ``pools``: the
    stored popular products of those categories; ``popular``: the overall ones with shares.
    Customers without purchases are left out (the caller offers them the popular products).
    """
    if not bought:
        return {}
    customer = np.array([b[0] for b in bought], dtype=np.int64)
    product = np.array([b[1] for b in bought], dtype=np.int64)
    last = np.array([b[2] for b in bought], dtype=np.float64)
    neighbour_ids = [np.frombuffer(b[4] or b"", dtype="<i8") for b in bought]
    neighbour_weights = [np.frombuffer(b[5] or b"", dtype="<f8") for b in bought]
    pool_ids = {name: np.frombuffer(ids, dtype="<i8") for name, (ids, _s) in pools.items()}
    items = np.unique(
        np.concatenate([product, *neighbour_ids, *pool_ids.values(), np.array(popular[0])])
    ).astype(np.int64)
    names = sorted(pools.keys() | {b[3] for b in bought if b[3] is not None})
    category = np.full(len(items), NO_ITEM)
    share = np.zeros(len(items))
    share[np.searchsorted(items, popular[0])] = popular[1]
    for name, (_ids, shares) in pools.items():
        at = np.searchsorted(items, pool_ids[name])
        category[at] = names.index(name)
        share[at] = np.frombuffer(shares, dtype="<f8")
    category[np.searchsorted(items, product)] = [
        NO_ITEM if b[3] is None else names.index(b[3]) for b in bought
    ]
    data = purchases(customer, product, items, now - last, half_life_days)
    # Each bought product's row of the model (stored once per product, read once per line).
    first = np.unique(product, return_index=True)[1]
    lengths = np.array([len(neighbour_ids[i]) for i in first])
    weights = sparse.csr_matrix(
        (
            np.concatenate([neighbour_weights[i] for i in first]),
            (
                np.repeat(np.searchsorted(items, product[first]), lengths),
                np.searchsorted(items, np.concatenate([neighbour_ids[i] for i in first])),
            ),
        ),
        shape=(len(items), len(items)),
    )
    ranked = fill(data, collaborative(data, weights, n), n, category, share)
    served: dict[int, list[Served]] = {int(c): [] for c in data.customers}
    for row, item, score, because, code in zip(
        ranked.row.tolist(),
        ranked.item.tolist(),
        ranked.score.tolist(),
        ranked.because.tolist(),
        ranked.category.tolist(),
        strict=True,
    ):
        served[int(data.customers[row])].append(
            Served(
                int(items[item]),
                score,
                None if because == NO_ITEM else int(items[because]),
                None if code == NO_ITEM else names[code],
            )
        )
    return served
