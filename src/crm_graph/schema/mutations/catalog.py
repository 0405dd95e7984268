"""Product mutations."""

from __future__ import annotations

from decimal import Decimal

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crm_graph.auth.declare import requires
from crm_graph.db import models
from crm_graph.domain import products as domain
from crm_graph.schema.mutations.base import fields_of, perform
from crm_graph.schema.types.common import UserError, input_id
from crm_graph.schema.types.product import Product

FIELDS = ("sku", "name", "category", "price", "currency")


@strawberry.input
class CreateProductInput:
    sku: str
    name: str
    price: Decimal
    currency: str | None = strawberry.UNSET
    category: str | None = strawberry.UNSET


@strawberry.input
class UpdateProductInput:
    id: strawberry.ID
    expected_version: int | None = None
    sku: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    price: Decimal | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    category: str | None = strawberry.UNSET


@strawberry.type
class ProductPayload:
    product: Product | None
    errors: list[UserError]


@strawberry.type
class ProductMutations:
    @strawberry.mutation(metadata=requires("products:write"))
    async def create_product(self, info: Info, input: CreateProductInput) -> ProductPayload:
        fields = fields_of(input, FIELDS)
        if fields.get("currency") is None:
            fields.pop("currency", None)
        currency = info.context.app.settings.default_currency
        row, errors = await perform(info, lambda s: domain.create_product(s, fields, currency))
        return ProductPayload(product=row, errors=errors)

    @strawberry.mutation(metadata=requires("products:write"))
    async def update_product(self, info: Info, input: UpdateProductInput) -> ProductPayload:
        changes = fields_of(input, FIELDS)

        async def work(session: AsyncSession) -> models.Product:
            pk = input_id(input.id, "Product", "input", "id")
            row, _changed = await domain.update_product(
                session, pk, changes, input.expected_version
            )
            return row

        row, errors = await perform(info, work)
        return ProductPayload(product=row, errors=errors)
