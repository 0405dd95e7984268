"""Which domain functions import each kind of file: its steps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.domain import customer_imports, interaction_imports, order_imports, product_imports
from crm_graph.domain.batches import BatchResult, Checked
from crm_graph.io.rows import (
    CUSTOMERS,
    INTERACTIONS,
    PRODUCTS,
)
from crm_graph.settings import Settings

if TYPE_CHECKING:
    from crm_graph.io.importer import ImportOptions


@dataclass(frozen=True)
class Steps:
    """How one kind is imported: checks that need no database, then the batch's writes; and,
    if it can tell, whether a batch may be written while the one before it still is, and how
    to create ahead, committed on their own, the customers a batch would create (so that the
    next batch naming them need not wait for this one)."""

    check: Callable[[list[dict[str, Any]]], Checked]
    write: Callable[[AsyncSession, Checked], Awaitable[BatchResult]]
    independent: Callable[[AsyncSession, Checked, Checked], Awaitable[bool]] | None = None
    ahead: Callable[[AsyncSession, Checked], Awaitable[int]] | None = None


def steps_for(settings: Settings, options: ImportOptions) -> Steps:
    region, currency = settings.default_phone_region, settings.default_currency
    create = options.create_customers
    if options.kind == CUSTOMERS.name:
        return Steps(
            lambda items: customer_imports.check_customers(items, region),
            lambda session, checked: customer_imports.write_customers(session, checked, region),
        )
    if options.kind == PRODUCTS.name:
        return Steps(
            product_imports.check_products,
            lambda session, checked: product_imports.write_products(session, checked, currency),
        )
    if options.kind == INTERACTIONS.name:
        return Steps(
            interaction_imports.check_interactions,
            lambda session, checked: interaction_imports.write_interactions(
                session, checked, create
            ),
        )
    return Steps(
        lambda items: order_imports.check_orders(items, currency),
        lambda session, checked: order_imports.write_orders(session, checked, create),
        lambda session, earlier, later: order_imports.orders_independent(
            session, earlier, later, create
        ),
        lambda session, checked: order_imports.create_customers_ahead(session, checked, create),
    )
