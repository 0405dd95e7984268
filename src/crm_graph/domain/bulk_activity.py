"""Bulk imports of what customers do, orders and interactions, keyed by customer external id.

Orders are upserted by number (an order without one is numbered from a hash of its content,
so importing it again changes nothing); interactions have no key of their own, so one equal
in every field to an existing interaction of the same customer counts as unchanged.
Imported orders keep the status and total of the system they come from: history is recorded
as it was, not replayed through the status transitions.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.db.bulk import among, insert_rows
from crm_graph.db.models import Interaction, Order, OrderLine, Product, utcnow
from crm_graph.domain import interactions
from crm_graph.domain.bulk import (
    INSERTED,
    UNCHANGED,
    UPDATED,
    BatchResult,
    Checked,
    Outcome,
    chunks,
    create_referenced,
    find_customers,
    ids_by,
    rejected,
)
from crm_graph.domain.errors import Collector, FieldError
from crm_graph.domain.orders import MAX_LINES, MAX_QUANTITY, STATUSES, line_price
from crm_graph.domain.values import (
    clean_text,
    normalise_amount,
    normalise_currency,
    parse_datetime,
)

ORDER_HEADER = ("placed_at", "total", "currency", "status")
CUSTOMER_PATH = "customerExternalId"


def _customer_key(item: dict[str, Any], errors: Collector) -> str | None:
    return clean_text(
        item.get("customer_external_id"),
        errors,
        "input",
        "customerExternalId",
        max_length=200,
        required=True,
    )


# --- interactions ------------------------------------------------------------------------


def check_interactions(items: Sequence[dict[str, Any]]) -> Checked:
    checked = Checked.of(len(items))
    for index, item in enumerate(items):
        errors = Collector()
        key = _customer_key(item, errors)
        occurred_at = parse_datetime(item.get("occurred_at"), errors, "input", "occurredAt")
        values = interactions.validate_fields({**item, "occurred_at": occurred_at}, errors)
        if errors.errors:
            checked.outcomes[index] = rejected(errors.errors)
        else:
            checked.items.append((index, (key, values)))
    return checked


async def import_interactions(
    session: AsyncSession, items: Sequence[dict[str, Any]], create_customers: bool
) -> BatchResult:
    return await write_interactions(session, check_interactions(items), create_customers)


async def write_interactions(
    session: AsyncSession, checked: Checked, create_customers: bool
) -> BatchResult:
    """Add interactions; one already recorded with the same fields is left unchanged."""
    outcomes = checked.outcomes
    valid = [(index, key, values) for index, (key, values) in checked.items]
    refs = await find_customers(session, {key for _, key, _ in valid}, CUSTOMER_PATH)
    accepted = []
    for index, key, values in valid:
        error = refs.error(key, create_customers, CUSTOMER_PATH)
        if error is None:
            accepted.append((index, key, values))
        else:
            outcomes[index] = rejected([error])
    await create_referenced(session, refs, {key for _, key, _ in accepted})
    seen = await _existing_interactions(
        session, {refs.ids[key] for _, key, _ in accepted}, {v["occurred_at"] for *_, v in accepted}
    )
    new: list[tuple[int, dict[str, Any]]] = []
    now = utcnow()
    for index, key, values in accepted:
        row = {"customer_id": refs.ids[key], **values}
        identity = tuple(row[k] for k in sorted(row))
        if identity in seen:
            outcomes[index] = Outcome(UNCHANGED, seen[identity])
        else:
            seen[identity] = 0
            new.append((index, {**row, "created_at": now}))
    await insert_rows(session, Interaction.__table__, [row for _, row in new])
    for index, _row in new:
        outcomes[index] = Outcome(INSERTED)
    return checked.result(refs.created)


async def _existing_interactions(
    session: AsyncSession, customer_ids: set[int], times: set[Any]
) -> dict[tuple[Any, ...], int]:
    if not customer_ids:
        return {}
    columns = ("body", "channel", "customer_id", "direction", "occurred_at", "subject")
    rows = await session.execute(
        select(*(getattr(Interaction, c) for c in columns), Interaction.id).where(
            among(session, Interaction.customer_id, customer_ids),
            among(session, Interaction.occurred_at, times),
        )
    )
    return {tuple(row[:-1]): row[-1] for row in rows}


# --- orders ------------------------------------------------------------------------------


def _quantity(value: Any, errors: Collector, *path: str) -> int | None:
    text = "1" if value is None or value == "" else str(value).strip()
    if not text.isdigit() or not 0 < int(text) <= MAX_QUANTITY:
        errors.add(
            "INVALID_QUANTITY", f"quantity must be a whole number from 1 to {MAX_QUANTITY}", *path
        )
        return None
    return int(text)


def _order_values(item: dict[str, Any], default_currency: str, errors: Collector) -> dict[str, Any]:
    """The order's own fields and its lines (by SKU, priced once the products are known)."""
    code = normalise_currency(item.get("currency") or default_currency, errors, "input", "currency")
    total = item.get("total")
    if total is None or total == "":
        errors.add("REQUIRED", "must not be empty", "input", "total")
    else:
        total = normalise_amount(total, code, errors, "input", "total")
    status = str(item.get("status") or "pending").strip().lower()
    if status not in STATUSES:
        errors.add("INVALID_VALUE", f"status must be one of {STATUSES}", "input", "status")
    lines = item.get("lines") or []
    if len(lines) > MAX_LINES:
        errors.add("TOO_MANY", f"at most {MAX_LINES} lines", "input", "lines")
    parsed = []
    for index, line in enumerate(lines[:MAX_LINES]):
        path = ("input", "lines", str(index))
        sku = clean_text(line.get("sku"), errors, *path, "sku", max_length=64, required=True)
        quantity = _quantity(line.get("quantity"), errors, *path, "quantity")
        parsed.append((sku, quantity, line.get("unit_price")))
    values = {
        "customer_key": _customer_key(item, errors),
        "placed_at": parse_datetime(item.get("placed_at"), errors, "input", "placedAt"),
        "total": total,
        "currency": code,
        "status": status,
        "lines": parsed,
    }
    number = clean_text(item.get("number"), errors, "input", "number", max_length=64)
    values["number"] = number or _content_number(values)
    return values


def _content_number(values: dict[str, Any]) -> str:
    """A stable number for an order given without one: the same content, the same number."""
    text = repr(
        (
            values["customer_key"],
            values["placed_at"].isoformat() if values["placed_at"] else None,
            str(values["total"]),
            values["currency"],
            values["status"],
            [(sku, qty, str(price)) for sku, qty, price in values["lines"]],
        )
    )
    return "IMP-" + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16].upper()


def check_orders(items: Sequence[dict[str, Any]], default_currency: str) -> Checked:
    """Every order goes on with the problems found so far: the database checks (customers,
    SKUs) add theirs, so each order's problems are all reported at once."""
    checked = Checked.of(len(items))
    for index, item in enumerate(items):
        errors = Collector()
        checked.items.append((index, (_order_values(item, default_currency, errors), errors)))
    return checked


async def write_orders(
    session: AsyncSession, checked: Checked, create_customers: bool
) -> BatchResult:
    created = 0
    for run in chunks(checked.items, lambda pair: pair[0]["number"]):
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


async def _write_orders(
    session: AsyncSession,
    run: list[tuple[int, tuple[dict[str, Any], Collector]]],
    outcomes: list[Outcome | None],
    create_customers: bool,
) -> int:
    keys = {v["customer_key"] for _, (v, _) in run} - {None}
    refs = await find_customers(session, keys, CUSTOMER_PATH)
    skus = {sku for _, (v, _) in run for sku, _, _ in v["lines"]} - {None}
    found = await session.execute(
        select(Product.sku, Product.id, Product.price, Product.currency).where(
            among(session, Product.sku, skus)
        )
    )
    catalogue = {row.sku: row for row in found}
    accepted = []
    for index, (values, errors) in run:
        key = values["customer_key"]
        error = refs.error(key, create_customers, CUSTOMER_PATH) if key is not None else None
        if error is not None:
            errors.errors.append(error)
        lines = _priced_lines(values, catalogue, errors)
        if errors.errors:
            outcomes[index] = rejected(errors.errors)
        else:
            accepted.append((index, values, lines))
    await create_referenced(session, refs, {v["customer_key"] for _, v, _ in accepted})
    existing = {
        o.number: o
        for o in await session.scalars(
            select(Order).where(among(session, Order.number, [v["number"] for _, v, _ in accepted]))
        )
    }
    old_lines = await _lines_of(session, [o.id for o in existing.values()])
    now = utcnow()
    new: list[tuple[int, dict[str, Any], list[tuple[int, int, Decimal]]]] = []
    replace: dict[int, list[tuple[int, int, Decimal]]] = {}
    for index, values, lines in accepted:
        header = {k: values[k] for k in ORDER_HEADER}
        header["customer_id"] = refs.ids[values["customer_key"]]
        order = existing.get(values["number"])
        if order is None:
            row = {**header, "number": values["number"], "created_at": now, "updated_at": now}
            new.append((index, {**row, "version": 1}, lines))
            continue
        changed = [k for k, v in header.items() if getattr(order, k) != v]
        for key in changed:
            setattr(order, key, header[key])
        if sorted(old_lines[order.id]) != sorted(lines):
            replace[order.id] = lines
            changed.append("lines")
        if changed:
            order.updated_at = now
        outcomes[index] = Outcome(UPDATED if changed else UNCHANGED, order.id)
    await session.flush()
    if replace:
        await session.execute(
            delete(OrderLine).where(among(session, OrderLine.order_id, list(replace)))
        )
    await insert_rows(session, Order.__table__, [row for _, row, _ in new])
    numbers = [row["number"] for _, row, _ in new]
    ids = await ids_by(session, Order.number, numbers)
    for index, row, lines in new:
        outcomes[index] = Outcome(INSERTED, ids[row["number"]])
        replace[ids[row["number"]]] = lines
    await insert_rows(
        session,
        OrderLine.__table__,
        [
            {"order_id": order_id, "product_id": product, "quantity": qty, "unit_price": price}
            for order_id, lines in replace.items()
            for product, qty, price in lines
        ],
    )
    return refs.created


def _priced_lines(
    values: dict[str, Any], catalogue: dict[str, Any], errors: Collector
) -> list[tuple[int, int, Decimal]]:
    lines = []
    for index, (sku, quantity, unit_price) in enumerate(values["lines"]):
        path = ("lines", str(index))
        product = catalogue.get(sku)
        if sku is not None and product is None:
            errors.errors.append(
                FieldError("NOT_FOUND", f"no product with SKU {sku!r}", [*path, "sku"])
            )
        if product is None or values["currency"] is None:
            continue
        price = line_price(product, unit_price, values["currency"], errors, *path, "unitPrice")
        if price is not None and quantity is not None:
            lines.append((product.id, quantity, price))
    return lines


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
