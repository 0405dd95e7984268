"""Writing many rows at once: COPY on PostgreSQL, one ``executemany`` on SQLite.

Imports write thousands of rows per batch; going through the ORM, or even through SQLAlchemy's
per-row parameter handling, costs far more than the database does. Values still pass through
each column type's bind processor, so what lands in the table is exactly what the ORM would
have written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


def among(session: AsyncSession, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN values`` for thousands of values, as one parameter: an array on PostgreSQL
    (``= ANY($1)``), a JSON array on SQLite (``IN (SELECT value FROM json_each(?))``) for
    text and integers. A bind parameter per value would cost more to compile than to run."""
    values = list(values)
    if session.bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    if all(isinstance(v, str | int) for v in values):
        listed = func.json_each(bindparam(None, json.dumps(values), type_=String()))
        return column.in_(select(literal_column("value")).select_from(listed))
    return column.in_(values)


async def plan_for_growing_tables(session: AsyncSession) -> None:
    """Look keys up through their indexes for the rest of this transaction (PostgreSQL).

    A prepared statement soon switches to a generic plan; made while an import's tables are
    still small, it scans them sequentially, and as they grow every batch's lookups become
    quadratic. Forcing custom plans instead would also re-plan each foreign-key check of a
    COPY, row by row; every lookup here has an index, so sequential scans are simply refused.
    """
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SET LOCAL enable_seqscan = off"))


# session.info keys. BULK_INSERTS: (table, rows) written by insert_rows; the audit log records
# them (they never pass through the ORM's flush, where it sees every other change).
# ROW_DEFAULTS: {table name: {column: value}} filled into rows that leave the column empty
# (the unit of work's caller as the owner of new customers).
BULK_INSERTS = "crm_bulk_inserts"
ROW_DEFAULTS = "crm_row_defaults"


async def insert_rows(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` inside the session's transaction."""
    if not rows:
        return
    defaults = session.info.get(ROW_DEFAULTS, {}).get(table.name, {})
    if defaults:
        rows = [{**r, **{k: v for k, v in defaults.items() if r.get(k) is None}} for r in rows]
    session.info.setdefault(BULK_INSERTS, []).append((table, rows))
    connection = await session.connection()
    columns = list(rows[0])
    records = _records(connection, table, columns, rows)
    driver = (await connection.get_raw_connection()).driver_connection
    if connection.dialect.name == "postgresql":
        if not driver.is_in_transaction():
            # The driver adapter opens its transaction lazily; COPY must run inside it.
            await connection.execute(text("SELECT 1"))
        await driver.copy_records_to_table(table.name, records=records, columns=columns)
    else:
        quote = connection.dialect.identifier_preparer.quote
        names = ", ".join(quote(c) for c in columns)
        marks = ", ".join("?" * len(columns))
        await driver.executemany(
            f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", records
        )


def _records(
    connection: AsyncConnection, table: Table, columns: list[str], rows: Sequence[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    """Rows as tuples of driver values, converted column by column; a column holding one
    value throughout (a batch's shared timestamp) is converted once."""
    dialect = connection.dialect
    converted = []
    for name in columns:
        values = [row[name] for row in rows]
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        first = values[0]
        if process is None:
            pass
        elif all(value is first for value in values):
            values = [None if first is None else process(first)] * len(values)
        else:
            values = [None if value is None else process(value) for value in values]
        converted.append(values)
    return list(zip(*converted, strict=True))
