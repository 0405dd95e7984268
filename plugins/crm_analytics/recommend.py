"""Recommendations: item-item collaborative filtering on implicit purchase data.

The purchase matrix is binary (did customer c ever buy item i), sparse. Item similarity is the
cosine between item columns; each item keeps its ``k`` most similar neighbours. A customer's
score for item j is the sum of the similarities between j and the items they bought; items they
already bought are left out. Every recommendation names the bought item that contributed most
("bought with X"). Customers with too few such candidates are filled up with the most popular
items of the categories they buy from, then with the most popular items overall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

CHUNK = 50_000
NO_ITEM = -1


@dataclass(frozen=True)
class Purchases:
    matrix: sparse.csr_matrix  # customers x items, 1 where bought
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


def purchases(customer: np.ndarray, product: np.ndarray, items: np.ndarray) -> Purchases:
    """Binary customer x item matrix from purchase pairs (``items``: every known product id)."""
    customers, rows = np.unique(customer, return_inverse=True)
    cols = np.searchsorted(items, product)
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows.ravel(), cols)),
        shape=(len(customers), len(items)),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
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


def neighbours(matrix: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Item x item cosine similarity, each row cut to its ``k`` nearest neighbours."""
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    norms = np.sqrt(np.maximum(counts, 1.0))
    co = (matrix.T @ matrix).tocsr().astype(np.float64)
    co.setdiag(0.0)
    co.eliminate_zeros()
    coo = co.tocoo()
    similarity = sparse.csr_matrix(
        (coo.data / (norms[coo.row] * norms[coo.col]), (coo.row, coo.col)), shape=co.shape
    )
    rows, cols, data = _top_per_row(similarity, k)
    return sparse.csr_matrix((data, (rows, cols)), shape=co.shape)


def _lookup(matrix: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
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
    per_row = np.diff(bought.indptr)[rows]
    pair = np.repeat(np.arange(len(rows)), per_row)
    offsets = np.arange(len(pair)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    candidate = bought.indices[np.repeat(bought.indptr[rows], per_row) + offsets]
    strength = _lookup(similar, candidate, items[pair])
    # Pairs are contiguous: the first candidate reaching its pair's maximum explains it.
    starts = np.searchsorted(pair, np.arange(len(rows)))
    best = np.maximum.reduceat(strength, starts) if len(pair) else strength
    hits = np.flatnonzero(strength == best[pair])
    first = np.r_[True, pair[hits][1:] != pair[hits][:-1]]
    return candidate[hits[first]]


def collaborative(data: Purchases, similar: sparse.csr_matrix, n: int) -> Ranked:
    """Top ``n`` unbought items per customer by summed similarity, with their explanation."""
    parts = []
    for start in range(0, data.matrix.shape[0], CHUNK):
        bought = data.matrix[start : start + CHUNK]
        scores = (bought @ similar).tocsr()
        scores = scores - scores.multiply(bought)
        scores.eliminate_zeros()
        rows, items, values = _top_per_row(scores, n)
        because = _explain(bought, similar, rows, items)
        parts.append((rows + start, items, values, because))
    rows, items, values, because = (np.concatenate(p) for p in zip(*parts, strict=True))
    return Ranked(rows, items, values, because, np.full(len(rows), NO_ITEM))


def popularity(matrix: sparse.csr_matrix) -> np.ndarray:
    """Number of customers who bought each item."""
    return np.asarray(matrix.sum(axis=0)).ravel()


def most_popular(popular: np.ndarray) -> np.ndarray:
    """Item indexes bought at least once, most bought first (ties by index)."""
    order = np.lexsort((np.arange(len(popular)), -popular))
    return order[popular[order] > 0]


def _merge(ranked: Ranked, extra: list[tuple[int, int, float, int]]) -> Ranked:
    """Append fallback rows (row, item, score, category code) after each row's own."""
    if not extra:
        return ranked
    rows, items, scores, codes = (np.array(c) for c in zip(*extra, strict=True))
    merged = Ranked(
        np.r_[ranked.row, rows],
        np.r_[ranked.item, items],
        np.r_[ranked.score, scores],
        np.r_[ranked.because, np.full(len(rows), NO_ITEM)],
        np.r_[ranked.category, codes],
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
    data: Purchases, ranked: Ranked, n: int, category: np.ndarray, popular: np.ndarray
) -> Ranked:
    """Add same-category, then overall, popular items for customers with fewer than ``n``.

    ``category`` is a code per item (NO_ITEM when it has none); ``popular`` buyers per item.
    """
    counts = np.bincount(ranked.row, minlength=data.matrix.shape[0])
    by_popularity = most_popular(popular)
    in_category = {
        code: by_popularity[category[by_popularity] == code] for code in np.unique(category)
    }
    share = popular / max(data.matrix.shape[0], 1)
    extra: list[tuple[int, int, float, int]] = []
    for row in np.flatnonzero(counts < n):
        bought = set(data.matrix.indices[data.matrix.indptr[row] : data.matrix.indptr[row + 1]])
        taken = bought | set(ranked.item[ranked.row == row]) if counts[row] else bought
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
    """For each item its ``n`` most similar items, padded with popular items of its category."""
    rows, items, scores = _top_per_row(similar, n)
    base = Ranked(rows, items, scores, rows, np.full(len(rows), NO_ITEM))
    counts = np.bincount(base.row, minlength=similar.shape[0])
    by_popularity = most_popular(popular)
    share = popular / max(float(popular.max(initial=0.0)), 1.0)
    extra: list[tuple[int, int, float, int]] = []
    for item in np.flatnonzero((counts < n) & (category != NO_ITEM)):
        taken = {item, *base.item[base.row == item]} if counts[item] else {item}
        pool = by_popularity[category[by_popularity] == category[item]]
        for other in pool[: n + len(taken)]:
            if len(taken) - 1 >= n:
                break
            if other not in taken:
                taken.add(other)
                extra.append((int(item), int(other), float(share[other]), int(category[item])))
    return _merge(base, extra)
