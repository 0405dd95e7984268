"""Filtered SELECTs for the core lists; resolvers pass plain values, never SQL."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Select, String, false, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from crm_graph.db.models import Customer, Interaction, Order, Product


class json_array_contains(FunctionElement[bool]):
    """``value`` is an element of the JSON array ``column`` (tags), on SQLite and PostgreSQL."""

    type = Boolean()
    inherit_cache = True
    name = "json_array_contains"


@compiles(json_array_contains, "sqlite")
def _contains_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    column, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = {value})"


@compiles(json_array_contains, "postgresql")
def _contains_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    column, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"({column} @> jsonb_build_array(CAST({value} AS TEXT)))"


class json_array_has_object(FunctionElement[bool]):
    """Some object of the JSON array ``column`` has ``key`` equal to ``value`` (an address in a
    country), on SQLite and PostgreSQL; ``key`` is a literal string of this code's own."""

    type = Boolean()
    inherit_cache = True
    name = "json_array_has_object"


@compiles(json_array_has_object, "sqlite")
def _has_object_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    column, key, value = (compiler.process(c, **kw) for c in element.clauses)
    return (
        f"EXISTS (SELECT 1 FROM json_each({column}) "
        f"WHERE json_extract(json_each.value, '$.' || {key}) = {value})"
    )


@compiles(json_array_has_object, "postgresql")
def _has_object_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    column, key, value = (compiler.process(c, **kw) for c in element.clauses)
    return (
        f"({column} @> jsonb_build_array(jsonb_build_object(CAST({key} AS TEXT), "
        f"CAST({value} AS TEXT))))"
    )


def _like(column: Any, text: str) -> Any:
    return func.lower(column).contains(text.lower(), autoescape=True)


def customer_select(
    *,
    search: str | None = None,
    stages: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    include_deleted: bool = False,
    search_personal_data: bool = True,
    countries: Sequence[str] | None = None,
    languages: Sequence[str] | None = None,
    time_zones: Sequence[str] | None = None,
    born_after: date | None = None,
    born_before: date | None = None,
) -> Select[Any]:
    """``search_personal_data=False`` searches names only: a caller who sees e-mails and
    phones masked must not be able to probe them through the search either. ``countries``:
    an address in one of them; ``languages``: the tag or a more specific one (``de`` finds
    ``de-AT``); birth dates from ``born_after`` (inclusive) to ``born_before`` (exclusive)."""
    stmt = select(Customer)
    if not include_deleted:
        stmt = stmt.where(Customer.deleted_at.is_(None))
    if search and search.strip():
        text = search.strip()
        matches = [_like(Customer.name, text)]
        if search_personal_data:
            matches.append(_like(Customer.email, text))
        digits = re.sub(r"\D", "", text)
        if digits and search_personal_data:
            matches.append(Customer.phone.contains(digits, autoescape=True))
        stmt = stmt.where(or_(*matches))
    if stages is not None:
        stmt = stmt.where(Customer.lifecycle_stage.in_(list(stages)) if stages else false())
    for tag in tags or ():
        stmt = stmt.where(json_array_contains(Customer.__table__.c.tags, literal(tag, String)))
    if created_after is not None:
        stmt = stmt.where(Customer.created_at >= created_after)
    if created_before is not None:
        stmt = stmt.where(Customer.created_at < created_before)
    if countries is not None:
        column = Customer.__table__.c.addresses
        stmt = stmt.where(
            or_(
                false(),
                *(
                    json_array_has_object(column, literal("country"), literal(c, String))
                    for c in countries
                ),
            )
        )
    if languages is not None:
        language = Customer.preferred_language
        stmt = stmt.where(
            or_(
                false(),
                *(
                    or_(language == tag, language.startswith(f"{tag}-", autoescape=True))
                    for tag in languages
                ),
            )
        )
    if time_zones is not None:
        stmt = stmt.where(Customer.time_zone.in_(list(time_zones)) if time_zones else false())
    if born_after is not None:
        stmt = stmt.where(Customer.birth_date >= born_after)
    if born_before is not None:
        stmt = stmt.where(Customer.birth_date < born_before)
    return stmt


def order_select(
    *,
    customer_id: int | None = None,
    statuses: Sequence[str] | None = None,
    currency: str | None = None,
    placed_after: datetime | None = None,
    placed_before: datetime | None = None,
) -> Select[Any]:
    stmt = select(Order)
    if customer_id is not None:
        stmt = stmt.where(Order.customer_id == customer_id)
    if statuses is not None:
        stmt = stmt.where(Order.status.in_(list(statuses)) if statuses else false())
    if currency:
        stmt = stmt.where(Order.currency == currency.upper())
    if placed_after is not None:
        stmt = stmt.where(Order.placed_at >= placed_after)
    if placed_before is not None:
        stmt = stmt.where(Order.placed_at < placed_before)
    return stmt


def interaction_select(
    *,
    customer_id: int | None = None,
    channels: Sequence[str] | None = None,
    occurred_after: datetime | None = None,
    occurred_before: datetime | None = None,
) -> Select[Any]:
    stmt = select(Interaction)
    if customer_id is not None:
        stmt = stmt.where(Interaction.customer_id == customer_id)
    if channels is not None:
        stmt = stmt.where(Interaction.channel.in_(list(channels)) if channels else false())
    if occurred_after is not None:
        stmt = stmt.where(Interaction.occurred_at >= occurred_after)
    if occurred_before is not None:
        stmt = stmt.where(Interaction.occurred_at < occurred_before)
    return stmt


def product_select(*, search: str | None = None, category: str | None = None) -> Select[Any]:
    stmt = select(Product)
    if search and search.strip():
        stmt = stmt.where(
            or_(_like(Product.name, search.strip()), _like(Product.sku, search.strip()))
        )
    if category:
        stmt = stmt.where(Product.category == category)
    return stmt


def count_select(stmt: Select[Any]) -> Select[Any]:
    """How many rows ``stmt`` finds."""
    return select(func.count()).select_from(stmt.order_by(None).subquery())


async def count(session: AsyncSession, stmt: Select[Any]) -> int:
    return await session.scalar(count_select(stmt)) or 0


async def product_by_sku(session: AsyncSession, sku: str) -> Product | None:
    return await session.scalar(select(Product).where(Product.sku == sku))
