"""Orders: placing them (total computed from the lines) and their status lifecycle."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from babel.numbers import get_currency_precision
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.scope import held_out_of_sight
from crm_graph.db.models import Order, OrderLine, Product, utcnow
from crm_graph.domain.customers import check_version, get_live
from crm_graph.domain.errors import Collector, fail
from crm_graph.domain.values import clean_text, normalise_amount, normalise_currency
from crm_graph.events.payloads import entity_event, order_lines

STATUSES = ("pending", "paid", "fulfilled", "cancelled", "refunded")
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"paid", "cancelled"}),
    "paid": frozenset({"fulfilled", "cancelled", "refunded"}),
    "fulfilled": frozenset({"refunded"}),
    "cancelled": frozenset(),
    "refunded": frozenset(),
}
MAX_LINES, MAX_QUANTITY = 1000, 1_000_000


@dataclass(frozen=True)
class NewOrderLine:
    """A line of an order to place: a product's primary key, how many, and the unit price
    (the product's own when left out). ``product_id`` is None when the caller could not decode
    it and already reported why."""

    product_id: int | None
    quantity: int
    unit_price: Decimal | None = None


ORDER_NUMBER_UNAVAILABLE = "ORDER_NUMBER_UNAVAILABLE"


def number_unavailable(number: str) -> str:
    """The message for an order number an order out of the caller's sight holds (see
    :func:`crm_graph.auth.scope.held_out_of_sight`): retrying will not help."""
    return f"order number {number!r} cannot be used; choose another"


def check_quantity(quantity: int | None, errors: Collector, *path: str) -> int | None:
    """A line's quantity, a whole number from 1 to :data:`MAX_QUANTITY`, or None (reported)."""
    if quantity is None or not 0 < quantity <= MAX_QUANTITY:
        errors.add(
            "INVALID_QUANTITY", f"quantity must be a whole number from 1 to {MAX_QUANTITY}", *path
        )
        return None
    return quantity


def line_price(
    product: Product | None,
    unit_price: Decimal | str | None,
    currency: str,
    errors: Collector,
    *path: str,
) -> Decimal | None:
    """The line's unit price: as given, else the product's own price when currencies agree."""
    if unit_price is not None:
        return normalise_amount(unit_price, currency, errors, *path)
    if product is not None and product.currency != currency:
        errors.add(
            "CURRENCY_MISMATCH",
            f"the product is priced in {product.currency}, the order is in {currency}; give unitPrice",
            *path,
        )
        return None
    return product.price if product else None


async def place_order(
    session: AsyncSession,
    customer_id: int,
    lines: list[NewOrderLine],
    currency: str,
    number: str | None = None,
    placed_at: datetime | None = None,
    errors: Collector | None = None,
    at: tuple[str, ...] = ("input",),
) -> tuple[Order, list[OrderLine]]:
    """Validate every line, then write the order and its lines (emitting ``order.placed``);
    the total is their sum.

    ``errors`` may hold problems the caller found while decoding the input (bad product IDs),
    so that they are reported together with every other bad line. Error paths start with
    ``at``, where the caller's input holds the order (``customerId``, ``lines.N.productId``...).
    """
    await get_live(session, customer_id, *at, "customerId")
    errors = errors if errors is not None else Collector()
    code = normalise_currency(currency, errors, *at, "currency")
    number = clean_text(number, errors, *at, "number", max_length=64)
    if placed_at is not None and placed_at.tzinfo is None:
        errors.add("INVALID_VALUE", "placedAt needs a time zone", *at, "placedAt")
    if not lines:
        errors.add("REQUIRED", "an order needs at least one line", *at, "lines")
    if len(lines) > MAX_LINES:
        errors.add("TOO_MANY", f"at most {MAX_LINES} lines", *at, "lines")
    if code is None or not lines or len(lines) > MAX_LINES:
        errors.check()  # the lines cannot be checked without a currency or within limits

    products = {
        p.id: p
        for p in await session.scalars(
            select(Product).where(Product.id.in_({ln.product_id for ln in lines} - {None}))
        )
    }
    rows: list[OrderLine] = []
    for index, line in enumerate(lines):
        path = (*at, "lines", str(index))
        product = products.get(line.product_id) if line.product_id is not None else None
        if product is None and line.product_id is not None:
            errors.add("NOT_FOUND", "no such product", *path, "productId")
        check_quantity(line.quantity, errors, *path, "quantity")
        price = line_price(product, line.unit_price, code, errors, *path, "unitPrice")
        if price is not None and product is not None:
            rows.append(OrderLine(product_id=product.id, quantity=line.quantity, unit_price=price))
    errors.check()

    if number is None:
        number = f"ORD-{secrets.token_hex(5).upper()}"
    elif await session.scalar(select(Order.id).where(Order.number == number)) is not None:
        raise fail("DUPLICATE", f"order number {number!r} is already used", *at, "number")
    elif await held_out_of_sight(session, Order.number, [number]):
        raise fail(ORDER_NUMBER_UNAVAILABLE, number_unavailable(number), *at, "number")
    total = sum((r.unit_price * r.quantity for r in rows), Decimal(0))
    order = Order(
        customer_id=customer_id,
        number=number,
        currency=code,
        placed_at=(placed_at or utcnow()).astimezone(UTC),
        total=total.quantize(Decimal(1).scaleb(-get_currency_precision(code))),
    )
    session.add(order)
    await session.flush()
    for row in rows:
        row.order_id = order.id
    session.add_all(rows)
    await session.flush()
    await entity_event(session, "order.placed", order, lines=order_lines(rows, order.currency))
    return order, rows


async def change_status(
    session: AsyncSession, order_id: int, status: str, expected_version: int | None = None
) -> tuple[Order, str]:
    """Move an order along an allowed transition; returns the row and its previous status."""
    order = await session.get(Order, order_id)
    if order is None:
        raise fail("NOT_FOUND", "no such order", "input", "id")
    check_version(order, expected_version)
    if status not in TRANSITIONS.get(order.status, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(order.status, ()))) or "none"
        raise fail(
            "INVALID_TRANSITION",
            f"an order cannot go from {order.status} to {status} (allowed: {allowed})",
            "input",
            "status",
        )
    previous = order.status
    order.status = status
    order.updated_at = utcnow()
    await session.flush()
    await entity_event(session, "order.status_changed", order, ["status"], previousStatus=previous)
    return order, previous
