"""Event payloads of the core entities: the row as JSON, with its version and changed fields.

Keys are camelCased like the GraphQL API, and IDs (the row's own and its foreign keys) are the
same global IDs the API uses, so a receiver can look the entity up.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from babel.numbers import get_currency_precision
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.db.models import Customer, Interaction, Order, OrderLine, Product
from crm_graph.events.outbox import emit
from crm_graph.schema.ids import to_global_id

ENTITY_NAMES = {
    Customer: "Customer",
    Interaction: "Interaction",
    Order: "Order",
    Product: "Product",
}
FOREIGN_KEYS = {"customer_id": "Customer", "order_id": "Order", "product_id": "Product"}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def plain(value: Any, currency: str | None = None) -> Any:
    """A JSON-ready value: money as a decimal string in the currency's minor unit (so it
    reads the same before and after a database round trip), times as ISO 8601."""
    if isinstance(value, Decimal):
        if currency is not None:
            value = value.quantize(Decimal(1).scaleb(-get_currency_precision(currency)))
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def entity(row: Any, entity_name: str) -> dict[str, Any]:
    """Every column of ``row``; ``id`` and foreign keys as global IDs."""
    out: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        if column.key == "id":
            value = to_global_id(entity_name, value)
        elif column.key in FOREIGN_KEYS and value is not None:
            value = to_global_id(FOREIGN_KEYS[column.key], value)
        out[camel(column.key)] = plain(value, getattr(row, "currency", None))
    return out


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
    return [
        {
            "productId": to_global_id("Product", line.product_id),
            "quantity": line.quantity,
            "unitPrice": plain(line.unit_price, currency),
        }
        for line in lines
    ]
