"""The demo's products: categories of kits bought together, with per-category popularity."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from crm_graph.demo.draws import cdf, pick
from crm_graph.demo.timeline import moment

CURRENCY = "USD"


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
LINE_COUNTS = (1, 2, 3, 4, 5)
LINE_COUNT_WEIGHTS = (0.36, 0.28, 0.19, 0.11, 0.06)
LINE_COUNT_CDF = cdf(LINE_COUNT_WEIGHTS)


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
            self.popularity.append(cdf([1 / (r + 1) ** 0.9 for r in ranks]))

    def basket(self, rng: np.random.Generator, category: int, first: int | None) -> list[int]:
        """1-5 distinct products, mostly from the first product's kit and category."""
        members = self.members[category]
        chosen = [first if first is not None else members[pick(rng, self.popularity[category])]]
        wanted = LINE_COUNTS[pick(rng, LINE_COUNT_CDF)]
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
