"""What the core's resolver-backed fields read, as data the planner compiles.

Fields without a resolver read the column of their name; plugin fields declare themselves
(the field contract). These are the core's other fields: the resolvers next to them in
``schema/types`` answer the same from rows when strawberry serves a request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, or_, select

from crm_graph.auth.models import CustomerConsent, User
from crm_graph.db import models
from crm_graph.schema.events import event_cursor, event_payload
from crm_graph.schema.types.enums import InteractionOrderBy, OrderOrderBy

MODELS: dict[str, type] = {
    "Customer": models.Customer,
    "Order": models.Order,
    "OrderLine": models.OrderLine,
    "Interaction": models.Interaction,
    "Product": models.Product,
    "Consent": CustomerConsent,
    "User": User,
}

# Columns a level may select that belong to another table (joined by the level's statement).
ORDER_CURRENCY = "order_currency"
EXTRAS = {models.OrderLine: {ORDER_CURRENCY: models.Order.currency}}


@dataclass(frozen=True)
class GlobalId:
    """The row's ``id`` as a global ID of ``type_name`` (by default the object type's)."""

    type_name: str | None = None


@dataclass(frozen=True)
class Column:
    name: str


@dataclass(frozen=True)
class Money:
    """``Money`` of the product of ``amount`` columns, rounded to ``currency``'s minor unit."""

    amount: tuple[str, ...]
    currency: str


@dataclass(frozen=True)
class Pages:
    """A connection of ``model`` rows whose ``key`` column is the parent's id."""

    model: type
    key: str
    order_by: type


@dataclass(frozen=True)
class Reference:
    """The ``model`` row whose id is the parent's ``key`` column."""

    model: type
    key: str


@dataclass(frozen=True)
class Children:
    """Every ``model`` row whose ``key`` column is the parent's id, in ``order_by`` (column
    names; a leading ``-`` sorts descending)."""

    model: type
    key: str
    order_by: tuple[str, ...] = ("id",)


@dataclass(frozen=True)
class Objects:
    """A JSON column holding a list of objects (a customer's addresses), each written as the
    field's object type, whose fields read the keys of their Python names."""

    column: str


@dataclass(frozen=True)
class Contextual:
    """``function(obj, context)``: a value of the object and the request context (the
    resolver calls the same function)."""

    function: Callable[[Any, Any], Any]


Binding = GlobalId | Column | Money | Pages | Reference | Children | Objects | Contextual

FIELDS: dict[tuple[str, str], Binding] = {
    **{(name, "id"): GlobalId() for name in ("Customer", "Order", "Interaction", "Product")},
    ("Customer", "ownerId"): Column("owner_id"),
    ("Customer", "erasedAt"): Column("erased_at"),
    ("Customer", "addresses"): Objects("addresses"),
    ("Customer", "consents"): Children(CustomerConsent, "customer_id", ("-recorded_at", "-id")),
    ("Consent", "id"): GlobalId("CustomerConsent"),
    ("User", "id"): GlobalId(),
    ("Team", "id"): GlobalId(),
    ("Consent", "channel"): Column("channel"),
    ("Customer", "orders"): Pages(models.Order, "customer_id", OrderOrderBy),
    ("Customer", "interactions"): Pages(models.Interaction, "customer_id", InteractionOrderBy),
    ("Order", "total"): Money(("total",), "currency"),
    ("Order", "customer"): Reference(models.Customer, "customer_id"),
    ("Order", "lines"): Children(models.OrderLine, "order_id"),
    ("OrderLine", "product"): Reference(models.Product, "product_id"),
    ("OrderLine", "unitPrice"): Money(("unit_price",), ORDER_CURRENCY),
    ("OrderLine", "lineTotal"): Money(("unit_price", "quantity"), ORDER_CURRENCY),
    ("Interaction", "customer"): Reference(models.Customer, "customer_id"),
    ("Product", "price"): Money(("price",), "currency"),
    ("Event", "cursor"): Contextual(event_cursor),
    ("Event", "payload"): Contextual(event_payload),
}

# Query fields reading one row by global ID, or by another unique key (below).
LOOKUPS: dict[str, str] = {"customer": "Customer", "order": "Order", "product": "Product"}


def _by_external_id(value: str) -> tuple[Any, Any]:
    """``customer(externalId:)`` as ``find_by_external_id`` reads it: the customer holding the
    external id, else the survivor a merged customer's external id now stands for."""
    merged = select(models.CustomerMerge.survivor_id).where(
        models.CustomerMerge.external_id == value
    )
    holder = models.Customer.external_id == value
    return or_(holder, models.Customer.id.in_(merged)), case((holder, 0), else_=1)


# (Query field, argument) -> the condition on its rows and which matching row comes first.
KEYS: dict[tuple[str, str], Callable[[Any], tuple[Any, Any]]] = {
    ("customer", "external_id"): _by_external_id,
    ("product", "sku"): lambda value: (models.Product.sku == value, models.Product.id),
}
