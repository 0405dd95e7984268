"""The demo's contacts: support, questions, sales, admin and marketing, written from templates
with each customer's own products, orders and company; churners contact support far more."""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np

from crm_graph.demo.catalogue import Catalogue
from crm_graph.demo.identities import LOCALES, Person
from crm_graph.demo.rows import DemoData
from crm_graph.demo.timeline import HISTORY_DAYS, moment

# (kind, channels, direction, subject, body); kinds drive how often and for whom they occur.
TEMPLATES: dict[str, tuple[tuple[tuple[str, ...], str, str, str], ...]] = {
    "marketing": (
        (
            ("email",),
            "outbound",
            "Newsletter: {month} picks in {category}",
            "Hi {first}, our {category} team picked this month's favourites, including the {product}.",
        ),
        (
            ("email", "sms"),
            "outbound",
            "{pct}% off {category} this week",
            "Save {pct}% on everything in {category} until Sunday. Use code SAVE{pct} at checkout.",
        ),
        (
            ("email", "social"),
            "outbound",
            "New in {category}: {product}",
            "The {product} has just arrived. Be among the first to try it.",
        ),
        (
            ("social",),
            "inbound",
            "Liked our post about {product}",
            "{first} liked and shared our post about the {product}.",
        ),
    ),
    "question": (
        (
            ("chat", "web"),
            "inbound",
            "Question about {product}",
            "Hello, does the {product} come with a warranty, and how long does delivery take?",
        ),
        (
            ("email", "phone"),
            "inbound",
            "Is {product} in stock?",
            "I would like to order the {product}; when will it be available again?",
        ),
        (
            ("chat",),
            "inbound",
            "Shipping options to {country}",
            "What are the shipping options and costs to {country}?",
        ),
    ),
    "support": (
        (
            ("email", "phone"),
            "inbound",
            "Order {number} arrived damaged",
            "The {product} in order {number} arrived damaged. I would like a replacement.",
        ),
        (
            ("chat", "web", "email"),
            "inbound",
            "Where is my order {number}?",
            "Order {number} has not arrived yet and tracking has not updated for days.",
        ),
        (
            ("email", "web"),
            "inbound",
            "Refund request for order {number}",
            "I am not satisfied with the {product} and would like a refund for order {number}.",
        ),
        (
            ("phone", "email"),
            "inbound",
            "Charged twice for order {number}",
            "My card was charged twice for order {number}. Please fix this.",
        ),
        (
            ("social", "email"),
            "inbound",
            "Complaint about customer service",
            "I have contacted you three times without an answer. This is very disappointing.",
        ),
        (
            ("email", "phone"),
            "outbound",
            "Following up on your request about {number}",
            "Hi {first}, we are sorry for the trouble with order {number} and are looking into it.",
        ),
    ),
    "sales": (
        (
            ("phone",),
            "outbound",
            "Follow-up call about {product}",
            "Called {first} at {company} about the {product}; interested, sending a quote.",
        ),
        (
            ("meeting",),
            "outbound",
            "Quarterly review with {company}",
            "Reviewed last quarter's {category} orders with {first} and discussed volume pricing.",
        ),
        (
            ("email",),
            "outbound",
            "Volume pricing for {company}",
            "Hi {first}, as discussed, here is our volume pricing for the {category} range.",
        ),
        (
            ("meeting",),
            "inbound",
            "Visited our booth at the trade fair",
            "{first} from {company} stopped by our booth and asked about the {category} range.",
        ),
    ),
    "admin": (
        (
            ("other",),
            "inbound",
            "Address change",
            "{first} asked us to update the delivery address on file.",
        ),
        (
            ("sms",),
            "outbound",
            "Your delivery for order {number} is on its way",
            "Order {number} has shipped and will arrive in 2-3 business days.",
        ),
        (
            ("other",),
            "outbound",
            "Account note",
            "Updated payment details after a call with {first}.",
        ),
    ),
}


class InteractionWriter:
    """Fills the templates with a person's own products, orders and company."""

    def __init__(self, rng: np.random.Generator, data: DemoData, catalogue: Catalogue) -> None:
        self.rng, self.data, self.catalogue = rng, data, catalogue

    def make(self, i: int, person: Person, kind: str, day: float) -> tuple[int, dict[str, Any]]:
        rng = self.rng
        templates = TEMPLATES[kind]
        channels, direction, subject, body = templates[int(rng.integers(len(templates)))]
        earlier = bisect.bisect_right(person.purchases, day)
        if earlier:
            order = self.data.orders[person.orders[earlier - 1]]
            number, product = order[1]["number"], order[2][0][0]
        else:
            number = "(no order yet)"
            category = person.favourites[0]
            members = self.catalogue.members[category]
            product = members[int(rng.integers(len(members)))]
        product_row = self.catalogue.rows[product]
        values = {
            "first": person.first,
            "company": person.company or f"{person.last} household",
            "product": product_row["name"],
            "category": product_row["category"],
            "number": number,
            "pct": (10, 15, 20, 25)[int(rng.integers(4))],
            "month": moment(day).strftime("%B"),
            "country": LOCALES[person.locale][1],
        }
        occurred = moment(day)
        return i, {
            "channel": channels[int(rng.integers(len(channels)))],
            "direction": direction,
            "subject": subject.format(**values),
            "body": body.format(**values),
            "occurred_at": occurred,
            "created_at": occurred,
        }


def _poisson_days(rng: np.random.Generator, start: float, end: float, rate: float) -> list[float]:
    if end <= start:
        return []
    return sorted(rng.uniform(start, end, rng.poisson(rate * (end - start))).tolist())


def draw_interactions(
    rng: np.random.Generator,
    people: list[Person],
    data: DemoData,
    catalogue: Catalogue,
    target: int,
) -> list[tuple[int, dict[str, Any]]]:
    """Support, questions, sales and admin contacts first; marketing fills up to ``target``."""
    writer = InteractionWriter(rng, data, catalogue)
    planned: list[tuple[int, str, float]] = []
    for i, person in enumerate(people):
        for placed in person.purchases:
            if rng.random() < 0.12:
                planned.append((i, "question", max(person.joined, placed - rng.uniform(0.2, 5))))
            if rng.random() < 0.05:
                planned.append((i, "support", placed + rng.uniform(2, 20)))
            if rng.random() < 0.08:
                planned.append((i, "admin", placed + rng.uniform(0.5, 3)))
        if person.left is not None and person.purchases:
            start = max(person.joined, person.purchases[-1] - 60)
            end = min(HISTORY_DAYS, person.left + 10)
            for day in rng.uniform(start, end, 1 + rng.poisson(3.0)).tolist():
                planned.append((i, "support", day))
        if person.b2b:
            end = HISTORY_DAYS if person.left is None else min(HISTORY_DAYS, person.left)
            planned += [(i, "sales", d) for d in _poisson_days(rng, person.joined, end, 1 / 90)]
    planned = [p for p in planned if p[2] < HISTORY_DAYS]
    if len(planned) > target:
        keep = rng.choice(len(planned), size=target, replace=False)
        planned = [planned[k] for k in sorted(keep.tolist())]
    need = target - len(planned)
    if need:
        weights = np.array(
            [(2.0 if p.newsletter else 0.6) * (HISTORY_DAYS - p.joined) for p in people]
        )
        owners = rng.choice(len(people), size=need, p=weights / weights.sum())
        for i in owners.tolist():
            day = float(rng.uniform(people[i].joined, HISTORY_DAYS))
            planned.append((i, "marketing", day))
    planned.sort(key=lambda p: (p[2], p[0]))
    return [writer.make(i, people[i], kind, day) for i, kind, day in planned]
