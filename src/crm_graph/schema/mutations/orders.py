"""Placing orders and moving them through their status lifecycle."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crm_graph.auth.declare import requires
from crm_graph.db import models
from crm_graph.domain import orders as domain
from crm_graph.domain.errors import Collector
from crm_graph.ids import GlobalIdError, pk_of
from crm_graph.schema.mutations.base import perform
from crm_graph.schema.types.common import UserError, input_id
from crm_graph.schema.types.enums import OrderStatus
from crm_graph.schema.types.order import Order


@strawberry.input
class OrderLineInput:
    product_id: strawberry.ID
    quantity: int
    unit_price: Decimal | None = strawberry.field(
        default=None, description="Defaults to the product's price (same currency only)."
    )


@strawberry.input
class PlaceOrderInput:
    customer_id: strawberry.ID
    lines: list[OrderLineInput]
    currency: str | None = strawberry.field(
        default=None, description="Defaults to CRM_DEFAULT_CURRENCY."
    )
    number: str | None = strawberry.field(default=None, description="Generated when left out.")
    placed_at: datetime | None = None


@strawberry.input
class ChangeOrderStatusInput:
    id: strawberry.ID
    status: OrderStatus
    expected_version: int | None = None


@strawberry.type
class OrderPayload:
    order: Order | None
    errors: list[UserError]


def _lines(lines: list[OrderLineInput], errors: Collector) -> list[domain.NewOrderLine]:
    """Decode every line's product ID; bad ones go to ``errors`` and the line stays in place,
    so the domain still checks its other fields and reports everything at once."""
    decoded = []
    for index, line in enumerate(lines):
        try:
            pk: int | None = pk_of(line.product_id, "Product")
        except GlobalIdError as exc:
            errors.add(exc.code, str(exc), "input", "lines", index, "productId")
            pk = None
        decoded.append(
            domain.NewOrderLine(product_id=pk, quantity=line.quantity, unit_price=line.unit_price)
        )
    return decoded


@strawberry.type
class OrderMutations:
    @strawberry.mutation(
        description="Place an order; its total is computed from the lines.",
        metadata=requires("orders:write"),
    )
    async def place_order(self, info: Info, input: PlaceOrderInput) -> OrderPayload:
        currency = input.currency or info.context.app.settings.default_currency

        async def work(session: AsyncSession) -> models.Order:
            customer = input_id(input.customer_id, "Customer", "input", "customerId")
            errors = Collector()
            lines = _lines(input.lines, errors)
            order, _lines_written = await domain.place_order(
                session, customer, lines, currency, input.number, input.placed_at, errors
            )
            return order

        row, errors = await perform(info, work)
        return OrderPayload(order=row, errors=errors)

    @strawberry.mutation(
        description="Move an order along an allowed status transition.",
        metadata=requires("orders:write"),
    )
    async def change_order_status(self, info: Info, input: ChangeOrderStatusInput) -> OrderPayload:
        async def work(session: AsyncSession) -> models.Order:
            pk = input_id(input.id, "Order", "input", "id")
            order, _previous = await domain.change_status(
                session, pk, input.status.value, input.expected_version
            )
            return order

        row, errors = await perform(info, work)
        return OrderPayload(order=row, errors=errors)
