"""Deterministic demo data: for trying the API, and with structure the analytics models can find.

Rows are drawn from hidden traits of each customer, the way real purchase data arises:

- every buyer purchases at a personal, gamma-distributed rate and may drop out after each
  purchase with a personal, beta-distributed probability (the BG/NBD story, so RFM and CLV
  models fit); dropped-out customers are the churners, and before leaving they contact support
  far more than others (inbound complaints, refund requests), and their last orders are more
  often cancelled or refunded;
- every customer has one or two favourite categories and buys mostly there; products within a
  category come in kits (grinder, beans, frother) bought together, and staples get re-bought,
  so item-item recommendations beat popularity.

One numpy ``Generator`` and one Faker instance, both seeded with ``seed``, drive everything, and
time counts back from the fixed ``NOW``, never the wall clock: a seed always gives the same rows.
Rows go in with Core bulk inserts in one transaction.
"""

from __future__ import annotations

import bisect
import functools
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any

import numpy as np
import phonenumbers
from faker import Faker
from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_graph.db.engine import is_sqlite
from crm_graph.db.models import Customer, Interaction, Order, OrderLine, Product
from crm_graph.domain.errors import Collector
from crm_graph.domain.values import normalise_email, normalise_phone

NOW = datetime(2026, 11, 1, tzinfo=UTC)
HISTORY_DAYS = 730
ORDERS_PER_CUSTOMER = 8
INTERACTIONS_PER_CUSTOMER = 10
CURRENCY = "USD"
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Category:
    name: str
    code: str
    price_range: tuple[float, float]
    kits: tuple[tuple[str, ...], ...]  # products bought together


CATEGORIES = (
    Category(
        "Coffee & Tea",
        "COF",
        (6, 160),
        (
            ("Espresso Beans", "Burr Grinder", "Milk Frother"),
            ("Pour-Over Dripper", "Paper Filters", "Gooseneck Kettle"),
            ("Loose-Leaf Green Tea", "Glass Teapot", "Matcha Whisk"),
            ("Cold Brew Jar", "Travel Mug", "Chai Blend"),
        ),
    ),
    Category(
        "Outdoor",
        "OUT",
        (12, 420),
        (
            ("Two-Person Tent", "Sleeping Bag", "Sleeping Pad"),
            ("Camp Stove", "Fuel Canister", "Titanium Pot"),
            ("Daypack", "Water Filter", "Headlamp"),
            ("Rain Jacket", "Trekking Poles", "Wool Socks"),
        ),
    ),
    Category(
        "Home Office",
        "OFF",
        (9, 650),
        (
            ("Standing Desk", "Ergonomic Chair", "Desk Mat"),
            ("Mechanical Keyboard", "Wireless Mouse", "Wrist Rest"),
            ("Webcam", "Noise-Cancelling Headset", "Ring Light"),
            ("Monitor Arm", "Cable Organizer", "Desk Lamp"),
        ),
    ),
    Category(
        "Fitness",
        "FIT",
        (8, 260),
        (
            ("Yoga Mat", "Yoga Blocks", "Foam Roller"),
            ("Adjustable Dumbbells", "Weight Bench", "Lifting Gloves"),
            ("Whey Protein", "Shaker Bottle", "Energy Bars"),
            ("Jump Rope", "Resistance Bands", "Fitness Tracker"),
        ),
    ),
    Category(
        "Kitchen",
        "KIT",
        (7, 340),
        (
            ("Chef's Knife", "Cutting Board", "Knife Sharpener"),
            ("Cast-Iron Skillet", "Dutch Oven", "Silicone Spatula"),
            ("Stand Mixer", "Mixing Bowls", "Baking Sheet"),
            ("Spice Set", "Pepper Mill", "Olive Oil Sampler"),
        ),
    ),
    Category(
        "Pets",
        "PET",
        (5, 180),
        (
            ("Dry Dog Food", "Dog Treats", "Chew Toy"),
            ("Cat Food", "Cat Litter", "Scratching Post"),
            ("Dog Leash", "Harness", "Poop Bags"),
            ("Pet Bed", "Grooming Brush", "Pet Shampoo"),
        ),
    ),
    Category(
        "Beauty",
        "BEA",
        (5, 140),
        (
            ("Facial Cleanser", "Face Serum", "Moisturiser"),
            ("Shampoo", "Conditioner", "Hair Mask"),
            ("Sunscreen SPF 50", "After-Sun Gel", "Lip Balm"),
            ("Hair Dryer", "Hair Straightener", "Heat Protectant Spray"),
        ),
    ),
    Category(
        "Electronics",
        "ELE",
        (9, 480),
        (
            ("Wireless Earbuds", "Charging Case", "Ear Tips"),
            ("Power Bank", "USB-C Cable", "Wall Charger"),
            ("E-Reader", "E-Reader Cover", "Tablet Stand"),
            ("Bluetooth Speaker", "Smart Plug", "Smart Bulb"),
        ),
    ),
)
BRANDS = ("Northwind", "Bluebird", "Evergreen", "Ironwood", "Lumen", "Pioneer", "Zenith", "Harbor")

# (Faker locale, phone region, share of customers)
LOCALES = (
    ("en_US", "US", 0.70),
    ("en_GB", "GB", 0.12),
    ("de_DE", "DE", 0.10),
    ("fr_FR", "FR", 0.08),
)
US_AREA_CODES = ("212", "213", "305", "312", "404", "415", "503", "512", "617", "702", "206", "303")
PERSONAL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
SOURCES = ("organic", "paid-search", "social", "referral", "event", "partner")
INDUSTRIES = ("retail", "hospitality", "software", "healthcare", "education", "logistics")
LINE_COUNTS = (1, 2, 3, 4, 5)
LINE_COUNT_WEIGHTS = (0.36, 0.28, 0.19, 0.11, 0.06)
QUANTITY_WEIGHTS = (0.76, 0.16, 0.06, 0.02)  # 1, 2, 3, 4 units

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


@dataclass(frozen=True)
class Volumes:
    customers: int
    orders: int
    interactions: int


@dataclass
class Person:
    """A customer's hidden traits; rows are drawn from them."""

    joined: float  # day on the timeline, 0 = two years before NOW
    locale: int
    buyer: bool
    b2b: bool
    rate: float  # relative purchase rhythm
    dropout: float  # chance of leaving after each purchase
    favourites: tuple[int, ...]
    favourite_cdf: tuple[float, ...]
    newsletter: bool
    first: str = ""
    last: str = ""
    company: str | None = None
    left: float | None = None  # day the customer stopped buying (churners only)
    purchases: list[float] = field(default_factory=list)
    orders: list[int] = field(default_factory=list)  # indexes into DemoData.orders


@dataclass
class DemoData:
    customers: list[dict[str, Any]]
    products: list[dict[str, Any]]
    # (customer index, order columns, [(product index, quantity, unit price)])
    orders: list[tuple[int, dict[str, Any], list[tuple[int, int, Decimal]]]]
    interactions: list[tuple[int, dict[str, Any]]]  # (customer index, interaction columns)

    def summary(self) -> str:
        lines = sum(len(o[2]) for o in self.orders)
        return (
            f"{len(self.customers):,} customers, {len(self.products):,} products, "
            f"{len(self.orders):,} orders ({lines:,} lines), "
            f"{len(self.interactions):,} interactions"
        )


def moment(day: float) -> datetime:
    """The instant of a timeline day (0 = two years before NOW), to the second."""
    return NOW - timedelta(seconds=round((HISTORY_DAYS - day) * 86_400))


def external_id(index: int) -> str:
    return f"demo-{index + 1:04d}"


def _pick(rng: np.random.Generator, cdf: Sequence[float]) -> int:
    return bisect.bisect_right(cdf, rng.random() * cdf[-1])


def _cdf(weights: Sequence[float]) -> tuple[float, ...]:
    return tuple(accumulate(weights))


LINE_COUNT_CDF = _cdf(LINE_COUNT_WEIGHTS)
QUANTITY_CDF = _cdf(QUANTITY_WEIGHTS)


class Catalogue:
    """Products with per-category popularity; kits are what gets bought together."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rows: list[dict[str, Any]] = []
        self.category_of: list[int] = []
        self.kit_of: list[tuple[int, ...]] = []
        self.members: list[list[int]] = []
        self.popularity: list[tuple[float, ...]] = []
        created = moment(-30)
        for c, category in enumerate(CATEGORIES):
            low, high = np.log(category.price_range)
            members: list[int] = []
            for kit in category.kits:
                ids = tuple(range(len(self.rows), len(self.rows) + len(kit)))
                for noun in kit:
                    price = Decimal(int(np.exp(rng.uniform(low, high)))) + Decimal("0.99")
                    self.rows.append(
                        {
                            "sku": f"DEMO-{category.code}-{len(members) + 1:02d}",
                            "name": f"{BRANDS[int(rng.integers(len(BRANDS)))]} {noun}",
                            "category": category.name,
                            "price": price,
                            "currency": CURRENCY,
                            "created_at": created,
                            "updated_at": created,
                            "version": 1,
                        }
                    )
                    self.category_of.append(c)
                    self.kit_of.append(ids)
                    members.append(len(self.rows) - 1)
            ranks = rng.permutation(len(members))
            self.members.append(members)
            self.popularity.append(_cdf([1 / (r + 1) ** 0.9 for r in ranks]))

    def basket(self, rng: np.random.Generator, category: int, first: int | None) -> list[int]:
        """1-5 distinct products, mostly from the first product's kit and category."""
        members = self.members[category]
        chosen = [first if first is not None else members[_pick(rng, self.popularity[category])]]
        wanted = LINE_COUNTS[_pick(rng, LINE_COUNT_CDF)]
        for _ in range(wanted - 1):
            roll = rng.random()
            if roll < 0.65:
                pool = [p for p in self.kit_of[chosen[0]] if p not in chosen]
            elif roll < 0.93:
                pool = [p for p in members if p not in chosen]
            else:
                pool = [p for p in range(len(self.rows)) if p not in chosen]
            if pool:
                chosen.append(pool[int(rng.integers(len(pool)))])
        return chosen


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", plain.lower())


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:40].strip("-") or "company"


def _email(rng: np.random.Generator, person: Person, taken: set[str]) -> str:
    first, last = _ascii(person.first) or "customer", _ascii(person.last) or "demo"
    styles = (f"{first}.{last}", f"{first}{last}", f"{first[0]}.{last}", f"{first}_{last}")
    local = styles[int(rng.integers(len(styles)))]
    if person.company:
        domain = f"{_slug(person.company)}.example.com"
    else:
        domain = PERSONAL_DOMAINS[int(rng.integers(len(PERSONAL_DOMAINS)))]
    address, n = f"{local}@{domain}", 1
    while address in taken:
        n += 1
        address = f"{local}{n}@{domain}"
    taken.add(address)
    errors = Collector()
    normalised = normalise_email(address, errors)
    errors.check()
    return normalised


@functools.cache
def _mobile_example(region: str) -> tuple[int, str]:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    return example.country_code, phonenumbers.national_significant_number(example)


def _phone(rng: np.random.Generator, region: str) -> str:
    """A random number that phonenumbers accepts as a valid mobile/geographic number."""
    country_code, national = _mobile_example(region)
    for _ in range(100):
        digits = "".join(str(d) for d in rng.integers(0, 10, 7))
        if region == "US":
            head = US_AREA_CODES[int(rng.integers(len(US_AREA_CODES)))]
            number = f"{head}{int(rng.integers(2, 10))}{digits[1:]}"
        else:
            number = national[:-7] + digits
        errors = Collector()
        e164 = normalise_phone(f"+{country_code}{number}", region, errors)
        if e164 is not None:
            return e164
    raise RuntimeError(f"could not generate a valid {region} phone number")


def _people(rng: np.random.Generator, fake: Faker, count: int) -> list[Person]:
    joined = np.sort(rng.uniform(0, HISTORY_DAYS - 5, count))
    locales = rng.choice(len(LOCALES), size=count, p=[share for *_, share in LOCALES])
    buyer = rng.random(count) < 0.88
    b2b = rng.random(count) < 0.3
    rate = rng.gamma(shape=1.3, scale=1.0, size=count)
    dropout = rng.beta(0.9, 11.0, size=count)
    two_favourites = rng.random(count) < 0.45
    newsletter = rng.random(count) < 0.55
    people = []
    for i in range(count):
        favourites = tuple(
            int(c)
            for c in rng.choice(len(CATEGORIES), 2 if two_favourites[i] else 1, replace=False)
        )
        locale = LOCALES[int(locales[i])][0]
        person = Person(
            joined=float(joined[i]),
            locale=int(locales[i]),
            buyer=bool(buyer[i]),
            b2b=bool(b2b[i]),
            rate=float(rate[i]),
            dropout=float(dropout[i]),
            favourites=favourites,
            favourite_cdf=(1.0,) if len(favourites) == 1 else (0.65, 1.0),
            newsletter=bool(newsletter[i]),
            first=fake[locale].first_name(),
            last=fake[locale].last_name(),
        )
        if person.b2b:
            person.company = fake[locale].company()
        people.append(person)
    return people


def _purchase_days(rng: np.random.Generator, people: list[Person], target: int) -> None:
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


def _orders(
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
                category = person.favourites[_pick(rng, person.favourite_cdf)]
            else:
                first, category = None, int(rng.integers(len(CATEGORIES)))
            basket = catalogue.basket(rng, category, first)
            bought.extend(basket)
            discount = Decimal("0.85") if rng.random() < 0.1 else Decimal(1)
            lines = [
                (
                    p,
                    _pick(rng, QUANTITY_CDF) + 1,
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


def _interactions(
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


def _lifecycle(rng: np.random.Generator, person: Person, spend: Decimal, vip: Decimal) -> str:
    if not person.orders:
        if person.b2b:
            return "opportunity" if rng.random() < 0.4 else "prospect"
        return "subscriber" if person.newsletter else "lead"
    last = person.purchases[-1]
    if person.left is not None and HISTORY_DAYS - last > 120 and rng.random() < 0.7:
        return "churned"
    return "evangelist" if spend >= vip else "customer"


def _customer_rows(
    rng: np.random.Generator, people: list[Person], data: DemoData
) -> list[dict[str, Any]]:
    spend = [sum((data.orders[k][1]["total"] for k in p.orders), Decimal(0)) for p in people]
    vip = sorted(spend)[int(len(spend) * 0.95)] if spend else Decimal(0)
    vip = max(vip, Decimal("0.01"))
    taken: set[str] = set()
    rows = []
    for i, person in enumerate(people):
        region = LOCALES[person.locale][1]
        source = SOURCES[int(rng.integers(len(SOURCES)))]
        tags = [
            tag
            for tag, present in (
                ("newsletter", person.newsletter),
                ("b2b", person.b2b),
                ("vip", spend[i] >= vip),
                ("referral", source == "referral"),
                ("early-adopter", person.joined < 90),
                ("wholesale", person.b2b and len(person.orders) >= 12),
            )
            if present
        ]
        attributes: dict[str, Any] = {
            "source": source,
            "country": region,
            "newsletter_opt_in": person.newsletter,
            "preferred_channel": ("email", "phone", "sms", "chat")[int(rng.integers(4))],
        }
        if person.b2b:
            attributes["industry"] = INDUSTRIES[int(rng.integers(len(INDUSTRIES)))]
            attributes["employees"] = int(rng.lognormal(3.5, 1.2)) + 1
        joined = moment(person.joined)
        rows.append(
            {
                "external_id": external_id(i),
                "name": f"{person.first} {person.last}",
                "email": _email(rng, person, taken) if rng.random() < 0.97 else None,
                "phone": _phone(rng, region) if rng.random() < 0.75 else None,
                "company": person.company,
                "lifecycle_stage": _lifecycle(rng, person, spend[i], vip),
                "tags": tags,
                "attributes": attributes,
                "created_at": joined,
                "updated_at": moment(min(person.joined + rng.uniform(0, 60), HISTORY_DAYS)),
                "deleted_at": None,
                "version": 1,
            }
        )
    return rows


def generate(volumes: Volumes, seed: int) -> DemoData:
    """The demo rows for ``volumes``; the same arguments always give the same rows."""
    if volumes.customers < 1 or volumes.orders < 0 or volumes.interactions < 0:
        raise ValueError("demo volumes: at least one customer, no negative counts")
    rng = np.random.default_rng(seed)
    fake = Faker([name for name, *_ in LOCALES])
    fake.seed_instance(seed)
    catalogue = Catalogue(rng)
    people = _people(rng, fake, volumes.customers)
    _purchase_days(rng, people, volumes.orders)
    data = DemoData(customers=[], products=catalogue.rows, orders=[], interactions=[])
    data.orders = _orders(rng, people, catalogue)
    data.interactions = _interactions(rng, people, data, catalogue, volumes.interactions)
    data.customers = _customer_rows(rng, people, data)
    return data


async def _insert(
    connection: AsyncConnection, table: Table, rows: list[dict[str, Any]]
) -> list[int]:
    """Insert many rows (multi-row statements) and return their ids in the rows' order."""
    if not rows:
        return []
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list((await connection.execute(statement, rows)).scalars())


async def write(connection: AsyncConnection, data: DemoData) -> None:
    """Write ``data`` with bulk inserts on an open transaction."""
    customer_ids = await _insert(connection, Customer.__table__, data.customers)
    product_ids = await _insert(connection, Product.__table__, data.products)
    order_ids = await _insert(
        connection,
        Order.__table__,
        [{**columns, "customer_id": customer_ids[i]} for i, columns, _ in data.orders],
    )
    lines = [
        {
            "order_id": order_id,
            "product_id": product_ids[p],
            "quantity": quantity,
            "unit_price": price,
        }
        for order_id, (_, _, order_lines) in zip(order_ids, data.orders, strict=True)
        for p, quantity, price in order_lines
    ]
    if lines:
        await connection.execute(insert(OrderLine.__table__), lines)
    if data.interactions:
        await connection.execute(
            insert(Interaction.__table__),
            [{**columns, "customer_id": customer_ids[i]} for i, columns in data.interactions],
        )


async def seed_demo(
    engine: AsyncEngine,
    customers: int = 400,
    seed: int = 7,
    *,
    orders: int | None = None,
    interactions: int | None = None,
) -> str:
    """Seed demo data into a migrated database, once; returns a one-line summary.

    ``orders`` and ``interactions`` default to 8 and 10 per customer.
    """
    volumes = Volumes(
        customers,
        ORDERS_PER_CUSTOMER * customers if orders is None else orders,
        INTERACTIONS_PER_CUSTOMER * customers if interactions is None else interactions,
    )
    started = time.perf_counter()
    bind = (
        engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        if is_sqlite(str(engine.url))
        else engine
    )
    async with bind.begin() as connection:
        marker = external_id(0)
        present = await connection.scalar(select(Customer.id).where(Customer.external_id == marker))
        if present is not None:
            return f"demo data already present (customer {marker} exists); nothing written"
        data = generate(volumes, seed)
        await write(connection, data)
    return (
        f"seeded demo data (seed {seed}): {data.summary()} in {time.perf_counter() - started:.1f}s"
    )
