"""Keyset (cursor) pagination, for one list or for many parents in one statement.

Cursors hold the sort values of a row plus its primary key, so a page never shifts when rows
are inserted before it (offsets would). Per-parent pages (a customer's last 5 orders, for 50
customers) use ``row_number() OVER (PARTITION BY parent ...)``: one statement however many
parents, which is what keeps SQL statements per request independent of row counts.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from crm_graph.db.jsonable import plain
from crm_graph.db.storable import problem_of


class PagingError(ValueError):
    """Bad paging arguments; ``field`` names the argument."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code, self.field = code, field


@dataclass(frozen=True)
class PageArgs:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


@dataclass(frozen=True)
class Ordering:
    """Sort columns (all in one direction); the table's ``id`` is always the tie-breaker."""

    name: str
    columns: tuple[InstrumentedAttribute[Any], ...]
    descending: bool

    def keys(self, model: Any) -> tuple[InstrumentedAttribute[Any], ...]:
        return (*self.columns, model.id)


@dataclass
class Page:
    rows: list[Any]
    cursors: list[str]
    has_next: bool
    has_previous: bool


@dataclass(frozen=True)
class Window:
    """Validated paging arguments: how many rows, which way, starting after which values."""

    size: int
    backward: bool
    boundary: tuple[Any, ...] | None


def encode_cursor(ordering: Ordering, row: Any, model: Any) -> str:
    values = [plain(getattr(row, col.key)) for col in ordering.keys(model)]
    raw = json.dumps({"o": ordering.name, "v": values}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, ordering: Ordering, model: Any, field: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if problem_of(data) is not None:  # a forged number past any key, or nesting
            raise ValueError
        values = data["v"]
        if data["o"] != ordering.name:
            raise PagingError("INVALID_CURSOR", "the cursor belongs to another ordering", field)
        keys = ordering.keys(model)
        if len(values) != len(keys):
            raise ValueError
        return [_typed(value, col) for value, col in zip(values, keys, strict=True)]
    except PagingError:
        raise
    except (
        binascii.Error,
        ValueError,
        KeyError,
        TypeError,
        UnicodeDecodeError,
        RecursionError,
    ) as exc:
        raise PagingError("INVALID_CURSOR", "the cursor is malformed", field) from exc


def _typed(value: Any, column: InstrumentedAttribute[Any]) -> Any:
    kind = column.type.python_type
    if kind is datetime:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive datetime in cursor")
        return parsed
    if kind is Decimal:
        return Decimal(value)
    if not isinstance(value, kind):
        raise ValueError(f"cursor value {value!r} is not {kind.__name__}")
    return value


def window(args: PageArgs, ordering: Ordering, model: Any, default: int, maximum: int) -> Window:
    if args.first is not None and args.last is not None:
        raise PagingError("INVALID_ARGUMENT", "give first or last, not both", "first")
    backward = args.last is not None
    size = args.last if backward else (args.first if args.first is not None else default)
    name = "last" if backward else "first"
    if size is None or size < 0:
        raise PagingError("INVALID_ARGUMENT", f"{name} must be 0 or more", name)
    if size > maximum:
        raise PagingError("PAGE_SIZE_TOO_LARGE", f"{name} must be at most {maximum}", name)
    cursor, field = (args.before, "before") if backward else (args.after, "after")
    boundary = tuple(decode_cursor(cursor, ordering, model, field)) if cursor else None
    return Window(size=size, backward=backward, boundary=boundary)


def keyset_condition(keys: Sequence[Any], values: Sequence[Any], greater: bool) -> Any:
    """(a, b, id) > (va, vb, vid) written out, so every value binds with its column's type."""
    clauses = []
    for i, key in enumerate(keys):
        prefix = [keys[j] == values[j] for j in range(i)]
        step = key > values[i] if greater else key < values[i]
        clauses.append(and_(*prefix, step))
    return or_(*clauses)


def ordered(stmt: Select[Any], model: Any, ordering: Ordering, win: Window) -> Select[Any]:
    """``stmt`` after the window's boundary, in the window's order (fetch ``size + 1`` rows)."""
    keys = ordering.keys(model)
    descending = ordering.descending != win.backward
    if win.boundary is not None:
        stmt = stmt.where(keyset_condition(keys, win.boundary, greater=not descending))
    return stmt.order_by(*[k.desc() if descending else k.asc() for k in keys])


def bounds(rows: list[Any], win: Window) -> tuple[list[Any], bool, bool]:
    """The window's rows in display order, from the ``size + 1`` fetched, with whether there
    are rows after them and before them."""
    more = len(rows) > win.size
    rows = rows[: win.size]
    if win.backward:
        rows.reverse()
        return rows, win.boundary is not None, more
    return rows, more, win.boundary is not None


def _page(rows: list[Any], win: Window, ordering: Ordering, model: Any) -> Page:
    rows, has_next, has_previous = bounds(rows, win)
    cursors = [encode_cursor(ordering, row, model) for row in rows]
    return Page(rows, cursors, has_next=has_next, has_previous=has_previous)


async def fetch_page(
    session: AsyncSession, stmt: Select[Any], model: Any, ordering: Ordering, win: Window
) -> Page:
    """One page of ``stmt`` (a ``select(model)`` with filters applied)."""
    rows = list(await session.scalars(ordered(stmt, model, ordering, win).limit(win.size + 1)))
    return _page(rows, win, ordering, model)


def ranked_children(
    stmt: Select[Any],
    model: Any,
    parent: InstrumentedAttribute[Any],
    among_parents: Any,
    ordering: Ordering,
    win: Window,
) -> Any:
    """``stmt``'s children of the parents ``among_parents`` selects, after the window's
    boundary, numbered per parent in the window's order (column ``rank``): a subquery."""
    keys = ordering.keys(model)
    descending = ordering.descending != win.backward
    stmt = stmt.where(among_parents)
    if win.boundary is not None:
        stmt = stmt.where(keyset_condition(keys, win.boundary, greater=not descending))
    rank = (
        func.row_number()
        .over(partition_by=parent, order_by=[k.desc() if descending else k.asc() for k in keys])
        .label("rank")
    )
    return stmt.add_columns(rank).subquery()


async def fetch_child_pages(
    session: AsyncSession,
    model: Any,
    parent: InstrumentedAttribute[Any],
    parent_ids: Iterable[int],
    ordering: Ordering,
    win: Window,
) -> dict[int, Page]:
    """The same page of children for many parents, in one statement."""
    ids = list(parent_ids)
    ranked = ranked_children(select(model), model, parent, parent.in_(ids), ordering, win)
    row = aliased(model, ranked)
    result = await session.execute(
        select(row)
        .where(ranked.c.rank <= win.size + 1)
        .order_by(ranked.c[parent.key], ranked.c.rank)
    )
    grouped: dict[int, list[Any]] = {pid: [] for pid in ids}
    for item in result.scalars():
        grouped[getattr(item, parent.key)].append(item)
    return {pid: _page(rows, win, ordering, model) for pid, rows in grouped.items()}


async def count_children(
    session: AsyncSession, parent: InstrumentedAttribute[Any], parent_ids: Iterable[int]
) -> dict[int, int]:
    ids = list(parent_ids)
    result = await session.execute(
        select(parent, func.count()).where(parent.in_(ids)).group_by(parent)
    )
    counts = dict.fromkeys(ids, 0)
    counts.update({pid: n for pid, n in result.all()})
    return counts
