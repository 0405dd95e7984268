"""The purchase history the models read, loaded once per training as numpy arrays.

Only what happened up to ``as_of`` is loaded, for live (not deleted) customers; orders that
were cancelled or refunded do not count, and orders in other currencies than the analytics
currency are left out (and counted) because amounts in different currencies cannot be added.
Times are UTC days since the Unix epoch (floats); ``day`` is their integer part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import func, select

from crm_analytics.definitions import NOT_COUNTED
from crm_graph.plugin import (
    AppContext,
    CustomerRow,
    InteractionRow,
    OrderLineRow,
    OrderRow,
    ProductRow,
)

SECONDS_PER_DAY = 86400.0


def to_days(moment: datetime) -> float:
    return moment.timestamp() / SECONDS_PER_DAY


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


def _days(values: list[datetime]) -> np.ndarray:
    return np.fromiter((v.timestamp() for v in values), dtype=float, count=len(values)) / (
        SECONDS_PER_DAY
    )


async def load(app: AppContext, as_of: datetime, currency: str) -> Dataset:
    """Read orders, order lines, products and interactions known at ``as_of``."""
    live = CustomerRow.deleted_at.is_(None)
    counted = (OrderRow.status.not_in(NOT_COUNTED), OrderRow.placed_at <= as_of)
    async with app.read() as session:
        orders = (
            await session.execute(
                select(OrderRow.customer_id, OrderRow.placed_at, OrderRow.total)
                .join(CustomerRow, CustomerRow.id == OrderRow.customer_id)
                .where(live, *counted, OrderRow.currency == currency)
                .order_by(OrderRow.id)
            )
        ).all()
        other = await session.scalar(
            select(func.count())
            .select_from(OrderRow)
            .join(CustomerRow, CustomerRow.id == OrderRow.customer_id)
            .where(live, *counted, OrderRow.currency != currency)
        )
        lines = (
            await session.execute(
                select(OrderRow.customer_id, OrderRow.placed_at, OrderLineRow.product_id)
                .join(OrderRow, OrderRow.id == OrderLineRow.order_id)
                .join(CustomerRow, CustomerRow.id == OrderRow.customer_id)
                .where(live, *counted, OrderRow.currency == currency)
                .order_by(OrderLineRow.id)
            )
        ).all()
        products = (
            await session.execute(
                select(ProductRow.id, ProductRow.name, ProductRow.category).order_by(ProductRow.id)
            )
        ).all()
        touches = (
            await session.execute(
                select(
                    InteractionRow.customer_id, InteractionRow.occurred_at, InteractionRow.direction
                )
                .join(CustomerRow, CustomerRow.id == InteractionRow.customer_id)
                .where(live, InteractionRow.occurred_at <= as_of)
                .order_by(InteractionRow.id)
            )
        ).all()
    return Dataset(
        as_of=as_of,
        currency=currency,
        order_customer=np.array([o[0] for o in orders], dtype=np.int64),
        order_time=_days([o[1] for o in orders]),
        order_total=np.array([float(o[2]) for o in orders], dtype=float),
        line_customer=np.array([ln[0] for ln in lines], dtype=np.int64),
        line_time=_days([ln[1] for ln in lines]),
        line_product=np.array([ln[2] for ln in lines], dtype=np.int64),
        product_id=np.array([p[0] for p in products], dtype=np.int64),
        product_name=[p[1] for p in products],
        product_category=[p[2] for p in products],
        touch_customer=np.array([t[0] for t in touches], dtype=np.int64),
        touch_time=_days([t[1] for t in touches]),
        touch_inbound=np.array([t[2] == "inbound" for t in touches], dtype=bool),
        other_currency_orders=int(other or 0),
    )
