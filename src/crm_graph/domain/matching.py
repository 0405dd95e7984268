"""Finding likely duplicate customers: blocking keys, pairs kept as customers change, and the
full rerun that fits the model.

Every live customer's blocking keys (:meth:`Profile.blocking_keys`, hashed) are kept in
``customer_match_key``. A customer created or changed is compared
(:func:`~crm_graph.domain.linkage_compare.compare`) with the live customers sharing one of its
keys, in the same unit of work (:func:`rematch`), and each pair the Fellegi-Sunter model
(:mod:`crm_graph.domain.linkage_model`) scores at :data:`STORE_MIN` or more is kept in
``customer_duplicate`` with its reasons: codes and similarities, never values (the values
both customers share are read from them when shown, masked for the caller). A key shared by
more than :data:`MAX_BLOCK` customers (a very common name) proposes no pairs. A full rerun
(:func:`rerun`, ``crm-graph duplicates rerun``) rebuilds every key and pair and fits the model
to the data (kept in ``duplicate_model``). A pair marked not a duplicate
(``customer_duplicate_dismissal``, with who and when) is never kept again.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from crm_graph.db.batch_writes import among, insert_records
from crm_graph.db.engine import write_session
from crm_graph.db.models import (
    Customer,
    CustomerDuplicate,
    CustomerMatchKey,
    DuplicateDismissal,
    DuplicateModel,
    utcnow,
)
from crm_graph.domain.linkage_compare import (
    BIRTH,
    COMPANY,
    COMPARISONS,
    EMAIL,
    GIVEN,
    PHONE,
    PLACE,
    STREET,
    SURNAME,
    Comparison,
    Profile,
    compare,
)
from crm_graph.domain.linkage_model import STARTING, Model, fit

STORE_MIN = 0.2  # pairs scoring less are not kept
MIN_SCORE = 0.5  # what "likely" means when nobody says otherwise
MAX_BLOCK = 100
RANDOM_PAIRS = 30_000
CHUNK = 5_000

# The columns a profile is made of.
COLUMNS = (
    Customer.id,
    Customer.name,
    Customer.email,
    Customer.phone,
    Customer.company,
    Customer.addresses,
    Customer.birth_date,
)
# A change to any of these fields moves a customer's duplicates.
MATCHED_FIELDS = frozenset(c.key for c in COLUMNS) - {"id"}

# Reason codes.
R_EMAIL, R_PHONE, R_NAME, R_BIRTH, R_ADDRESS, R_COMPANY = (
    "EMAIL",
    "PHONE",
    "NAME",
    "BIRTH_DATE",
    "ADDRESS",
    "COMPANY",
)
REASONS = (R_EMAIL, R_PHONE, R_NAME, R_BIRTH, R_ADDRESS, R_COMPANY)
# How each reason reads (by code and detail); ``{shared}`` is the value both customers have,
# shown as the caller may see it.
MESSAGES = {
    (R_EMAIL, "same"): "same e-mail address {shared}",
    (R_PHONE, "same"): "same phone number {shared}",
    (R_PHONE, "close"): "phone numbers end in the same seven digits",
    (R_NAME, "same"): "names are {similarity:.0%} similar",
    (R_NAME, "swapped"): "names are {similarity:.0%} similar with given name and surname swapped",
    (R_BIRTH, "same"): "same birth date {shared}",
    (R_BIRTH, "swapped"): "birth dates match with day and month swapped",
    (R_BIRTH, "close"): "birth dates differ in one of day, month and year",
    (R_ADDRESS, "same"): "addresses agree on {parts}",
    (R_COMPANY, "same"): "companies are {similarity:.0%} similar",
}
# The customer field whose value a reason shows, and its mask.
SHARED = {R_EMAIL: ("email", "email"), R_PHONE: ("phone", "phone"), R_BIRTH: ("birth_date", "text")}
ADDRESS_PARTS = ("postal code", "city", "street")


@dataclass(frozen=True)
class Reason:
    """One piece of evidence; ``detail`` says which kind (same, swapped, close) and, for an
    address, which parts agree."""

    code: str
    similarity: float
    detail: str = "same"

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "similarity": self.similarity, "detail": self.detail}

    def message(self, shared: Any) -> str:
        key = (self.code, "same" if self.code == R_ADDRESS else self.detail)
        return MESSAGES[key].format(
            shared=shared, similarity=self.similarity, parts=self.detail.replace(",", ", ")
        )


def reasons_of(comparison: Comparison, weights: np.ndarray) -> list[Reason]:
    """The levels of a pair that raised its score, as reasons."""
    levels = comparison.levels

    def raised(c: int) -> bool:
        return levels[c] > 0 and weights[c, levels[c]] > 0

    found: list[Reason] = []
    if raised(EMAIL):
        found.append(Reason(R_EMAIL, 1.0))
    if raised(PHONE):
        found.append(Reason(R_PHONE, 1.0, "same" if levels[PHONE] == 3 else "close"))
    if raised(GIVEN) or raised(SURNAME):
        known = [
            s
            for c, s in (
                (GIVEN, comparison.given_similarity),
                (SURNAME, comparison.surname_similarity),
            )
            if levels[c]
        ]
        detail = "swapped" if comparison.swapped else "same"
        found.append(Reason(R_NAME, round(sum(known) / len(known), 4), detail))
    if raised(BIRTH):
        found.append(Reason(R_BIRTH, 1.0, {4: "same", 3: "swapped"}.get(levels[BIRTH], "close")))
    parts = []
    if raised(PLACE):
        parts.extend(comparison.same_place or ["nearly the same postal code or city"])
    if raised(STREET):
        parts.append("street")
    if parts:
        found.append(Reason(R_ADDRESS, round(len(parts) / len(ADDRESS_PARTS), 4), ",".join(parts)))
    if raised(COMPANY):
        found.append(Reason(R_COMPANY, 1.0 if levels[COMPANY] == 3 else 0.9))
    return found


def profile_of(row: Any) -> Profile:
    return Profile.of(*row)


# --- the model ---------------------------------------------------------------------------


async def current_model(conn: AsyncConnection) -> Model:
    """The model the last rerun fitted, or the starting values."""
    table = DuplicateModel.__table__
    data = await conn.scalar(select(table.c.model).order_by(table.c.id.desc()).limit(1))
    return STARTING if data is None else Model.of_json(data)


# --- incremental matching ---------------------------------------------------------------


def ordered(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


async def _dismissed(conn: AsyncConnection, ids: Collection[int]) -> set[tuple[int, int]]:
    table = DuplicateDismissal.__table__
    rows = await conn.execute(
        select(table.c.customer_id, table.c.other_id).where(
            or_(table.c.customer_id.in_(list(ids)), table.c.other_id.in_(list(ids)))
        )
    )
    return {(a, b) for a, b in rows}


async def rematch(session: AsyncSession, ids: Iterable[int]) -> int:
    """Match these customers again, in the caller's unit of work, against every live customer
    sharing a blocking key with them (whoever may see it: the pairs are filtered when read).
    Their keys and kept pairs are replaced; a deleted customer keeps neither. Returns how many
    pairs are kept now."""
    ids = sorted(set(ids))
    if not ids:
        return 0
    conn = await session.connection()
    keys, pairs = CustomerMatchKey.__table__, CustomerDuplicate.__table__
    await conn.execute(delete(keys).where(keys.c.customer_id.in_(ids)))
    await conn.execute(
        delete(pairs).where(or_(pairs.c.customer_id.in_(ids), pairs.c.other_id.in_(ids)))
    )
    live = await load_profiles(conn, ids)
    if not live:
        return 0
    records = [(p.id, key) for p in live.values() for key in p.blocking_keys()]
    await insert_records(session, keys, ["customer_id", "key"], records, audited=False)
    wanted = list({key for _, key in records})
    sizes = await conn.execute(
        select(keys.c.key, func.count())
        .where(among(session, keys.c.key, wanted))
        .group_by(keys.c.key)
    )
    usable = [key for key, size in sizes if size <= MAX_BLOCK]
    members: dict[int, set[int]] = defaultdict(set)
    if usable:
        found = await conn.execute(
            select(keys.c.key, keys.c.customer_id).where(among(session, keys.c.key, usable))
        )
        for key, customer_id in found:
            members[key].add(customer_id)
    proposed: set[tuple[int, int]] = set()
    for pk, profile in live.items():
        for key in profile.blocking_keys():
            proposed.update(ordered(pk, other) for other in members.get(key, ()) if other != pk)
    others = {pk for pair in proposed for pk in pair} - set(live)
    everyone = {**live, **(await load_profiles(conn, others))}
    dismissed = await _dismissed(conn, list(live))
    model = await current_model(conn)
    weights = model.weights()
    kept = []
    now = utcnow()
    for a, b in sorted(proposed):
        if (a, b) in dismissed or a not in everyone or b not in everyone:
            continue
        comparison = compare(everyone[a], everyone[b])
        score = model.score(comparison.levels)
        if score >= STORE_MIN:
            reasons = [r.as_json() for r in reasons_of(comparison, weights)]
            kept.append((a, b, round(score, 4), reasons, now))
    await insert_records(session, pairs, PAIR_COLUMNS, kept, audited=False)
    return len(kept)


PAIR_COLUMNS = ("customer_id", "other_id", "score", "reasons", "found_at")


async def load_profiles(conn: AsyncConnection, ids: Collection[int]) -> dict[int, Profile]:
    """Profiles of the live customers among ``ids`` (whoever may see them)."""
    out: dict[int, Profile] = {}
    listed = list(ids)
    for start in range(0, len(listed), CHUNK):
        rows = await conn.execute(
            select(*COLUMNS).where(
                Customer.id.in_(listed[start : start + CHUNK]), Customer.deleted_at.is_(None)
            )
        )
        out.update((row[0], profile_of(row)) for row in rows)
    return out


# --- the full rerun -----------------------------------------------------------------------


@dataclass
class RerunReport:
    customers: int = 0
    keys: int = 0
    candidates: int = 0
    kept: int = 0
    model: Model = STARTING


Progress = Callable[[str, int, int], None]


def _quiet(_step: str, _done: int, _total: int) -> None:
    return None


async def rerun(engine: AsyncEngine, progress: Progress = _quiet, seed: int = 0) -> RerunReport:
    """Rebuild every key and pair and fit the model to the data, in one transaction
    (readers see the old pairs until it commits). ``progress(step, done, total)`` is told
    how far each step is."""
    report = RerunReport()
    async with write_session(engine) as session:
        conn = await session.connection()
        profiles: list[Profile] = []
        total = await conn.scalar(
            select(func.count()).select_from(Customer).where(Customer.deleted_at.is_(None))
        )
        progress("reading customers", 0, total)
        result = await conn.stream(
            select(*COLUMNS).where(Customer.deleted_at.is_(None)).order_by(Customer.id)
        )
        async for chunk in result.partitions(CHUNK):
            profiles.extend(profile_of(row) for row in chunk)
            progress("reading customers", len(profiles), total)
        report.customers = len(profiles)
        blocks: dict[int, list[int]] = defaultdict(list)
        records = []
        for index, profile in enumerate(profiles):
            for key in profile.blocking_keys():
                blocks[key].append(index)
                records.append((profile.id, key))
        report.keys = len(records)
        proposed: set[tuple[int, int]] = set()
        for block in blocks.values():
            if 1 < len(block) <= MAX_BLOCK:
                proposed.update(itertools.combinations(block, 2))
        candidates = sorted(proposed)
        report.candidates = len(candidates)
        comparisons: list[Comparison] = []
        for start in range(0, len(candidates), CHUNK):
            comparisons.extend(
                compare(profiles[i], profiles[j]) for i, j in candidates[start : start + CHUNK]
            )
            progress("comparing pairs", len(comparisons), len(candidates))
        levels = np.array([c.levels for c in comparisons], dtype=np.int8).reshape(
            -1, len(COMPARISONS)
        )
        progress("fitting the model", 0, 1)
        model = fit(levels, _random_levels(profiles, seed), len(profiles) * (len(profiles) - 1) / 2)
        report.model = model
        progress("fitting the model", 1, 1)
        scores = model.scores(levels) if len(levels) else np.zeros(0)
        dismissed = await _all_dismissed(conn)
        weights = model.weights()
        now = utcnow()
        kept = []
        for index in np.flatnonzero(scores >= STORE_MIN):
            i, j = candidates[index]
            a, b = profiles[i].id, profiles[j].id
            if (a, b) in dismissed:
                continue
            reasons = [r.as_json() for r in reasons_of(comparisons[index], weights)]
            kept.append((a, b, round(float(scores[index]), 4), reasons, now))
        report.kept = len(kept)
        progress("writing", 0, len(records) + len(kept))
        await conn.execute(delete(CustomerMatchKey.__table__))
        await conn.execute(delete(CustomerDuplicate.__table__))
        for start in range(0, len(records), 50_000):
            await insert_records(
                session,
                CustomerMatchKey.__table__,
                ["customer_id", "key"],
                records[start : start + 50_000],
                audited=False,
            )
            progress("writing", min(start + 50_000, len(records)), len(records) + len(kept))
        await insert_records(
            session, CustomerDuplicate.__table__, PAIR_COLUMNS, kept, audited=False
        )
        session.add(DuplicateModel(model=model.as_json(), fitted_at=now))
        progress("writing", len(records) + len(kept), len(records) + len(kept))
    return report


def _random_levels(profiles: list[Profile], seed: int) -> np.ndarray:
    """Comparison levels of random pairs: nearly all different people (``u``)."""
    if len(profiles) < 2:
        return np.zeros((0, len(COMPARISONS)), dtype=np.int8)
    rng = random.Random(seed)
    n = len(profiles)
    sample = min(RANDOM_PAIRS, n * (n - 1) // 2)
    levels = []
    for _ in range(sample):
        i, j = rng.randrange(n), rng.randrange(n - 1)
        j += j >= i
        levels.append(compare(profiles[i], profiles[j]).levels)
    return np.array(levels, dtype=np.int8)


async def _all_dismissed(conn: AsyncConnection) -> set[tuple[int, int]]:
    table = DuplicateDismissal.__table__
    return {(a, b) for a, b in await conn.execute(select(table.c.customer_id, table.c.other_id))}


def changes_duplicates(fields: Iterable[str]) -> bool:
    """Whether a change to these customer fields can move the customer's duplicates."""
    return not MATCHED_FIELDS.isdisjoint(fields)
