"""Order and OrderLine types (root values: the rows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from crm_graph.auth.declare import requires
from crm_graph.db import models
from crm_graph.ids import to_global_id
from crm_graph.schema.types.common import Money, Node, money
from crm_graph.schema.types.customer import Customer
from crm_graph.schema.types.enums import OrderStatus
from crm_graph.schema.types.product import Product


@strawberry.type(description="One product line of an order.")
class OrderLine:
    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, models.OrderLine)

    quantity: int

    @strawberry.field
    async def product(self, info: Info) -> Product:
        return await info.context.loaders.product.load(self.product_id)  # type: ignore[attr-defined]

    @strawberry.field
    async def unit_price(self, info: Info) -> Money:
        order = await info.context.loaders.order.load(self.order_id)  # type: ignore[attr-defined]
        return money(self.unit_price, order.currency)  # type: ignore[arg-type]

    @strawberry.field
    async def line_total(self, info: Info) -> Money:
        order = await info.context.loaders.order.load(self.order_id)  # type: ignore[attr-defined]
        return money(self.unit_price * self.quantity, order.currency)  # type: ignore[operator]


@strawberry.type(description="A purchase by a customer; its total is the sum of its lines.")
class Order(Node):
    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, models.Order)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return to_global_id("Order", self.id)  # type: ignore[arg-type]

    number: str
    status: OrderStatus
    currency: str
    placed_at: datetime
    created_at: datetime
    updated_at: datetime
    version: int

    @strawberry.field
    def total(self) -> Money:
        return money(self.total, self.currency)  # type: ignore[arg-type]

    @strawberry.field(metadata=requires("customers:read"))
    async def customer(self, info: Info) -> Customer:
        return await info.context.loaders.customer.load(self.customer_id)  # type: ignore[attr-defined]

    @strawberry.field
    async def lines(self, info: Info) -> list[OrderLine]:
        return await info.context.loaders.order_lines.load(self.id)  # type: ignore[arg-type]


@strawberry.input
class OrderFilter:
    customer_id: strawberry.ID | None = None
    statuses: list[OrderStatus] | None = None
    currency: str | None = None
    placed_after: datetime | None = None
    placed_before: datetime | None = None
