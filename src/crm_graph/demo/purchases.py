"""The purchase simulator: when each customer buys (BG/NBD), what (baskets from favourite
categories and kits, staples bought again) and how orders end (churners' last orders are more
often cancelled or refunded)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from crm_graph.demo.catalogue import CATEGORIES, CURRENCY, Catalogue
from crm_graph.demo.draws import cdf, pick
from crm_graph.demo.identities import Person
from crm_graph.demo.timeline import HISTORY_DAYS, moment

CENT = Decimal("0.01")
QUANTITY_WEIGHTS = (0.76, 0.16, 0.06, 0.02)  # 1, 2, 3, 4 units
QUANTITY_CDF = cdf(QUANTITY_WEIGHTS)


def draw_purchase_days(rng: np.random.Generator, people: list[Person], target: int) -> None:
    """BG/NBD: exponential gaps at the person's rate, dropping out after each purchase.

    The per-day rate scale is raised until at least ``target`` purchases exist; then purchases
    are thinned uniformly at random to exactly ``target`` (thinning keeps every rhythm's shape).
    """
    if target == 0:
        return
    if not any(p.buyer for p in people):
        people[0].buyer = True
    buyers = [p for p in people if p.buyer]
    exposure = sum(HISTORY_DAYS - p.joined for p in buyers) or 1.0
    scale = 1.3 * target / exposure
    while True:
        for person in buyers:
            person.purchases, person.left = [], None
            day = person.joined + rng.exponential(4.0)
            while day < HISTORY_DAYS:
                person.purchases.append(day)
                if rng.random() < person.dropout:
                    person.left = day + rng.exponential(20.0)
                    break
                day += rng.exponential(1.0 / (person.rate * scale))
        found = sum(len(p.purchases) for p in buyers)
        if found >= target:
            break
        scale *= min(4.0, 1.5 * target / max(found, 1))
    owners = [(i, day) for i, p in enumerate(people) for day in p.purchases]
    keep = set(rng.choice(len(owners), size=target, replace=False).tolist())
    for person in people:
        person.purchases = []
    for k in sorted(keep):
        i, day = owners[k]
        people[i].purchases.append(day)


def _status(rng: np.random.Generator, age_days: float, last_before_leaving: bool) -> str:
    roll = rng.random()
    if age_days < 3:
        return "pending" if roll < 0.5 else "paid"
    if age_days < 10:
        return "pending" if roll < 0.05 else "paid" if roll < 0.6 else "fulfilled"
    bad = 0.35 if last_before_leaving else 0.1
    if roll < bad * 0.55:
        return "cancelled"
    if roll < bad:
        return "refunded"
    return "paid" if roll < bad + 0.04 else "fulfilled"


def draw_orders(
    rng: np.random.Generator, people: list[Person], catalogue: Catalogue
) -> list[tuple[int, dict[str, Any], list[tuple[int, int, Decimal]]]]:
    drafts = []
    for i, person in enumerate(people):
        bought: list[int] = []
        for n, day in enumerate(person.purchases):
            if bought and rng.random() < 0.25:  # a staple, bought again
                first: int | None = bought[int(rng.integers(len(bought)))]
                category = catalogue.category_of[first]
            elif rng.random() < 0.85:
                first = None
                category = person.favourites[pick(rng, person.favourite_cdf)]
            else:
                first, category = None, int(rng.integers(len(CATEGORIES)))
            basket = catalogue.basket(rng, category, first)
            bought.extend(basket)
            discount = Decimal("0.85") if rng.random() < 0.1 else Decimal(1)
            lines = [
                (
                    p,
                    pick(rng, QUANTITY_CDF) + 1,
                    (catalogue.rows[p]["price"] * discount).quantize(CENT),
                )
                for p in basket
            ]
            leaving = person.left is not None and n >= len(person.purchases) - 2
            placed = moment(day)
            columns = {
                "status": _status(rng, HISTORY_DAYS - day, leaving),
                "currency": CURRENCY,
                "placed_at": placed,
                "total": sum((price * qty for _, qty, price in lines), Decimal(0)),
                "created_at": placed,
                "updated_at": moment(min(day + rng.uniform(1, 120) / 24, HISTORY_DAYS)),
                "version": 1,
            }
            drafts.append((day, i, columns, lines))
    drafts.sort(key=lambda d: (d[0], d[1]))
    orders = []
    for k, (_day, i, columns, lines) in enumerate(drafts):
        columns["number"] = f"DEMO-{k + 1:06d}"
        people[i].orders.append(k)
        orders.append((i, columns, lines))
    return orders
