"""Products upserted in batches by SKU, validated as the single-row mutations validate them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.db.batch_writes import among
from crm_graph.db.models import Product, row_defaults, utcnow
from crm_graph.domain import products
from crm_graph.domain.batches import (
    INSERTED,
    UNCHANGED,
    UPDATED,
    BatchResult,
    Checked,
    Outcome,
    changed_event,
    chunks,
    created_event,
    emit_in_order,
    insert_new,
    rejected,
)
from crm_graph.domain.changes import apply_changes
from crm_graph.domain.errors import Collector
from crm_graph.domain.values import clean_text


def check_products(items: Sequence[dict[str, Any]]) -> Checked:
    checked = Checked.of(len(items))
    for index, item in enumerate(items):
        errors = Collector()
        sku = clean_text(item.get("sku"), errors, "input", "sku", max_length=64, required=True)
        if errors.errors:
            checked.outcomes[index] = rejected(errors.errors)
        else:
            checked.items.append((index, {**item, "sku": sku}))
    return checked


async def write_products(
    session: AsyncSession, checked: Checked, default_currency: str
) -> BatchResult:
    """The other fields are checked here: a price is rounded in the stored product's currency."""
    for run in chunks(checked.items, lambda item: item["sku"]):
        await _write_products(session, run, checked.outcomes, default_currency)
    return checked.result()


async def import_products(
    session: AsyncSession, items: Sequence[dict[str, Any]], default_currency: str
) -> BatchResult:
    """Upsert products by SKU; a new product without a currency gets ``default_currency``."""
    return await write_products(session, check_products(items), default_currency)


async def _write_products(
    session: AsyncSession,
    run: list[tuple[int, dict[str, Any]]],
    outcomes: list[Outcome | None],
    default_currency: str,
) -> None:
    now = utcnow()
    existing = {
        row.sku: row
        for row in await session.scalars(
            select(Product).where(among(session, Product.sku, [item["sku"] for _, item in run]))
        )
    }
    new: list[tuple[int, dict[str, Any]]] = []
    updated: list[tuple[int, Product, list[str]]] = []
    for index, item in run:
        errors = Collector()
        row = existing.get(item["sku"])
        if row is None:
            fields = products.new_product_fields(item, default_currency)
            values = products.validate_fields(fields, None, errors)
            if not errors.errors:
                new.append((index, {**row_defaults(Product, now), **values}))
        else:
            changes = products.validate_fields(item, row, errors)
            if not errors.errors:
                changed = apply_changes(row, changes, now)
                if changed:
                    updated.append((index, row, changed))
                outcomes[index] = Outcome(UPDATED if changed else UNCHANGED, row.id)
        if errors.errors:
            outcomes[index] = rejected(errors.errors)
    written = await insert_new(session, Product.__table__, [values for _, values in new])
    events = []
    for (index, _), row in zip(new, written, strict=True):
        outcomes[index] = Outcome(INSERTED, row["id"])
        events.append((index, created_event("product.created", Product.__table__, row)))
    await session.flush()
    events += [(i, changed_event("product.updated", row, fields)) for i, row, fields in updated]
    await emit_in_order(session, events)
