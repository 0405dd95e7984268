"""Writing the demo rows: Core bulk inserts in one transaction, once per database."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_graph.db.engine import is_sqlite
from crm_graph.db.models import Customer, Interaction, Order, OrderLine, Product
from crm_graph.demo.generate import generate
from crm_graph.demo.rows import DemoData, Volumes, external_id

ORDERS_PER_CUSTOMER = 8
INTERACTIONS_PER_CUSTOMER = 10


async def _insert(
    connection: AsyncConnection, table: Table, rows: list[dict[str, Any]]
) -> list[int]:
    """Insert many rows (multi-row statements) and return their ids in the rows' order."""
    if not rows:
        return []
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list((await connection.execute(statement, rows)).scalars())


async def write(connection: AsyncConnection, data: DemoData) -> None:
    """Write ``data`` with bulk inserts on an open transaction."""
    customer_ids = await _insert(connection, Customer.__table__, data.customers)
    product_ids = await _insert(connection, Product.__table__, data.products)
    order_ids = await _insert(
        connection,
        Order.__table__,
        [{**columns, "customer_id": customer_ids[i]} for i, columns, _ in data.orders],
    )
    lines = [
        {
            "order_id": order_id,
            "product_id": product_ids[p],
            "quantity": quantity,
            "unit_price": price,
        }
        for order_id, (_, _, order_lines) in zip(order_ids, data.orders, strict=True)
        for p, quantity, price in order_lines
    ]
    if lines:
        await connection.execute(insert(OrderLine.__table__), lines)
    if data.interactions:
        await connection.execute(
            insert(Interaction.__table__),
            [{**columns, "customer_id": customer_ids[i]} for i, columns in data.interactions],
        )


async def seed_demo(
    engine: AsyncEngine,
    customers: int = 400,
    seed: int = 7,
    *,
    orders: int | None = None,
    interactions: int | None = None,
) -> str:
    """Seed demo data into a migrated database, once; returns a one-line summary.

    ``orders`` and ``interactions`` default to 8 and 10 per customer.
    """
    volumes = Volumes(
        customers,
        ORDERS_PER_CUSTOMER * customers if orders is None else orders,
        INTERACTIONS_PER_CUSTOMER * customers if interactions is None else interactions,
    )
    started = time.perf_counter()
    bind = (
        engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        if is_sqlite(str(engine.url))
        else engine
    )
    async with bind.begin() as connection:
        marker = external_id(0)
        present = await connection.scalar(select(Customer.id).where(Customer.external_id == marker))
        if present is not None:
            return f"demo data already present (customer {marker} exists); nothing written"
        data = generate(volumes, seed)
        await write(connection, data)
    return (
        f"seeded demo data (seed {seed}): {data.summary()} in {time.perf_counter() - started:.1f}s"
    )
