"""What the demo generates: the volumes asked for and the rows, before they have ids."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Volumes:
    customers: int
    orders: int
    interactions: int


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


EXTERNAL_ID_PREFIX = "demo-"


def external_id(index: int) -> str:
    return f"{EXTERNAL_ID_PREFIX}{index + 1:04d}"
