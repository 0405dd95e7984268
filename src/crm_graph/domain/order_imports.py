"""Orders imported in batches, upserted by number, keyed by customer external id.

An order without a number is numbered from a hash of its content, so importing it again
changes nothing. Imported orders keep the status and total of the system they come from: history is recorded
as it was, not replayed through the status transitions. A new order emits ``order.placed``;
an imported change emits ``order.status_changed`` when the status moved, ``order.updated``
otherwise; ``changedFields`` says every field that changed.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.scope import held_out_of_sight
from crm_graph.db.batch_writes import among, insert_records
from crm_graph.db.models import Order, OrderLine, Product, row_defaults, utcnow
from crm_graph.domain.batches import (
    INSERTED,
    UNCHANGED,
    UPDATED,
    BatchResult,
    Checked,
    Event,
    Outcome,
    changed_event,
    chunks,
    created_event,
    emit_in_order,
    insert_new,
    reject,
    rejected,
)
from crm_graph.domain.customer_refs import (
    CUSTOMER_PATH,
    CustomerRefs,
    clean_customer_key,
    create_referenced,
    find_customers,
)
from crm_graph.domain.errors import Collector, FieldError, not_one_of
from crm_graph.domain.orders import (
    MAX_LINES,
    ORDER_NUMBER_UNAVAILABLE,
    STATUSES,
    check_quantity,
    line_price,
    number_unavailable,
)
from crm_graph.domain.values import clean_text, normalise_amount, normalise_currency, parse_datetime
from crm_graph.events.payloads import line_payloads

ORDER_HEADER = ("placed_at", "total", "currency", "status")
_KEYS = (str, int, type(None))  # quantities remembered by value (not bool: True == 1)
_PRICES = (str, type(None))  # unit prices remembered by value (file cells)


def _quantity(value: Any, errors: Collector, *path: str) -> int | None:
    """A cell's quantity (an empty one is 1), by the rule of every order line."""
    text = "1" if value is None or value == "" else str(value).strip()
    return check_quantity(int(text) if text.isdigit() else None, errors, *path)


class CheckedOrder(NamedTuple):
    """An order after the checks that need no database, with the problems found so far (the
    database checks add theirs). Lines are (SKU, quantity, unit price as given), priced once
    the products are known."""

    number: str
    customer_key: str | None
    placed_at: datetime | None
    total: Decimal | None
    currency: str | None
    status: str
    lines: list[tuple[Any, Any, Any]]
    errors: list[FieldError]

    def __reduce__(self) -> tuple[Any, ...]:
        # A file import hands thousands over to another process per batch: as a plain tuple
        # this pickles in half the time of a named tuple's default.
        return (tuple.__new__, (CheckedOrder, tuple(self)))


def _checked_order(
    item: dict[str, Any],
    default_currency: str,
    valid_lines: dict[tuple[Any, Any], tuple[str, int]],
) -> CheckedOrder:
    """The order's own fields and its lines (by SKU, priced once the products are known).

    ``valid_lines`` remembers the (SKU, quantity) pairs found valid in this batch: orders
    repeat them, and each is checked once.
    """
    errors = Collector()
    code = normalise_currency(item.get("currency") or default_currency, errors, "input", "currency")
    total = item.get("total")
    if total is None or total == "":
        errors.add("REQUIRED", "must not be empty", "input", "total")
    else:
        total = normalise_amount(total, code, errors, "input", "total")
    status = str(item.get("status") or "pending").strip().lower()
    if status not in STATUSES:
        errors.add("INVALID_VALUE", not_one_of("status", STATUSES), "input", "status")
    lines = item.get("lines") or []
    if len(lines) > MAX_LINES:
        errors.add("TOO_MANY", f"at most {MAX_LINES} lines", "input", "lines")
    parsed = []
    for index, line in enumerate(lines[:MAX_LINES]):
        sku, quantity = line.get("sku"), line.get("quantity")
        key = (sku, quantity) if type(sku) is str and type(quantity) in _KEYS else None
        valid = valid_lines.get(key) if key is not None else None
        if valid is None:
            path = ("input", "lines", str(index))
            found = len(errors.errors)
            valid = (
                clean_text(sku, errors, *path, "sku", max_length=64, required=True),
                _quantity(quantity, errors, *path, "quantity"),
            )
            if key is not None and len(errors.errors) == found:
                valid_lines[key] = valid
        parsed.append((*valid, line.get("unit_price")))
    customer_key = clean_customer_key(item, errors)
    placed_at = parse_datetime(item.get("placed_at"), errors, "input", "placedAt")
    number = clean_text(item.get("number"), errors, "input", "number", max_length=64)
    if not number:
        number = _content_number(customer_key, placed_at, total, code, status, parsed)
    return CheckedOrder(number, customer_key, placed_at, total, code, status, parsed, errors.errors)


def _content_number(
    customer_key: str | None,
    placed_at: datetime | None,
    total: Any,
    currency: str | None,
    status: str,
    lines: list[tuple[Any, Any, Any]],
) -> str:
    """A stable number for an order given without one: the same content, the same number."""
    text = repr(
        (
            customer_key,
            placed_at.isoformat() if placed_at else None,
            str(total),
            currency,
            status,
            [(sku, qty, str(price)) for sku, qty, price in lines],
        )
    )
    return "IMP-" + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16].upper()


def check_orders(items: Sequence[dict[str, Any]], default_currency: str) -> Checked:
    """Every order goes on with the problems found so far: the database checks (customers,
    SKUs) add theirs, so each order's problems are all reported at once."""
    checked = Checked.of(len(items))
    valid_lines: dict[tuple[Any, Any], tuple[str, int]] = {}
    for index, item in enumerate(items):
        checked.items.append((index, _checked_order(item, default_currency, valid_lines)))
    return checked


async def write_orders(
    session: AsyncSession, checked: Checked, create_customers: bool
) -> BatchResult:
    created = 0
    for run in chunks(checked.items, lambda order: order.number):
        created += await _write_orders(session, run, checked.outcomes, create_customers)
    return checked.result(created)


async def import_orders(
    session: AsyncSession,
    items: Sequence[dict[str, Any]],
    default_currency: str,
    create_customers: bool,
) -> BatchResult:
    """Upsert orders by number with their lines (``sku``, ``quantity``, ``unit_price``)."""
    return await write_orders(session, check_orders(items, default_currency), create_customers)


async def create_customers_ahead(
    session: AsyncSession, checked: Checked, create_customers: bool
) -> int:
    """Create the absent customers that writing these orders would create, and no others (an
    order the database checks reject creates none), so that they can be committed on their
    own, before the orders: a later batch naming them then need not wait for this batch's
    orders to commit. Writing the orders checks everything again. How many were created."""
    if not create_customers:
        return 0
    run = [(index, order) for index, order in checked.items if not order.errors]
    keys = _customer_keys(run)
    refs = await find_customers(session, keys, CUSTOMER_PATH)
    if keys <= refs.ids.keys() | refs.refused.keys():
        return 0
    accepted, _ = await _database_checks(session, run, refs, create_customers)
    await create_referenced(session, refs, {order.customer_key for _, order, _ in accepted})
    return refs.created


def _customer_keys(run: list[tuple[int, CheckedOrder]]) -> set[str]:
    return {order.customer_key for _, order in run if order.customer_key is not None}


async def _database_checks(
    session: AsyncSession,
    run: list[tuple[int, CheckedOrder]],
    refs: CustomerRefs,
    create_customers: bool,
) -> tuple[list[tuple[int, CheckedOrder, list[Line]]], list[tuple[int, list[FieldError]]]]:
    """The orders that pass the checks needing the database (customers, SKUs, prices), with
    their lines priced; and the others, with all their problems."""
    skus = {sku for _, order in run for sku, _, _ in order.lines} - {None}
    found = await session.execute(
        select(Product.sku, Product.id, Product.price, Product.currency).where(
            among(session, Product.sku, skus)
        )
    )
    catalogue = {row.sku: row for row in found}
    priced: dict[tuple[Any, ...], tuple[int, Decimal]] = {}
    accepted, refused = [], []
    for index, order in run:
        key, errors = order.customer_key, Collector(list(order.errors))
        error = refs.error(key, create_customers, CUSTOMER_PATH) if key is not None else None
        if error is not None:
            errors.errors.append(error)
        lines = _priced_lines(order, catalogue, errors, priced)
        if errors.errors:
            refused.append((index, errors.errors))
        else:
            accepted.append((index, order, lines))
    return accepted, refused


async def _write_orders(
    session: AsyncSession,
    run: list[tuple[int, CheckedOrder]],
    outcomes: list[Outcome | None],
    create_customers: bool,
) -> int:
    refs = await find_customers(session, _customer_keys(run), CUSTOMER_PATH)
    accepted, refused = await _database_checks(session, run, refs, create_customers)
    for index, errors in refused:
        outcomes[index] = rejected(errors)
    await create_referenced(session, refs, {order.customer_key for _, order, _ in accepted})
    numbers = [order.number for _, order, _ in accepted]
    existing = await _existing_orders(session, numbers)
    hidden = await held_out_of_sight(
        session, Order.number, [n for n in numbers if n not in existing]
    )
    old_lines = await _lines_of(session, [o.id for o in existing.values()])
    now = utcnow()
    defaults = row_defaults(Order, now)
    new: list[tuple[int, dict[str, Any], list[Line]]] = []
    changes: dict[int, tuple[int, dict[str, Any], list[str], list[Line]]] = {}
    for index, checked, lines in accepted:
        header = {
            "placed_at": checked.placed_at,
            "total": checked.total,
            "currency": checked.currency,
            "status": checked.status,
            "customer_id": refs.ids[checked.customer_key],
        }
        order = existing.get(checked.number)
        if checked.number in hidden:
            outcomes[index] = reject(
                ORDER_NUMBER_UNAVAILABLE, number_unavailable(checked.number), "number"
            )
            continue
        if order is None:
            new.append((index, {**defaults, **header, "number": checked.number}, lines))
            continue
        changed = [k for k, v in header.items() if getattr(order, k) != v]
        if sorted(old_lines[order.id]) != sorted(lines):
            changed.append("lines")
        if changed:
            changes[order.id] = (index, header, changed, lines)
        else:
            outcomes[index] = Outcome(UNCHANGED, order.id)
    events = await _update_orders(session, changes, outcomes, now)
    written = await insert_new(session, Order.__table__, [row for _, row, _ in new])
    replace = {  # lines are rewritten only where they changed
        order_id: lines
        for order_id, (_, _, changed, lines) in changes.items()
        if "lines" in changed
    }
    for (index, _, lines), row in zip(new, written, strict=True):
        outcomes[index] = Outcome(INSERTED, row["id"])
        replace[row["id"]] = lines
        payload_lines = line_payloads(lines, row["currency"])
        events.append(
            (index, created_event("order.placed", Order.__table__, row, lines=payload_lines))
        )
    await insert_records(
        session,
        OrderLine.__table__,
        ("order_id", "product_id", "quantity", "unit_price"),
        [(order_id, *line) for order_id, lines in replace.items() for line in lines],
    )
    await emit_in_order(session, events)
    return refs.created


Line = tuple[int, int, Decimal]  # product id, quantity, unit price


async def _existing_orders(session: AsyncSession, numbers: list[str]) -> dict[str, Any]:
    """The orders with these numbers (the caller may see), as their compared columns."""
    columns = (
        Order.id,
        Order.number,
        Order.customer_id,
        *(getattr(Order, k) for k in ORDER_HEADER),
    )
    found = await session.execute(select(*columns).where(among(session, Order.number, numbers)))
    return {row.number: row for row in found}


async def _update_orders(
    session: AsyncSession,
    changes: dict[int, tuple[int, dict[str, Any], list[str], list[Line]]],
    outcomes: list[Outcome | None],
    now: Any,
) -> list[tuple[int, Event]]:
    """Apply changed headers through the ORM (which bumps and checks ``version``) and drop the
    lines being replaced; the events of the changed orders."""
    if not changes:
        return []
    orders = list(
        await session.scalars(select(Order).where(among(session, Order.id, list(changes))))
    )
    previous = {order.id: order.status for order in orders}
    for order in orders:
        index, header, changed, _ = changes[order.id]
        for key in changed:
            if key != "lines":
                setattr(order, key, header[key])
        order.updated_at = now
        outcomes[index] = Outcome(UPDATED, order.id)
    await session.flush()
    relined = [order_id for order_id, (_, _, changed, _) in changes.items() if "lines" in changed]
    if relined:
        await session.execute(delete(OrderLine).where(among(session, OrderLine.order_id, relined)))
    return [
        (
            changes[order.id][0],
            changed_event(
                "order.status_changed",
                order,
                changes[order.id][2],
                previousStatus=previous[order.id],
            )
            if "status" in changes[order.id][2]
            else changed_event("order.updated", order, changes[order.id][2]),
        )
        for order in orders
    ]


async def orders_independent(
    session: AsyncSession, earlier: Checked, later: Checked, create_customers: bool
) -> bool:
    """Whether the orders ``later`` may be written while ``earlier`` still are, each in its own
    transaction: no order number in both, and no customer both refer to that ``earlier`` may be
    creating (one the database does not have yet)."""
    numbers, customers = _keys(earlier)
    later_numbers, later_customers = _keys(later)
    if numbers & later_numbers:
        return False
    shared = customers & later_customers
    if not (shared and create_customers):
        return True
    refs = await find_customers(session, shared, CUSTOMER_PATH)
    return shared <= refs.ids.keys() | refs.refused.keys()


def _keys(checked: Checked) -> tuple[set[str], set[str]]:
    """The order numbers and the customers (external ids) of a batch."""
    return {order.number for _, order in checked.items}, _customer_keys(checked.items)


def _priced_lines(
    order: CheckedOrder,
    catalogue: dict[str, Any],
    errors: Collector,
    priced: dict[tuple[Any, ...], tuple[int, Decimal]],
) -> list[Line]:
    """The order's lines priced; ``priced`` remembers the (product, price) of the lines found
    valid in this batch, which repeat the same products and prices."""
    lines = []
    currency = order.currency
    for index, (sku, quantity, unit_price) in enumerate(order.lines):
        key = (sku, unit_price, currency) if type(unit_price) in _PRICES else None
        found = priced.get(key) if key is not None else None
        if found is None:
            found = _price(catalogue.get(sku), sku, unit_price, currency, errors, str(index))
            if found is not None and key is not None:
                priced[key] = found
        if found is not None and quantity is not None:
            lines.append((found[0], quantity, found[1]))
    return lines


def _price(
    product: Any,
    sku: str | None,
    unit_price: Any,
    currency: str | None,
    errors: Collector,
    index: str,
) -> tuple[int, Decimal] | None:
    """A line's product and unit price, or None (with its errors, if any)."""
    if product is None:
        if sku is not None:
            path = ["lines", index, "sku"]
            errors.errors.append(FieldError("NOT_FOUND", f"no product with SKU {sku!r}", path))
        return None
    if currency is None:
        return None
    price = line_price(product, unit_price, currency, errors, "lines", index, "unitPrice")
    return None if price is None else (product.id, price)


async def _lines_of(
    session: AsyncSession, order_ids: list[int]
) -> dict[int, list[tuple[int, int, Decimal]]]:
    grouped: dict[int, list[tuple[int, int, Decimal]]] = defaultdict(list)
    if order_ids:
        rows = await session.execute(
            select(
                OrderLine.order_id, OrderLine.product_id, OrderLine.quantity, OrderLine.unit_price
            ).where(among(session, OrderLine.order_id, order_ids))
        )
        for order_id, product_id, quantity, price in rows:
            grouped[order_id].append((product_id, quantity, price))
    return grouped
