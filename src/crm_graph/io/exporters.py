"""Exporting customers, products, orders and interactions as CSV or JSON Lines, streamed.

The files use the import's columns, so an export imports back to the same data. A customer
without an external id is written with its global ID in its place (orders and interactions
refer to it the same way). CSV holds custom attributes as text, one column each; JSON Lines
keeps their JSON types. Deleted customers are left out.
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy import Select, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_graph.db.engine import read_session
from crm_graph.db.jsonable import global_id, plain
from crm_graph.db.models import Customer, Interaction, Order, OrderLine, Product
from crm_graph.db.types import UTCDateTime
from crm_graph.io import formulas
from crm_graph.io.rows import CUSTOMERS, INTERACTIONS, ORDERS, PRODUCTS, TAG_SEPARATOR

if TYPE_CHECKING:
    from crm_graph.io.kinds import DataKind

STREAM_CHUNK = 1000


def _customer_ref(external_id: str | None, customer_id: int) -> str:
    return external_id or global_id("Customer", customer_id)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


async def _stream(session: AsyncSession, stmt: Select[Any]) -> AsyncIterator[Any]:
    result = await session.stream(stmt.execution_options(yield_per=STREAM_CHUNK))
    async for row in result:
        yield row


# Whether the CSV writers of the running export escape formulas: an option of the whole run,
# so every kind's writer (a plugin's too) follows it without taking and passing a flag.
_escape_formulas: ContextVar[bool] = ContextVar("crm_escape_formulas", default=True)


async def export(
    engine: AsyncEngine,
    kind: DataKind,
    out: TextIO,
    fmt: str,
    since: datetime | None = None,
    escape_formulas: bool = True,
) -> int:
    """Write every ``kind`` record (changed since ``since``) to ``out``; returns how many.
    CSV cells a spreadsheet would run as formulas are escaped (:mod:`crm_graph.io.formulas`)
    unless ``escape_formulas`` is off."""
    token = _escape_formulas.set(escape_formulas)
    try:
        async with read_session(engine) as session:
            return await kind.export(session, out, fmt, since)
    finally:
        _escape_formulas.reset(token)


async def write_records(
    out: TextIO, fmt: str, columns: Sequence[str], records: AsyncIterable[dict[str, Any]]
) -> int:
    """Write ``records`` (values by column) as CSV with a header row, or as JSON Lines; returns
    how many. A kind whose record is one row of its file exports with this."""
    writer = _Writer(out, fmt, list(columns))
    async for record in records:
        writer.row(record)
        writer.count += 1
    return writer.count


class _Writer:
    """One record per CSV row or JSON line, with the CSV header written first."""

    def __init__(self, out: TextIO, fmt: str, columns: list[str]) -> None:
        self.fmt, self.columns, self.count = fmt, columns, 0
        self.out = out
        self.csv = csv.writer(out) if fmt == "csv" else None
        self.escape = formulas.escape if _escape_formulas.get() else str
        if self.csv is not None:
            self.csv.writerow(map(self.escape, columns))

    def row(self, values: dict[str, Any]) -> None:
        if self.csv is not None:
            self.csv.writerow([self.escape(_cell(values.get(c))) for c in self.columns])
        else:
            self.out.write(json.dumps(values, ensure_ascii=False, default=_cell) + "\n")


async def _attribute_keys(session: AsyncSession, since: datetime | None) -> list[str]:
    """The custom attribute names in use: the CSV's extra columns."""
    if session.bind.dialect.name == "postgresql":
        sql = "SELECT DISTINCT jsonb_object_keys(attributes) FROM customer WHERE deleted_at IS NULL"
    else:
        sql = (
            "SELECT DISTINCT j.key FROM customer, json_each(customer.attributes) AS j "
            "WHERE customer.deleted_at IS NULL"
        )
    stmt = text(sql)
    if since is not None:
        stmt = text(sql + " AND updated_at >= :since").bindparams(
            bindparam("since", since, type_=UTCDateTime())
        )
    keys = (await session.scalars(stmt)).all()
    return sorted(k for k in keys if k not in CUSTOMERS.columns)


async def export_customers(
    session: AsyncSession, out: TextIO, fmt: str, since: datetime | None
) -> int:
    stmt = select(Customer).where(Customer.deleted_at.is_(None)).order_by(Customer.id)
    if since is not None:
        stmt = stmt.where(Customer.updated_at >= since)
    keys = await _attribute_keys(session, since) if fmt == "csv" else []
    writer = _Writer(out, fmt, [*CUSTOMERS.columns, *keys])
    async for (customer,) in _stream(session, stmt):
        values: dict[str, Any] = {
            "external_id": _customer_ref(customer.external_id, customer.id),
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "company": customer.company,
            "lifecycle_stage": customer.lifecycle_stage,
            "birth_date": plain(customer.birth_date),
            "preferred_language": customer.preferred_language,
            "time_zone": customer.time_zone,
        }
        if fmt == "csv":
            values["tags"] = TAG_SEPARATOR.join(customer.tags)
            values["addresses"] = (
                json.dumps(customer.addresses, ensure_ascii=False) if customer.addresses else None
            )
            values.update({k: v for k, v in customer.attributes.items() if k in keys})
        else:
            values["tags"] = customer.tags
            values["addresses"] = customer.addresses
            values["attributes"] = customer.attributes
        writer.row(values)
        writer.count += 1
    return writer.count


async def export_products(
    session: AsyncSession, out: TextIO, fmt: str, since: datetime | None
) -> int:
    return await write_records(out, fmt, PRODUCTS.columns, _products(session, since))


async def _products(session: AsyncSession, since: datetime | None) -> AsyncIterator[dict[str, Any]]:
    stmt = select(Product).order_by(Product.id)
    if since is not None:
        stmt = stmt.where(Product.updated_at >= since)
    async for (product,) in _stream(session, stmt):
        yield {
            "sku": product.sku,
            "name": product.name,
            "category": product.category,
            "price": plain(product.price, product.currency),
            "currency": product.currency,
        }


async def export_interactions(
    session: AsyncSession, out: TextIO, fmt: str, since: datetime | None
) -> int:
    return await write_records(out, fmt, INTERACTIONS.columns, _interactions(session, since))


async def _interactions(
    session: AsyncSession, since: datetime | None
) -> AsyncIterator[dict[str, Any]]:
    stmt = (
        select(Interaction, Customer.external_id)
        .join(Customer, Customer.id == Interaction.customer_id)
        .order_by(Interaction.id)
    )
    if since is not None:
        stmt = stmt.where(Interaction.created_at >= since)
    async for interaction, external_id in _stream(session, stmt):
        yield {
            "customer_external_id": _customer_ref(external_id, interaction.customer_id),
            "channel": interaction.channel,
            "occurred_at": interaction.occurred_at,
            "direction": interaction.direction,
            "subject": interaction.subject,
            "body": interaction.body,
        }


async def export_orders(
    session: AsyncSession, out: TextIO, fmt: str, since: datetime | None
) -> int:
    """CSV: one row per line (an order without lines has one row); JSON Lines: one per order."""
    stmt = (
        select(Order, Customer.external_id, Product.sku, OrderLine.quantity, OrderLine.unit_price)
        .join(Customer, Customer.id == Order.customer_id)
        .outerjoin(OrderLine, OrderLine.order_id == Order.id)
        .outerjoin(Product, Product.id == OrderLine.product_id)
        .order_by(Order.id, OrderLine.id)
    )
    if since is not None:
        stmt = stmt.where(Order.updated_at >= since)
    writer = _Writer(out, fmt, list(ORDERS.columns))
    current: dict[str, Any] | None = None
    current_id = None
    async for order, external_id, sku, quantity, unit_price in _stream(session, stmt):
        if order.id != current_id:
            if current is not None and fmt == "jsonl":
                writer.row(current)
            current_id, writer.count = order.id, writer.count + 1
            current = {
                "order_number": order.number,
                "customer_external_id": _customer_ref(external_id, order.customer_id),
                "placed_at": order.placed_at,
                "total": plain(order.total, order.currency),
                "currency": order.currency,
                "status": order.status,
                "lines": [],
            }
        line = None
        if sku is not None:
            line = {
                "sku": sku,
                "quantity": quantity,
                "unit_price": plain(unit_price, order.currency),
            }
        if fmt == "csv":
            writer.row({**current, **(line or {})})  # type: ignore[dict-item]
        elif line is not None:
            current["lines"].append(line)  # type: ignore[index]
    if current is not None and fmt == "jsonl":
        writer.row(current)
    return writer.count
