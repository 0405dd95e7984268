"""Event payloads of the core entities: the row as JSON (:func:`crm_graph.db.jsonable.row_json`,
whose ``id`` is also the event's entity ID), with its version and changed fields."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.db.jsonable import camel, global_id, plain, row_json
from crm_graph.db.models import Customer, Interaction, Order, OrderLine, Product
from crm_graph.events.outbox import emit

ENTITY_NAMES = {
    Customer: "Customer",
    Interaction: "Interaction",
    Order: "Order",
    Product: "Product",
}


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
    entity = row_json(row, name)
    payload: dict[str, Any] = {"entity": entity, **extra}
    if changed is not None:
        payload["changedFields"] = [camel(field) for field in changed]
    await emit(session, event_type, name, entity["id"], payload)  # the global ID made once


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
    return global_id("Product", product_id), plain(unit_price, currency)
