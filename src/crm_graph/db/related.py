"""Relations declared as data: the rows of a table that belong to a parent row.

A plugin names the table, the column holding the parent's key and, for lists, the order and
a per-parent limit; :func:`fetch` turns the declaration into one SELECT for any number of
parents. Being data rather than code is what lets a query planner fold them into its own SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased


@dataclass(frozen=True)
class Related:
    """The one row of ``table`` whose ``key`` column equals the parent's ``parent_key``
    (``None`` when there is none): a loyalty account per customer, a product by id."""

    table: type
    key: str
    parent_key: str = "id"


@dataclass(frozen=True)
class RelatedRows:
    """The rows of ``table`` whose ``key`` column equals the parent's ``parent_key``, in
    ``order_by`` (column names; a leading ``-`` sorts descending), at most ``limit`` each."""

    table: type
    key: str
    order_by: tuple[str, ...] = ()
    limit: int | None = None
    parent_key: str = "id"


Relation = Related | RelatedRows


def _ordering(relation: RelatedRows) -> list[Any]:
    columns = []
    for name in relation.order_by:
        column = getattr(relation.table, name.lstrip("-"))
        columns.append(column.desc() if name.startswith("-") else column.asc())
    return columns


async def fetch(session: AsyncSession, relation: Relation, keys: Sequence[Hashable]) -> list[Any]:
    """For each key, its row (or ``None``) or its list of rows: one statement for all keys."""
    distinct = list(dict.fromkeys(k for k in keys if k is not None))
    key = getattr(relation.table, relation.key)
    if isinstance(relation, Related):
        found = {}
        if distinct:
            for row in await session.scalars(select(relation.table).where(key.in_(distinct))):
                found[getattr(row, relation.key)] = row
        return [found.get(k) for k in keys]
    grouped: dict[Hashable, list[Any]] = defaultdict(list)
    if distinct:
        ordering = _ordering(relation)
        statement = select(relation.table).where(key.in_(distinct))
        if relation.limit is not None:
            rank = func.row_number().over(partition_by=key, order_by=ordering).label("related_rank")
            ranked = statement.add_columns(rank).subquery()
            row = aliased(relation.table, ranked)
            statement = (
                select(row)
                .where(ranked.c.related_rank <= relation.limit)
                .order_by(ranked.c[relation.key], ranked.c.related_rank)
            )
        else:
            statement = statement.order_by(key, *ordering)
        for item in await session.scalars(statement):
            grouped[getattr(item, relation.key)].append(item)
    return [list(grouped[k]) if k is not None else [] for k in keys]
