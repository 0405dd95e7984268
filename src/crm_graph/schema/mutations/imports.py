"""Bulk imports for integrators: ``importCustomers`` and ``importOrders`` (up to 1,000 items).

The same domain functions as ``crm-graph import``: each item is upserted by its key or
rejected with its own errors (paths start with ``input, <index>``) while the others are
written. With ``strict: true`` any rejected item rolls the whole request back, and the
problems come back as the payload's ``errors``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from crm_graph.auth.declare import requires
from crm_graph.domain.batches import MAX_ITEMS, REJECTED, BatchResult, Outcome
from crm_graph.domain.customer_imports import import_customers
from crm_graph.domain.errors import FieldError, ValidationFailed
from crm_graph.domain.order_imports import import_orders
from crm_graph.schema.mutations.base import perform
from crm_graph.schema.mutations.customers import CustomerFieldsInput, customer_fields
from crm_graph.schema.types.common import UserError
from crm_graph.schema.types.customer import Customer
from crm_graph.schema.types.enums import OrderStatus
from crm_graph.schema.types.order import Order


@strawberry.enum(description="What an import did with one item.")
class ImportStatus(Enum):
    INSERTED = "inserted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@strawberry.input(description="A customer, created or updated by its external id.")
class ImportCustomerInput(CustomerFieldsInput):
    external_id: str
    name: str | None = strawberry.field(
        default=strawberry.UNSET, description="Required for a new customer."
    )
    attributes: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="A patch of custom attributes: given keys are set, null removes a key.",
    )


@strawberry.input
class ImportOrderLineInput:
    sku: str
    quantity: int = 1
    unit_price: Decimal | None = strawberry.field(
        default=None, description="Defaults to the product's price (same currency only)."
    )


@strawberry.input(description="An order, created or replaced by its number, with its lines.")
class ImportOrderInput:
    customer_external_id: str
    placed_at: datetime
    total: Decimal
    number: str | None = strawberry.field(
        default=None,
        description="Without one the order is numbered from its content, so a retry is a no-op.",
    )
    currency: str | None = strawberry.field(
        default=None, description="Defaults to CRM_DEFAULT_CURRENCY."
    )
    status: OrderStatus | None = None
    lines: list[ImportOrderLineInput] = strawberry.field(default_factory=list)


@strawberry.type
class ImportCustomerResult:
    index: int
    status: ImportStatus
    errors: list[UserError]
    row_id: strawberry.Private[int | None]

    @strawberry.field
    async def customer(self, info: Info) -> Customer | None:
        return await info.context.loaders.customer.load(self.row_id) if self.row_id else None


@strawberry.type
class ImportOrderResult:
    index: int
    status: ImportStatus
    errors: list[UserError]
    row_id: strawberry.Private[int | None]

    @strawberry.field
    async def order(self, info: Info) -> Order | None:
        return await info.context.loaders.order.load(self.row_id) if self.row_id else None


@strawberry.interface
class ImportPayload:
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    errors: list[UserError] = strawberry.field(
        description="Problems with the request as a whole; when any, nothing was written."
    )


@strawberry.type
class ImportCustomersPayload(ImportPayload):
    results: list[ImportCustomerResult]


@strawberry.type
class ImportOrdersPayload(ImportPayload):
    results: list[ImportOrderResult]
    created_customers: int = strawberry.field(
        default=0, description="Customers created because orders referred to them."
    )


def _item_errors(index: int, outcome: Outcome) -> list[FieldError]:
    return [FieldError(e.code, e.message, ["input", str(index), *e.field]) for e in outcome.errors]


async def _run(
    info: Info,
    count: int,
    strict: bool,
    work: Callable[[AsyncSession], Awaitable[BatchResult]],
) -> tuple[BatchResult | None, list[UserError]]:
    """One transaction for the request; with ``strict`` a rejected item rolls it back."""
    if count > MAX_ITEMS:
        return None, [
            UserError(code="TOO_MANY", message=f"at most {MAX_ITEMS} items", field=["input"])
        ]

    async def unit(session: AsyncSession) -> BatchResult:
        result = await work(session)
        problems = [
            e for i, outcome in enumerate(result.outcomes) for e in _item_errors(i, outcome)
        ]
        if strict and problems:
            raise ValidationFailed(problems)
        return result

    return await perform(info, unit)


def _counts(result: BatchResult | None) -> dict[str, int]:
    statuses = [o.status for o in result.outcomes] if result else []
    return {s.value: statuses.count(s.value) for s in ImportStatus}


def _results(result: BatchResult | None, make: Callable[..., Any]) -> list[Any]:
    if result is None:
        return []
    return [
        make(
            index=index,
            status=ImportStatus(outcome.status),
            errors=[UserError.from_domain(e) for e in _item_errors(index, outcome)],
            row_id=None if outcome.status == REJECTED else outcome.id,
        )
        for index, outcome in enumerate(result.outcomes)
    ]


@strawberry.type
class BulkMutations:
    @strawberry.mutation(
        description=f"Create or update up to {MAX_ITEMS} customers by external id, each on its own.",
        metadata=requires("customers:write"),
    )
    async def import_customers(
        self, info: Info, input: list[ImportCustomerInput], strict: bool = False
    ) -> ImportCustomersPayload:
        region = info.context.app.settings.default_phone_region
        items = [{**customer_fields(item), "external_id": item.external_id} for item in input]
        result, errors = await _run(
            info, len(items), strict, lambda s: import_customers(s, items, region)
        )
        return ImportCustomersPayload(
            **_counts(result),
            errors=errors,
            results=_results(result, ImportCustomerResult),
        )

    @strawberry.mutation(
        description=f"Create or update up to {MAX_ITEMS} orders by number, each on its own.",
        metadata=requires("orders:write"),
    )
    async def import_orders(
        self,
        info: Info,
        input: list[ImportOrderInput],
        strict: bool = False,
        create_missing_customers: bool = True,
    ) -> ImportOrdersPayload:
        currency = info.context.app.settings.default_currency
        items = [
            {
                "number": item.number,
                "customer_external_id": item.customer_external_id,
                "placed_at": item.placed_at,
                "total": item.total,
                "currency": item.currency,
                "status": item.status.value if item.status else None,
                "lines": [
                    {"sku": ln.sku, "quantity": ln.quantity, "unit_price": ln.unit_price}
                    for ln in item.lines
                ],
            }
            for item in input
        ]
        result, errors = await _run(
            info,
            len(items),
            strict,
            lambda s: import_orders(s, items, currency, create_missing_customers),
        )
        return ImportOrdersPayload(
            **_counts(result),
            errors=errors,
            results=_results(result, ImportOrderResult),
            created_customers=result.created_customers if result else 0,
        )
