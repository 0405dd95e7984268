"""The Product type (root value: the ``Product`` row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from crm_graph.db import models
from crm_graph.ids import to_global_id
from crm_graph.schema.types.common import Money, Node, money


@strawberry.type(description="An item of the catalogue.")
class Product(Node):
    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, models.Product)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return to_global_id("Product", self.id)  # type: ignore[arg-type]

    sku: str
    name: str
    category: str | None
    created_at: datetime
    updated_at: datetime
    version: int

    @strawberry.field
    def price(self) -> Money:
        return money(self.price, self.currency)  # type: ignore[arg-type]


@strawberry.input
class ProductFilter:
    search: str | None = strawberry.field(default=None, description="Text in name or SKU.")
    category: str | None = None
