"""Likely duplicate customers: pairs scored on e-mail, phone and fuzzy name/company similarity.

Each signal is evidence with its own strength; they combine as independent probabilities
(``1 - prod(1 - p)``), so two weak signals together outweigh one. Comparing every pair would
be quadratic, so customers are first put into blocks by what duplicates share (the e-mail,
the phone, the first letters of each name word) and only customers sharing a block are
compared. A block larger than ``MAX_BLOCK`` (a very common first name) tells nothing and is
skipped.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.personal import shown
from crm_graph.auth.principal import Principal
from crm_graph.auth.scope import current_principal
from crm_graph.db.models import Customer
from crm_graph.domain.customers import get_live
from crm_graph.domain.errors import Collector
from crm_graph.domain.values import normalise_email, normalise_phone

EMAIL, PHONE, NAME, COMPANY = "EMAIL", "PHONE", "NAME", "COMPANY"
STRENGTH = {EMAIL: 0.9, PHONE: 0.8, NAME: 0.6, COMPANY: 0.3}
NAME_SIMILAR, COMPANY_SIMILAR = 0.85, 0.9
MIN_SCORE = 0.5
MAX_BLOCK = 200
PREFIX = 3
MAX_CANDIDATE_ROWS = 2000


# How each reason reads; ``{shared}`` is the value both customers have, personal data that
# the caller sees masked without ``pii:read`` (``kind`` names the mask).
MESSAGES = {
    EMAIL: "same e-mail address {shared}",
    PHONE: "same phone number {shared}",
    NAME: "names are {similarity:.0%} similar",
    COMPANY: "companies are {similarity:.0%} similar",
}
KINDS = {EMAIL: "email", PHONE: "phone"}


@dataclass(frozen=True)
class Reason:
    code: str
    similarity: float
    shared: str | None = None

    @property
    def kind(self) -> str:
        """The mask of ``shared``: ``email``, ``phone`` (or ``text``, when there is none)."""
        return KINDS.get(self.code, "text")

    def message(self, shared: str | None) -> str:
        """The reason in words, with ``shared`` as the caller may see it."""
        return MESSAGES[self.code].format(shared=shared, similarity=self.similarity)


@dataclass(frozen=True)
class Match:
    customer_id: int
    other_id: int
    score: float
    reasons: list[Reason]


@dataclass(frozen=True)
class Profile:
    """What comparing looks at: e-mail and phone (already normalised), names processed once."""

    id: int
    email: str | None
    phone: str | None
    name: str
    company: str

    @classmethod
    def of(
        cls, pk: int, name: str, email: str | None, phone: str | None, company: str | None
    ) -> Profile:
        return cls(pk, email, phone, default_process(name), default_process(company or ""))

    def blocks(self) -> set[str]:
        keys = {f"n:{word[:PREFIX]}" for word in self.name.split() if len(word) >= 2}
        if self.email:
            keys.add(f"e:{self.email}")
        if self.phone:
            keys.add(f"p:{self.phone}")
        return keys


def compare(a: Profile, b: Profile) -> Match | None:
    """The score of a pair and its reasons, or None below ``MIN_SCORE``."""
    reasons: list[Reason] = []
    if a.email and a.email == b.email:
        reasons.append(Reason(EMAIL, 1.0, a.email))
    if a.phone and a.phone == b.phone:
        reasons.append(Reason(PHONE, 1.0, a.phone))
    name = fuzz.token_sort_ratio(a.name, b.name) / 100
    if name >= NAME_SIMILAR:
        reasons.append(Reason(NAME, name))
    if a.company and b.company and (reasons or name >= NAME_SIMILAR):
        company = fuzz.token_sort_ratio(a.company, b.company) / 100
        if company >= COMPANY_SIMILAR:
            reasons.append(Reason(COMPANY, company))
    unlikely = 1.0
    for reason in reasons:
        unlikely *= 1 - STRENGTH[reason.code] * reason.similarity
    score = round(1 - unlikely, 4)
    return Match(a.id, b.id, score, reasons) if score >= MIN_SCORE else None


def _profiles(rows: Iterable[tuple[int, str, str | None, str | None, str | None]]) -> list[Profile]:
    return [Profile.of(*row) for row in rows]


_COLUMNS = (Customer.id, Customer.name, Customer.email, Customer.phone, Customer.company)


async def duplicate_pairs(session: AsyncSession, limit: int) -> list[Match]:
    """The ``limit`` most likely duplicate pairs among live customers, best first."""
    result = await session.stream(
        select(*_COLUMNS).where(Customer.deleted_at.is_(None)).execution_options(yield_per=2000)
    )
    profiles = _profiles([tuple(row) async for row in result])
    blocks: dict[str, list[int]] = defaultdict(list)
    for index, profile in enumerate(profiles):
        for key in profile.blocks():
            blocks[key].append(index)
    seen: set[tuple[int, int]] = set()
    matches = []
    for members in blocks.values():
        if len(members) > MAX_BLOCK:
            continue
        for i, j in itertools.combinations(members, 2):
            if (i, j) in seen:
                continue
            seen.add((i, j))
            match = compare(profiles[i], profiles[j])
            if match is not None:
                matches.append(match)
    return heapq.nlargest(limit, matches, key=lambda m: (m.score, -m.customer_id, -m.other_id))


async def _similar(
    session: AsyncSession, target: Profile, exclude_id: int | None, limit: int
) -> list[Match]:
    """Live customers likely to be ``target``, best first.

    The database does the blocking here: rows sharing the e-mail or phone, or containing the
    first letters of one of the name's words.
    """
    conditions = [
        func.lower(Customer.name).contains(key[2:], autoescape=True)
        for key in target.blocks()
        if key.startswith("n:")
    ]
    if target.email:
        conditions.append(Customer.email == target.email)
    if target.phone:
        conditions.append(Customer.phone == target.phone)
    if not conditions:
        return []
    statement = select(*_COLUMNS).where(Customer.deleted_at.is_(None), or_(*conditions))
    if exclude_id is not None:
        statement = statement.where(Customer.id != exclude_id)
    rows = await session.execute(statement.limit(MAX_CANDIDATE_ROWS))
    matches = [m for p in _profiles(rows) if (m := compare(target, p)) is not None]
    return heapq.nlargest(limit, matches, key=lambda m: (m.score, -m.other_id))


async def duplicate_candidates(session: AsyncSession, customer_id: int, limit: int) -> list[Match]:
    """Customers likely to be the same as ``customer_id``, best first."""
    customer = await get_live(session, customer_id, "customerId")
    target = Profile.of(
        customer.id, customer.name, customer.email, customer.phone, customer.company
    )
    return await _similar(session, target, customer.id, limit)


@dataclass(frozen=True)
class DuplicateReason:
    """One piece of evidence: ``code`` (``EMAIL``, ``PHONE``, ``NAME``, ``COMPANY``), how
    similar (1.0 for an exact match), and the reason in words as the caller may see it."""

    code: str
    similarity: float
    message: str


@dataclass(frozen=True)
class DuplicateCandidate:
    """A live customer likely to be the one described, scored from 0.5 (possible) to 1.0."""

    customer: Customer
    score: float
    reasons: list[DuplicateReason]


def explained(match: Match, viewer: Principal | None) -> list[DuplicateReason]:
    """The reasons of a match in words, the values both sides share as ``viewer`` may see them
    (in clear without a viewer: command-line and background work)."""
    return [
        DuplicateReason(
            r.code,
            r.similarity,
            r.message(r.shared if viewer is None else shown(viewer, r.shared, r.kind)),
        )
        for r in match.reasons
    ]


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
) -> list[DuplicateCandidate]:
    """Live customers likely to be the person these contact details describe, best first,
    scored as :func:`duplicate_candidates` scores a customer's duplicates.

    E-mail and phone are normalised as a customer's are (``region`` is the phone's default
    country); a malformed one is a user error at ``at`` + ``email``/``phone``. Ownership scopes
    apply, and reasons are masked as the unit of work's caller may see them.
    """
    errors = Collector()
    email = normalise_email(email, errors, *at, "email")
    phone = normalise_phone(phone, region, errors, *at, "phone")
    errors.check()
    target = Profile.of(0, name or "", email, phone, company)
    matches = await _similar(session, target, None, limit)
    rows = {
        c.id: c
        for c in await session.scalars(
            select(Customer).where(Customer.id.in_([m.other_id for m in matches]))
        )
    }
    viewer = current_principal.get()
    return [
        DuplicateCandidate(rows[m.other_id], m.score, explained(m, viewer))
        for m in matches
        if m.other_id in rows
    ]
