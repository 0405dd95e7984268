"""The product catalogue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.db.models import Product, utcnow
from crm_graph.domain.changes import apply_changes
from crm_graph.domain.customers import check_version
from crm_graph.domain.errors import Collector, fail
from crm_graph.domain.values import clean_text, normalise_amount, normalise_currency
from crm_graph.events.payloads import entity_event


def validate_fields(
    fields: dict[str, Any], current: Product | None, errors: Collector
) -> dict[str, Any]:
    """Normalise the product fields present in ``fields``; problems go to ``errors``."""
    out: dict[str, Any] = {}
    if "sku" in fields:
        out["sku"] = clean_text(fields["sku"], errors, "input", "sku", max_length=64, required=True)
    if "name" in fields:
        out["name"] = clean_text(
            fields["name"], errors, "input", "name", max_length=300, required=True
        )
    if "category" in fields:
        out["category"] = clean_text(
            fields["category"], errors, "input", "category", max_length=120
        )
    currency = current.currency if current else None
    if "currency" in fields:
        currency = out["currency"] = normalise_currency(
            fields["currency"], errors, "input", "currency"
        )
    if "price" in fields:
        out["price"] = normalise_amount(fields["price"], currency, errors, "input", "price")
    return out


def new_product_fields(fields: dict[str, Any], default_currency: str) -> dict[str, Any]:
    """The fields of a new product: SKU, name and price must be given (left out, they are
    reported missing), the currency defaults to ``default_currency``."""
    return {"sku": None, "name": None, "price": None, "currency": default_currency, **fields}


async def create_product(
    session: AsyncSession, fields: dict[str, Any], default_currency: str
) -> Product:
    errors = Collector()
    values = validate_fields(new_product_fields(fields, default_currency), None, errors)
    errors.check()
    if await session.scalar(select(Product.id).where(Product.sku == values["sku"])) is not None:
        raise fail("DUPLICATE", f"sku {values['sku']!r} is already used", "input", "sku")
    product = Product(**values)
    session.add(product)
    await session.flush()
    await entity_event(session, "product.created", product)
    return product


async def update_product(
    session: AsyncSession,
    product_id: int,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> tuple[Product, list[str]]:
    product = await session.get(Product, product_id)
    if product is None:
        raise fail("NOT_FOUND", "no such product", "input", "id")
    check_version(product, expected_version)
    errors = Collector()
    values = validate_fields(changes, product, errors)
    errors.check()
    if "sku" in values and values["sku"] != product.sku:
        taken = await session.scalar(select(Product.id).where(Product.sku == values["sku"]))
        if taken is not None:
            raise fail("DUPLICATE", f"sku {values['sku']!r} is already used", "input", "sku")
    changed = apply_changes(product, values, utcnow())
    if changed:
        await session.flush()
        await entity_event(session, "product.updated", product, changed)
    return product, changed
