"""Writing many rows at once: COPY on PostgreSQL, one ``executemany`` on SQLite.

Imports write thousands of rows per batch; going through the ORM, or even through SQLAlchemy's
per-row parameter handling, costs far more than the database does. Values still pass through
each column type's bind processor, so what lands in the table is exactly what the ORM would
have written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    any_,
    bindparam,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_graph.db.engine import write_session


def among(session: AsyncSession, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN values`` for thousands of values, as one parameter: an array on PostgreSQL
    (``= ANY($1)``), a JSON array on SQLite (``IN (SELECT value FROM json_each(?))``) for
    text and integers. A bind parameter per value would cost more to compile than to run."""
    values = list(values)
    dialect = session.bind.dialect.name
    if dialect == "postgresql" or all(isinstance(v, str | int) for v in values):
        return among_parameter(dialect, column, bindparam_value(dialect, values))
    return column.in_(values)


def among_parameter(dialect: str, column: Any, value: Any = None, name: str | None = None) -> Any:
    """``column`` among the keys of one parameter (:func:`among`'s SQL): bound to ``value``
    (made by :func:`bindparam_value`), or named ``name`` for a statement built once and run
    with many key lists. Keys are text or integers."""
    given = {} if value is None else {"value": value}
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type), **given))
    listed = func.json_each(bindparam(name, type_=String(), **given))
    return column.in_(select(literal_column("value")).select_from(listed))


def bindparam_value(dialect: str, keys: Iterable[Any]) -> Any:
    """The value of an :func:`among_parameter` parameter holding ``keys``."""
    return list(keys) if dialect == "postgresql" else orjson.dumps(list(keys)).decode()


async def plan_for_growing_tables(session: AsyncSession) -> None:
    """Look keys up through their indexes for the rest of this transaction (PostgreSQL).

    A prepared statement soon switches to a generic plan; made while an import's tables are
    still small, it scans them sequentially, and as they grow every batch's lookups become
    quadratic. Forcing custom plans instead would also re-plan each foreign-key check of a
    COPY, row by row; every lookup here has an index, so sequential scans are simply refused.
    """
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SET LOCAL enable_seqscan = off"))


# Pages SQLite may cache per connection during an import (KiB): a batch's index pages stay in
# memory instead of being written out and read back (the default is 2 MiB).
BULK_CACHE_KIB = 16_384


@asynccontextmanager
async def bulk_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A write session for bulk writes: :func:`plan_for_growing_tables`, and on SQLite a
    larger page cache, for this transaction only (it changes nothing of what is committed)."""
    async with write_session(engine) as session:
        await plan_for_growing_tables(session)
        if session.bind.dialect.name != "sqlite":
            yield session
            return
        previous = await session.scalar(text("PRAGMA cache_size"))
        await session.execute(text(f"PRAGMA cache_size = -{BULK_CACHE_KIB}"))
        try:
            yield session
        finally:
            await session.execute(text(f"PRAGMA cache_size = {int(previous)}"))


async def reserve_ids(session: AsyncSession, table: Table, count: int) -> list[int]:
    """Primary keys for ``count`` new rows of ``table``, known before the rows are written, so
    the rows that refer to them (and their events) need no second look-up.

    PostgreSQL hands them out from the column's sequence (safe with concurrent writers). On
    SQLite the write transaction holds the database's only write lock, and ``id`` is a plain
    rowid (never AUTOINCREMENT for these tables), so the next ids follow the largest one:
    write the rows before reserving more for the same table.
    """
    if count <= 0:
        return []
    if session.bind.dialect.name == "postgresql":
        name = session.bind.dialect.identifier_preparer.format_table(table)
        found = await session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": name, "n": count},
        )
        return list(found.scalars())
    top = await session.scalar(select(func.max(table.c.id)))
    return list(range((top or 0) + 1, (top or 0) + 1 + count))


# session.info keys. BULK_INSERTS: (table, rows) written by insert_rows; the audit log records
# them (they never pass through the ORM's flush, where it sees every other change).
# ROW_DEFAULTS: {table name: {column: value}} filled into rows that leave the column empty
# (the unit of work's caller as the owner of new customers).
BULK_INSERTS = "crm_bulk_inserts"
ROW_DEFAULTS = "crm_row_defaults"


async def insert_rows(
    session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]
) -> Sequence[dict[str, Any]]:
    """Insert ``rows`` (dicts with the same keys) into ``table`` inside the session's
    transaction, for the audit log to record; returns them as written (with the unit of work's
    defaults filled in)."""
    if not rows:
        return rows
    defaults = session.info.get(ROW_DEFAULTS, {}).get(table.name, {})
    if defaults:
        rows = [{**r, **{k: v for k, v in defaults.items() if r.get(k) is None}} for r in rows]
    session.info.setdefault(BULK_INSERTS, []).append((table, rows))
    columns = list(rows[0])
    await _write(session, table, columns, [[row[name] for row in rows] for name in columns])
    return rows


async def insert_records(
    session: AsyncSession,
    table: Table,
    columns: Sequence[str],
    records: Sequence[Sequence[Any]],
    *,
    audited: bool = True,
) -> None:
    """Insert ``records`` (tuples of values for ``columns``) into ``table``: :func:`insert_rows`
    without a dict per row. ``audited=False`` is for bookkeeping tables (the event log)."""
    if not records:
        return
    if audited:
        session.info.setdefault(BULK_INSERTS, []).append((table, _Rows(columns, records)))
    await _write(session, table, columns, [list(values) for values in zip(*records, strict=True)])


class _Rows(Sequence[dict[str, Any]]):
    """Records seen as dicts, made only if the audit log reads them."""

    def __init__(self, columns: Sequence[str], records: Sequence[Sequence[Any]]) -> None:
        self.columns, self.records = columns, records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [dict(zip(self.columns, r, strict=True)) for r in self.records[index]]
        return dict(zip(self.columns, self.records[index], strict=True))


async def _write(
    session: AsyncSession, table: Table, columns: Sequence[str], values: list[list[Any]]
) -> None:
    """Write the rows given column by column (``values[i]`` holds column ``columns[i]``)."""
    connection = await session.connection()
    dialect = connection.dialect
    for name, column_values in zip(columns, values, strict=True):
        _convert(dialect, table, name, column_values)
    records = list(zip(*values, strict=True))
    driver = (await connection.get_raw_connection()).driver_connection
    try:
        if dialect.name == "postgresql":
            if not driver.is_in_transaction():
                # The driver adapter opens its transaction lazily; COPY must run inside it.
                await connection.execute(text("SELECT 1"))
            await driver.copy_records_to_table(table.name, records=records, columns=list(columns))
        else:
            quote = dialect.identifier_preparer.quote
            names = ", ".join(quote(c) for c in columns)
            marks = ", ".join("?" * len(columns))
            await driver.executemany(
                f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", records
            )
    except (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError) as exc:
        # The driver's own error, not SQLAlchemy's: raised as SQLAlchemy raises it elsewhere,
        # so callers see one kind of constraint violation (a concurrent writer was first).
        raise IntegrityError(f"INSERT INTO {table.name}", None, exc) from exc


def _convert(dialect: Dialect, table: Table, name: str, values: list[Any]) -> None:
    """Driver values in place of ``values``, through the column type's bind processor; a value
    repeated throughout (a batch's shared timestamp) is converted once."""
    process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    if process is None or not values:
        return
    first = values[0]
    if all(value is first for value in values):
        values[:] = [None if first is None else process(first)] * len(values)
    else:
        values[:] = [None if value is None else process(value) for value in values]
