"""The purchase history the models read, loaded once per training as numpy arrays.

Only what happened up to ``as_of`` is loaded, for live (not deleted) customers; orders that
were cancelled or refunded do not count, and orders in other currencies than the analytics
currency are left out (and counted) because amounts in different currencies cannot be added.
Times are UTC days since the Unix epoch (floats, computed by the database); ``day`` is their
integer part.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_analytics.definitions import NOT_COUNTED, SECONDS_PER_DAY, to_days
from crm_graph.plugin import (
    AppContext,
    CustomerRow,
    InteractionRow,
    OrderLineRow,
    OrderRow,
    ProductRow,
)

UNIX_EPOCH_JULIAN_DAY = 2440587.5
PART_ROWS = 100_000  # rows turned into numbers at a time


def from_days(days: float) -> datetime:
    return datetime.fromtimestamp(days * SECONDS_PER_DAY, tz=UTC)


@dataclass(frozen=True)
class Dataset:
    as_of: datetime
    currency: str
    order_customer: np.ndarray
    order_time: np.ndarray
    order_total: np.ndarray
    line_customer: np.ndarray
    line_time: np.ndarray
    line_product: np.ndarray
    product_id: np.ndarray
    product_name: list[str]
    product_category: list[str | None]
    touch_customer: np.ndarray
    touch_time: np.ndarray
    touch_inbound: np.ndarray
    other_currency_orders: int

    @property
    def now(self) -> float:
        return to_days(self.as_of)

    def until(self, cutoff: float) -> Dataset:
        """The same history cut at ``cutoff`` (days): what was known then."""
        orders, lines, touches = (
            self.order_time <= cutoff,
            self.line_time <= cutoff,
            self.touch_time <= cutoff,
        )
        return Dataset(
            as_of=from_days(cutoff),
            currency=self.currency,
            order_customer=self.order_customer[orders],
            order_time=self.order_time[orders],
            order_total=self.order_total[orders],
            line_customer=self.line_customer[lines],
            line_time=self.line_time[lines],
            line_product=self.line_product[lines],
            product_id=self.product_id,
            product_name=self.product_name,
            product_category=self.product_category,
            touch_customer=self.touch_customer[touches],
            touch_time=self.touch_time[touches],
            touch_inbound=self.touch_inbound[touches],
            other_currency_orders=self.other_currency_orders,
        )


def _days(column: Any, dialect: str) -> Any:
    """``column`` (a time) as UTC days since the Unix epoch, computed by the database: a
    float per row instead of a datetime parsed in Python (millions of order lines)."""
    if dialect == "sqlite":  # stored as UTC text; julianday() reads it
        return func.julianday(column) - UNIX_EPOCH_JULIAN_DAY
    return func.date_part("epoch", column) / SECONDS_PER_DAY  # double precision


async def _numbers(session: AsyncSession, statement: Any, width: int) -> np.ndarray:
    """The rows of ``statement`` (``width`` numbers each) as a float array of shape
    (rows, width), streamed in parts: never millions of row objects at once."""
    result = await session.stream(statement)
    parts = [
        np.fromiter(
            itertools.chain.from_iterable(rows), dtype=np.float64, count=len(rows) * width
        ).reshape(len(rows), width)
        async for rows in result.partitions(PART_ROWS)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, width))


async def load(app: AppContext, as_of: datetime, currency: str) -> Dataset:
    """Read orders, order lines, products and interactions known at ``as_of``."""
    live = CustomerRow.deleted_at.is_(None)
    counted = (OrderRow.status.not_in(NOT_COUNTED), OrderRow.placed_at <= as_of)
    async with app.read() as session:
        dialect = session.bind.dialect.name
        placed = _days(OrderRow.placed_at, dialect)
        orders = await _numbers(
            session,
            select(OrderRow.customer_id, placed, cast(OrderRow.total, Float))
            .join(CustomerRow, CustomerRow.id == OrderRow.customer_id)
            .where(live, *counted, OrderRow.currency == currency)
            .order_by(OrderRow.id),
            3,
        )
        other = await session.scalar(
            select(func.count())
            .select_from(OrderRow)
            .join(CustomerRow, CustomerRow.id == OrderRow.customer_id)
            .where(live, *counted, OrderRow.currency != currency)
        )
        lines = await _numbers(
            session,
            select(OrderRow.customer_id, placed, OrderLineRow.product_id)
            .join(OrderRow, OrderRow.id == OrderLineRow.order_id)
            .join(CustomerRow, CustomerRow.id == OrderRow.customer_id)
            .where(live, *counted, OrderRow.currency == currency)
            .order_by(OrderLineRow.id),
            3,
        )
        products = (
            await session.execute(
                select(ProductRow.id, ProductRow.name, ProductRow.category).order_by(ProductRow.id)
            )
        ).all()
        touches = await _numbers(
            session,
            select(
                InteractionRow.customer_id,
                _days(InteractionRow.occurred_at, dialect),
                case((InteractionRow.direction == "inbound", 1.0), else_=0.0),
            )
            .join(CustomerRow, CustomerRow.id == InteractionRow.customer_id)
            .where(live, InteractionRow.occurred_at <= as_of)
            .order_by(InteractionRow.id),
            3,
        )
    return Dataset(
        as_of=as_of,
        currency=currency,
        order_customer=orders[:, 0].astype(np.int64),
        order_time=orders[:, 1].copy(),
        order_total=orders[:, 2].copy(),
        line_customer=lines[:, 0].astype(np.int64),
        line_time=lines[:, 1].copy(),
        line_product=lines[:, 2].astype(np.int64),
        product_id=np.array([p[0] for p in products], dtype=np.int64),
        product_name=[p[1] for p in products],
        product_category=[p[2] for p in products],
        touch_customer=touches[:, 0].astype(np.int64),
        touch_time=touches[:, 1].copy(),
        touch_inbound=touches[:, 2] > 0.5,
        other_currency_orders=int(other or 0),
    )
