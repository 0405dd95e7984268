"""Core Query fields: Relay node lookups and the customer, order, interaction and product lists."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry
from sqlalchemy import Select
from strawberry.types import Info

from crm_graph.auth.declare import AUTHENTICATED, requires
from crm_graph.auth.guard import principal_of, require
from crm_graph.auth.personal import PII_PERMISSION
from crm_graph.auth.principal import Principal
from crm_graph.db import models, queries
from crm_graph.db.paging import Ordering
from crm_graph.domain.errors import Collector
from crm_graph.domain.merge import find_by_external_id
from crm_graph.domain.values import normalise_country, normalise_language, normalise_time_zone
from crm_graph.ids import GlobalIdError, from_global_id
from crm_graph.schema.lists import connection
from crm_graph.schema.types.common import Connection, Node, id_arg, page_args, query_error
from crm_graph.schema.types.customer import Customer, CustomerFilter
from crm_graph.schema.types.enums import (
    CustomerOrderBy,
    InteractionOrderBy,
    OrderOrderBy,
    ProductOrderBy,
    ordering,
)
from crm_graph.schema.types.interaction import Interaction, InteractionFilter
from crm_graph.schema.types.order import Order, OrderFilter
from crm_graph.schema.types.product import Product, ProductFilter

MAX_NODES = 100
# node(id:) is open to any caller; what it returns needs the permission of its type.
NODE_PERMISSIONS = {
    "Customer": "customers:read",
    "Order": "orders:read",
    "Interaction": "interactions:read",
    "Product": "products:read",
}


async def _node(info: Info, global_id: str) -> Any:
    try:
        type_name, pk = from_global_id(global_id)
    except GlobalIdError as exc:
        raise query_error(exc.code, str(exc), "id") from exc
    load = info.context.loaders.by_type(type_name)
    if load is not None:
        require(info, NODE_PERMISSIONS[type_name])
        return await load(pk)
    lookup = info.schema.node_lookups.get(type_name)  # a plugin's type
    if lookup is None:
        raise query_error("INVALID_ID", f"{global_id[:80]!r} is not a valid ID", "id")
    require(info, lookup.permission)
    return await info.context.loaders.plugin_node(type_name, lookup, info.context).load(pk)


def _enum_values(values: list[Any] | None) -> list[str] | None:
    return None if values is None else [v.value for v in values]


def _optional_id(value: str | None, expected: str, argument: str) -> int | None:
    return None if value is None else id_arg(value, expected, argument)


# The lists of Query: the filtered statement and the ordering, from the field's arguments (one
# place, read by the resolvers below and by the compiled read path).
ListStatement = tuple[Select[Any], Ordering]


def customer_list(
    principal: Principal, filter: CustomerFilter | None, order_by: CustomerOrderBy | None
) -> ListStatement:
    f = filter or CustomerFilter()
    clear = principal.has(PII_PERMISSION)
    for name, value in (("bornAfter", f.born_after), ("bornBefore", f.born_before)):
        if value is not None and not clear:
            raise query_error(
                "FORBIDDEN", "filtering by birth date needs pii:read", f"filter.{name}"
            )
    stmt = queries.customer_select(
        search=f.search,
        search_personal_data=clear,
        stages=_enum_values(f.lifecycle_stages),
        tags=f.tags,
        created_after=f.created_after,
        created_before=f.created_before,
        include_deleted=f.include_deleted,
        countries=_normalised(f.countries, normalise_country, "filter.countries"),
        languages=_normalised(
            f.preferred_languages, normalise_language, "filter.preferredLanguages"
        ),
        time_zones=_normalised(f.time_zones, normalise_time_zone, "filter.timeZones"),
        born_after=f.born_after,
        born_before=f.born_before,
    )
    return stmt, ordering(models.Customer, order_by or CustomerOrderBy())


def _normalised(values: list[str] | None, normalise: Any, argument: str) -> list[str] | None:
    """Filter values spelt as stored (``germany`` -> ``DE``); a value that names nothing is a
    coded error naming its argument, as the same value in a mutation would be."""
    if values is None:
        return None
    errors = Collector()
    found = [normalise(value, errors, argument) for value in values]
    if errors.errors:
        error = errors.errors[0]
        raise query_error(error.code, error.message, argument)
    return [value for value in found if value is not None]


def order_list(
    _principal: Principal, filter: OrderFilter | None, order_by: OrderOrderBy | None
) -> ListStatement:
    f = filter or OrderFilter()
    stmt = queries.order_select(
        customer_id=_optional_id(f.customer_id, "Customer", "filter.customerId"),
        statuses=_enum_values(f.statuses),
        currency=f.currency,
        placed_after=f.placed_after,
        placed_before=f.placed_before,
    )
    return stmt, ordering(models.Order, order_by or OrderOrderBy())


def interaction_list(
    _principal: Principal, filter: InteractionFilter | None, order_by: InteractionOrderBy | None
) -> ListStatement:
    f = filter or InteractionFilter()
    stmt = queries.interaction_select(
        customer_id=_optional_id(f.customer_id, "Customer", "filter.customerId"),
        channels=_enum_values(f.channels),
        occurred_after=f.occurred_after,
        occurred_before=f.occurred_before,
    )
    return stmt, ordering(models.Interaction, order_by or InteractionOrderBy())


def product_list(
    _principal: Principal, filter: ProductFilter | None, order_by: ProductOrderBy | None
) -> ListStatement:
    f = filter or ProductFilter()
    stmt = queries.product_select(search=f.search, category=f.category)
    return stmt, ordering(models.Product, order_by or ProductOrderBy())


# Query list field -> (row model, statement builder), for the compiled read path.
LISTS: dict[str, tuple[type, Any]] = {
    "customers": (models.Customer, customer_list),
    "orders": (models.Order, order_list),
    "interactions": (models.Interaction, interaction_list),
    "products": (models.Product, product_list),
}


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its global ID.", metadata=requires(AUTHENTICATED))
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await _node(info, id)

    @strawberry.field(
        description=f"Objects by global IDs (at most {MAX_NODES}), in the same order.",
        metadata=requires(AUTHENTICATED),
    )
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise query_error("TOO_MANY", f"at most {MAX_NODES} ids", "ids")
        return list(await asyncio.gather(*(_node(info, i) for i in ids)))

    @strawberry.field(
        description="One customer by global ID or by external id (deleted ones too; the external "
        "id of a customer merged into another finds the survivor).",
        metadata=requires("customers:read"),
    )
    async def customer(
        self, info: Info, id: strawberry.ID | None = None, external_id: str | None = None
    ) -> Customer | None:
        if (id is None) == (external_id is None):
            raise query_error("INVALID_ARGUMENT", "give exactly one of id and externalId", "id")
        if id is not None:
            return await info.context.loaders.customer.load(id_arg(id, "Customer"))
        async with info.context.app.read() as session:
            return await find_by_external_id(session, external_id)

    @strawberry.field(metadata=requires("customers:read"))
    async def customers(
        self,
        info: Info,
        filter: CustomerFilter | None = None,
        order_by: CustomerOrderBy | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Customer]:
        stmt, sort = customer_list(principal_of(info), filter, order_by)
        return await connection(
            info, stmt, models.Customer, sort, page_args(first, after, last, before)
        )

    @strawberry.field(metadata=requires("orders:read"))
    async def order(self, info: Info, id: strawberry.ID) -> Order | None:
        return await info.context.loaders.order.load(id_arg(id, "Order"))

    @strawberry.field(metadata=requires("orders:read"))
    async def orders(
        self,
        info: Info,
        filter: OrderFilter | None = None,
        order_by: OrderOrderBy | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Order]:
        stmt, sort = order_list(principal_of(info), filter, order_by)
        return await connection(
            info, stmt, models.Order, sort, page_args(first, after, last, before)
        )

    @strawberry.field(metadata=requires("interactions:read"))
    async def interactions(
        self,
        info: Info,
        filter: InteractionFilter | None = None,
        order_by: InteractionOrderBy | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Interaction]:
        stmt, sort = interaction_list(principal_of(info), filter, order_by)
        return await connection(
            info, stmt, models.Interaction, sort, page_args(first, after, last, before)
        )

    @strawberry.field(
        description="One product by global ID or by SKU.", metadata=requires("products:read")
    )
    async def product(
        self, info: Info, id: strawberry.ID | None = None, sku: str | None = None
    ) -> Product | None:
        if (id is None) == (sku is None):
            raise query_error("INVALID_ARGUMENT", "give exactly one of id and sku", "id")
        if id is not None:
            return await info.context.loaders.product.load(id_arg(id, "Product"))
        async with info.context.app.read() as session:
            return await queries.product_by_sku(session, sku)

    @strawberry.field(metadata=requires("products:read"))
    async def products(
        self,
        info: Info,
        filter: ProductFilter | None = None,
        order_by: ProductOrderBy | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Product]:
        stmt, sort = product_list(principal_of(info), filter, order_by)
        return await connection(
            info, stmt, models.Product, sort, page_args(first, after, last, before)
        )
