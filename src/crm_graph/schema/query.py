"""Core Query fields: Relay node lookups and the customer, order, interaction and product lists."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry
from sqlalchemy import Select
from strawberry.types import Info

from crm_graph.auth.declare import AUTHENTICATED, requires
from crm_graph.auth.guard import require
from crm_graph.auth.personal import PII_PERMISSION
from crm_graph.auth.principal import Principal
from crm_graph.db import models, queries
from crm_graph.domain.errors import Collector
from crm_graph.domain.merge import find_by_external_id
from crm_graph.domain.values import normalise_country, normalise_language, normalise_time_zone
from crm_graph.ids import GlobalIdError, from_global_id
from crm_graph.schema.plugin_fields import list_field
from crm_graph.schema.types.common import Connection, Node, id_arg, query_error
from crm_graph.schema.types.customer import Customer, CustomerFilter
from crm_graph.schema.types.enums import (
    CustomerOrderBy,
    InteractionOrderBy,
    OrderOrderBy,
    ProductOrderBy,
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


# The lists of Query: the statement each filter selects (declared with list_field, read by
# strawberry's resolver and by the compiled read path alike).


def customer_list(principal: Principal, filter: CustomerFilter | None) -> Select[Any]:
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
    return stmt


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


def order_list(_principal: Principal, filter: OrderFilter | None) -> Select[Any]:
    f = filter or OrderFilter()
    return queries.order_select(
        customer_id=_optional_id(f.customer_id, "Customer", "filter.customerId"),
        statuses=_enum_values(f.statuses),
        currency=f.currency,
        placed_after=f.placed_after,
        placed_before=f.placed_before,
    )


def interaction_list(_principal: Principal, filter: InteractionFilter | None) -> Select[Any]:
    f = filter or InteractionFilter()
    return queries.interaction_select(
        customer_id=_optional_id(f.customer_id, "Customer", "filter.customerId"),
        channels=_enum_values(f.channels),
        occurred_after=f.occurred_after,
        occurred_before=f.occurred_before,
    )


def product_list(_principal: Principal, filter: ProductFilter | None) -> Select[Any]:
    f = filter or ProductFilter()
    return queries.product_select(search=f.search, category=f.category)


async def _one_node(info: Info, id: strawberry.ID) -> Node | None:
    return await _node(info, id)


async def _many_nodes(info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
    if len(ids) > MAX_NODES:
        raise query_error("TOO_MANY", f"at most {MAX_NODES} ids", "ids")
    return list(await asyncio.gather(*(_node(info, i) for i in ids)))


async def _customer(
    info: Info, id: strawberry.ID | None = None, external_id: str | None = None
) -> Customer | None:
    if (id is None) == (external_id is None):
        raise query_error("INVALID_ARGUMENT", "give exactly one of id and externalId", "id")
    if id is not None:
        return await info.context.loaders.customer.load(id_arg(id, "Customer"))
    async with info.context.app.read() as session:
        return await find_by_external_id(session, external_id)


async def _order(info: Info, id: strawberry.ID) -> Order | None:
    return await info.context.loaders.order.load(id_arg(id, "Order"))


async def _product(
    info: Info, id: strawberry.ID | None = None, sku: str | None = None
) -> Product | None:
    if (id is None) == (sku is None):
        raise query_error("INVALID_ARGUMENT", "give exactly one of id and sku", "id")
    if id is not None:
        return await info.context.loaders.product.load(id_arg(id, "Product"))
    async with info.context.app.read() as session:
        return await queries.product_by_sku(session, sku)


# Fields declared as attributes (resolvers above, lists with list_field), in schema order.
@strawberry.type
class Query:
    node: Node | None = strawberry.field(
        resolver=_one_node,
        description="Any object by its global ID.",
        metadata=requires(AUTHENTICATED),
    )
    nodes: list[Node | None] = strawberry.field(
        resolver=_many_nodes,
        description=f"Objects by global IDs (at most {MAX_NODES}), in the same order.",
        metadata=requires(AUTHENTICATED),
    )
    customer: Customer | None = strawberry.field(
        resolver=_customer,
        description="One customer by global ID or by external id (deleted ones too; the external "
        "id of a customer merged into another finds the survivor).",
        metadata=requires("customers:read"),
    )
    customers: Connection[Customer] = list_field(
        models.Customer, customer_list, CustomerFilter, CustomerOrderBy, permission="customers:read"
    )
    order: Order | None = strawberry.field(resolver=_order, metadata=requires("orders:read"))
    orders: Connection[Order] = list_field(
        models.Order, order_list, OrderFilter, OrderOrderBy, permission="orders:read"
    )
    interactions: Connection[Interaction] = list_field(
        models.Interaction,
        interaction_list,
        InteractionFilter,
        InteractionOrderBy,
        permission="interactions:read",
    )
    product: Product | None = strawberry.field(
        resolver=_product,
        description="One product by global ID or by SKU.",
        metadata=requires("products:read"),
    )
    products: Connection[Product] = list_field(
        models.Product, product_list, ProductFilter, ProductOrderBy, permission="products:read"
    )
