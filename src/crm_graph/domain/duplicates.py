"""Likely duplicate customers as a data steward walks them: pairs and clusters the caller may
see, a customer's likely duplicates, reasons in words, "not a duplicate" decisions, and
finding customers by a description (the plugin API's ``find_duplicates``).

Pairs are found and kept by :mod:`crm_graph.domain.matching` as customers change; here they
are only read. Ownership scopes apply: a pair is shown only when the caller may see both
customers, and the values a reason quotes are masked without ``pii:read``.
"""

from __future__ import annotations

import base64
import heapq
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.personal import shown
from crm_graph.auth.principal import Principal
from crm_graph.auth.scope import current_principal
from crm_graph.db.batch_writes import among
from crm_graph.db.models import (
    Customer,
    CustomerDuplicate,
    CustomerMatchKey,
    DuplicateDismissal,
    utcnow,
)
from crm_graph.domain.addresses import normalise_addresses
from crm_graph.domain.customers import get_live
from crm_graph.domain.errors import Collector, fail
from crm_graph.domain.linkage_compare import Profile, compare
from crm_graph.domain.matching import (
    MAX_BLOCK,
    MIN_SCORE,
    SHARED,
    Reason,
    current_model,
    load_profiles,
    ordered,
    reasons_of,
)
from crm_graph.domain.values import normalise_birth_date, normalise_email, normalise_phone

CHUNK = 5_000


@dataclass(frozen=True)
class Pair:
    customer_id: int
    other_id: int
    score: float
    reasons: tuple[Reason, ...]


@dataclass
class Group:
    """Customers linked by likely duplicate pairs: two, or a cluster of more."""

    customer_ids: list[int] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)

    @property
    def score(self) -> float:
        return max(p.score for p in self.pairs)

    @property
    def sort_key(self) -> tuple[float, int]:
        return (-self.score, self.customer_ids[0])

    def cursor(self) -> str:
        raw = json.dumps([self.score, self.customer_ids[0]]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_key(cursor: str) -> tuple[float, int]:
    """The sort key a cursor stands for; ValueError when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        score, first = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise ValueError("not a cursor") from exc
    if not isinstance(score, int | float) or not isinstance(first, int):
        raise ValueError("not a cursor")
    return (-float(score), first)


def _reasons(data: list[dict[str, Any]]) -> tuple[Reason, ...]:
    return tuple(Reason(r["code"], r["similarity"], r.get("detail", "same")) for r in data)


async def _visible(session: AsyncSession, ids: Collection[int]) -> set[int]:
    """The live customers among ``ids`` the caller may see (ownership scopes apply)."""
    found: set[int] = set()
    listed = sorted(ids)
    for start in range(0, len(listed), CHUNK):
        found.update(
            await session.scalars(
                select(Customer.id).where(
                    among(session, Customer.id, listed[start : start + CHUNK]),
                    Customer.deleted_at.is_(None),
                )
            )
        )
    return found


async def groups(
    session: AsyncSession, min_score: float = MIN_SCORE, reasons: Collection[str] = ()
) -> list[Group]:
    """Every group of likely duplicates the caller may see, best first: the kept pairs
    scoring ``min_score`` or more and having every one of ``reasons``, joined into clusters
    (customers linked through pairs form one group)."""
    table = CustomerDuplicate.__table__
    rows = await session.execute(
        select(table.c.customer_id, table.c.other_id, table.c.score, table.c.reasons).where(
            table.c.score >= min_score
        )
    )
    wanted = set(reasons)
    pairs = []
    for a, b, score, data in rows:
        found = _reasons(data)
        if wanted <= {r.code for r in found}:
            pairs.append(Pair(a, b, score, found))
    visible = await _visible(session, {pk for p in pairs for pk in (p.customer_id, p.other_id)})
    pairs = [p for p in pairs if p.customer_id in visible and p.other_id in visible]
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        parent[root(p.customer_id)] = root(p.other_id)
    clusters: dict[int, Group] = {}
    for p in sorted(pairs, key=lambda p: (-p.score, p.customer_id, p.other_id)):
        clusters.setdefault(root(p.customer_id), Group()).pairs.append(p)
    for group in clusters.values():
        group.customer_ids = sorted({pk for p in group.pairs for pk in (p.customer_id, p.other_id)})
    return sorted(clusters.values(), key=lambda g: g.sort_key)


async def duplicate_candidates(session: AsyncSession, customer_id: int, limit: int) -> list[Pair]:
    """The kept pairs of one customer the caller may see, best first (``other_id`` is the
    other customer)."""
    await get_live(session, customer_id, "customerId")
    table = CustomerDuplicate.__table__
    rows = await session.execute(
        select(table.c.customer_id, table.c.other_id, table.c.score, table.c.reasons)
        .where(
            or_(table.c.customer_id == customer_id, table.c.other_id == customer_id),
            table.c.score >= MIN_SCORE,
        )
        .order_by(table.c.score.desc(), table.c.customer_id, table.c.other_id)
    )
    pairs = [
        Pair(customer_id, b if a == customer_id else a, score, _reasons(data))
        for a, b, score, data in rows
    ]
    visible = await _visible(session, {p.other_id for p in pairs})
    return [p for p in pairs if p.other_id in visible][:limit]


async def dismiss(
    session: AsyncSession, ids: list[int], actor: str | None, *path: str
) -> DuplicateDismissal:
    """Remember that two customers are not one: their pair is dropped and never kept again
    (saying it twice keeps the first decision)."""
    if len(ids) != 2 or ids[0] == ids[1]:
        raise fail("INVALID_VALUE", "name two different customers", *path)
    for index, pk in enumerate(ids):
        await get_live(session, pk, *path, str(index))
    a, b = ordered(*ids)
    existing = await session.scalar(
        select(DuplicateDismissal).where(
            DuplicateDismissal.customer_id == a, DuplicateDismissal.other_id == b
        )
    )
    if existing is not None:
        return existing
    dismissal = DuplicateDismissal(
        customer_id=a, other_id=b, dismissed_by=actor, dismissed_at=utcnow()
    )
    session.add(dismissal)
    pairs = CustomerDuplicate.__table__
    await session.execute(delete(pairs).where(pairs.c.customer_id == a, pairs.c.other_id == b))
    await session.flush()
    return dismissal


@dataclass(frozen=True)
class DuplicateReason:
    """One piece of evidence: ``code`` (``EMAIL``, ``PHONE``, ``NAME``, ``BIRTH_DATE``,
    ``ADDRESS``, ``COMPANY``), how similar (1.0 for an exact match), and the reason in words
    as the caller may see it."""

    code: str
    similarity: float
    message: str


@dataclass(frozen=True)
class DuplicateCandidate:
    """A live customer likely to be the one described, scored from 0.5 (likely) to 1.0."""

    customer: Customer
    score: float
    reasons: list[DuplicateReason]


def explained(
    reasons: Iterable[Reason], customer: Any, viewer: Principal | None
) -> list[DuplicateReason]:
    """Reasons in words, with the value both customers share (read from ``customer``) as
    ``viewer`` may see it (in clear without a viewer: command-line and background work)."""
    out = []
    for reason in reasons:
        value = None
        if reason.code in SHARED and reason.detail == "same":
            name, kind = SHARED[reason.code]
            value = getattr(customer, name, None)
            value = value.isoformat() if hasattr(value, "isoformat") else value
            value = value if viewer is None else shown(viewer, value, kind)
        out.append(DuplicateReason(reason.code, reason.similarity, reason.message(value)))
    return out


async def similar(
    session: AsyncSession, target: Profile, limit: int, min_score: float = MIN_SCORE
) -> list[tuple[int, float, list[Reason]]]:
    """Live customers the caller may see that are likely ``target`` (compared now, not
    kept), best first: (id, score, reasons)."""
    keys = CustomerMatchKey.__table__
    wanted = list(target.blocking_keys())
    if not wanted:
        return []
    conn = await session.connection()
    sizes = await conn.execute(
        select(keys.c.key, func.count())
        .where(among(session, keys.c.key, wanted))
        .group_by(keys.c.key)
    )
    usable = [key for key, size in sizes if size <= MAX_BLOCK]
    if not usable:
        return []
    ids = set(
        await conn.scalars(select(keys.c.customer_id).where(among(session, keys.c.key, usable)))
    )
    profiles = await load_profiles(conn, await _visible(session, ids - {target.id}))
    model = await current_model(conn)
    weights = model.weights()
    found = []
    for pk, profile in profiles.items():
        comparison = compare(target, profile)
        score = model.score(comparison.levels)
        if score >= min_score:
            found.append((pk, round(score, 4), reasons_of(comparison, weights)))
    return heapq.nlargest(limit, found, key=lambda f: (f[1], -f[0]))


async def find_duplicates(
    session: AsyncSession,
    *,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    company: str | None = None,
    region: str,
    limit: int = 10,
    at: tuple[str, ...] = ("input",),
    addresses: list[dict[str, Any]] | None = None,
    birth_date: Any = None,
) -> list[DuplicateCandidate]:
    """Live customers likely to be the person these details describe, best first, scored
    as the duplicate finder scores a pair of customers.

    E-mail and phone are normalised as a customer's are (``region`` is the phone's default
    country), and so are ``addresses`` and ``birth_date``; a malformed one is a user error at
    ``at`` + ``email``/``phone``/``addresses``/``birthDate``. Ownership scopes apply, and
    reasons are masked as the unit of work's caller may see them.
    """
    errors = Collector()
    email = normalise_email(email, errors, *at, "email")
    phone = normalise_phone(phone, region, errors, *at, "phone")
    found_addresses = normalise_addresses(addresses, errors, *at, "addresses")
    born = normalise_birth_date(birth_date, errors, *at, "birthDate")
    errors.check()
    target = Profile.of(0, name or "", email, phone, company, found_addresses, born)
    matches = await similar(session, target, limit)
    rows = {
        c.id: c
        for c in await session.scalars(
            select(Customer).where(Customer.id.in_([pk for pk, _, _ in matches]))
        )
    }
    viewer = current_principal.get()
    return [
        DuplicateCandidate(rows[pk], score, explained(reasons, rows[pk], viewer))
        for pk, score, reasons in matches
        if pk in rows
    ]
