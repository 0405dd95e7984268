"""Event payloads of the core entities: the row as JSON, with its version and changed fields.

Keys are camelCased like the GraphQL API, and IDs (the row's own and its foreign keys) are the
same global IDs the API uses, so a receiver can look the entity up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel.numbers import get_currency_precision
from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, String, Table, TypeDecorator
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.db import jsonable
from crm_graph.db.jsonable import camel
from crm_graph.db.models import Customer, Interaction, Order, OrderLine, Product
from crm_graph.events.outbox import emit
from crm_graph.ids import to_global_id

ENTITY_NAMES = {
    Customer: "Customer",
    Interaction: "Interaction",
    Order: "Order",
    Product: "Product",
}
FOREIGN_KEYS = {"customer_id": "Customer", "order_id": "Order", "product_id": "Product"}


@lru_cache(maxsize=256)
def _minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-get_currency_precision(currency))


def plain(value: Any, currency: str | None = None) -> Any:
    """A JSON-ready value: money as a decimal string in the currency's minor unit (so it
    reads the same before and after a database round trip), times as ISO 8601."""
    if isinstance(value, Decimal) and currency is not None:
        value = value.quantize(_minor_unit(currency))
    return jsonable.plain(value)


def entity(row: Any, entity_name: str) -> dict[str, Any]:
    """Every column of ``row``; ``id`` and foreign keys as global IDs."""
    return entity_of(
        row.__table__, {c.key: getattr(row, c.key) for c in row.__table__.columns}, entity_name
    )


def entity_of(table: Table, values: Mapping[str, Any], entity_name: str) -> dict[str, Any]:
    """:func:`entity` of a row given as its column values (rows written in bulk)."""
    currency = values.get("currency")
    out: dict[str, Any] = {}
    time: Any = None  # a row's timestamps are often one value (created = updated)
    for key, name, kind in _layout(table):
        value = values[key]
        if kind is _AS_IS or value is None:
            pass
        elif kind is _TIME:
            if value is not time:
                time, text = value, plain(value)
            value = text
        elif kind is _ID:
            value = to_global_id(entity_name, value)
        elif kind is _PLAIN:
            value = plain(value, currency)
        else:
            value = _global_id(kind, value)
        out[name] = value
    return out


# How _layout says a column's value becomes JSON: the row's own global ID, as it is (text,
# numbers, JSON: what plain() leaves alone), plain() of a time or of anything else; otherwise
# the type a foreign key names.
_ID, _AS_IS, _TIME, _PLAIN = "id", "as is", "time", "plain"
_AS_IS_TYPES = (String, Integer, Boolean, JSON)


def _kind(column: Column[Any]) -> str:
    if column.key == "id":
        return _ID
    if column.key in FOREIGN_KEYS:
        return FOREIGN_KEYS[column.key]
    sql_type = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    if isinstance(sql_type, _AS_IS_TYPES):
        return _AS_IS
    return _TIME if isinstance(sql_type, DateTime) else _PLAIN


@lru_cache(maxsize=64)
def _layout(table: Table) -> tuple[tuple[str, str, str], ...]:
    """Per column: its key, its payload name and how its value is converted (once per table:
    bulk imports build thousands of payloads per batch)."""
    return tuple((c.key, camel(c.key), _kind(c)) for c in table.columns)


async def entity_event(
    session: AsyncSession,
    event_type: str,
    row: Any,
    changed: list[str] | None = None,
    **extra: Any,
) -> None:
    """Emit ``event_type`` about a core row, after its flush (so its id and version are final).

    ``changed`` (for updates) lists the changed column names; ``extra`` adds payload keys.
    """
    name = ENTITY_NAMES[row.__class__]
    payload: dict[str, Any] = {"entity": entity(row, name), **extra}
    if changed is not None:
        payload["changedFields"] = [camel(field) for field in changed]
    await emit(session, event_type, name, row.id, payload)


def order_lines(lines: list[OrderLine], currency: str) -> list[dict[str, Any]]:
    return line_payloads([(ln.product_id, ln.quantity, ln.unit_price) for ln in lines], currency)


def line_payloads(lines: Iterable[tuple[int, int, Decimal]], currency: str) -> list[dict[str, Any]]:
    """Order lines given as ``(product_id, quantity, unit_price)``."""
    payloads = []
    for product_id, quantity, unit_price in lines:
        product, price = _line_values(product_id, unit_price, currency)
        payloads.append({"productId": product, "quantity": quantity, "unitPrice": price})
    return payloads


@lru_cache(maxsize=1 << 14)
def _line_values(product_id: int, unit_price: Decimal, currency: str) -> tuple[str, str]:
    """A line's product ID and unit price as JSON: lines repeat a product at its price across
    a bulk import's thousands of orders."""
    return to_global_id("Product", product_id), plain(unit_price, currency)


@lru_cache(maxsize=1 << 16)
def _global_id(type_name: str, pk: int) -> str:
    """Global IDs of rows many others refer to (a bulk import's customers and products)."""
    return to_global_id(type_name, pk)
