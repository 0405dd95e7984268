"""Rows, column names and values as they appear in JSON: event payloads, GDPR exports, audit
rows, exports and page cursors all spell a column, and write a row, the same way.

:func:`row_json` is the one row-to-JSON function: keys camelCased like the GraphQL API, the
row's id and its foreign keys as the global IDs the API uses (so a receiver can look them up),
money in its currency's minor unit, times as ISO 8601.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson
from babel.numbers import get_currency_precision
from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, String, Table, TypeDecorator

from crm_graph.ids import to_global_id

# Foreign-key columns, of core and plugin tables alike, and the type whose global ID they hold.
REFERENCES = {"customer_id": "Customer", "order_id": "Order", "product_id": "Product"}


@lru_cache(maxsize=1024)
def camel(name: str) -> str:
    """A column key as its GraphQL/JSON field name (``lifecycle_stage`` -> ``lifecycleStage``)."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@lru_cache(maxsize=512)
def minor_unit(currency: str) -> Decimal:
    """``Decimal("0.01")`` for USD, ``Decimal("1")`` for JPY (looked up once per currency)."""
    return Decimal(1).scaleb(-get_currency_precision(currency))


def plain(value: Any, currency: str | None = None) -> Any:
    """A JSON-ready column value: times and dates as ISO 8601, decimals as strings; given the row's
    currency, a decimal is money, written in the currency's minor unit (so it reads the same
    before and after a database round trip)."""
    if isinstance(value, datetime):
        try:  # orjson writes what isoformat() does, in a third of the time (bulk imports)
            return orjson.dumps(value)[1:-1].decode()
        except TypeError:  # a time zone orjson does not know
            return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value if currency is None else value.quantize(minor_unit(currency)))
    return value


def fragment(value: Any) -> orjson.Fragment:
    """``value`` made JSON now, to be written as it is wherever it is later put in JSON (a JSON
    column included, through :func:`dumps`)."""
    return orjson.Fragment(dumps(value))


def dumps(value: Any) -> str:
    """JSON text of a JSON column's value, for the engine. orjson is several times faster than
    the standard library (an import writes thousands of event payloads per batch); what it
    refuses (integers beyond 64 bits) goes to the standard library, which decides as before."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def row_json(row: Any, type_name: str | None = None) -> dict[str, Any]:
    """Every column of ``row`` as JSON; its ``id`` is a global ID of ``type_name`` (by default
    the row's class name: ``Customer``, ``OrderLine``, a plugin's table class)."""
    table = row.__table__
    values = {column.key: getattr(row, column.key) for column in table.columns}
    return values_json(table, values, type_name or type(row).__name__)


def values_json(table: Table, values: Mapping[str, Any], type_name: str) -> dict[str, Any]:
    """:func:`row_json` of a row given as its column values (rows written in bulk)."""
    currency = values.get("currency")
    out: dict[str, Any] = {}
    time: Any = None  # a row's timestamps are often one value (created = updated)
    for key, name, kind in _layout(table):
        value = values[key]
        if kind is _AS_IS or value is None:
            pass
        elif kind is _TIME:
            if value is not time:
                time, text = value, plain(value)
            value = text
        elif kind is _ID:
            value = to_global_id(type_name, value)
        elif kind is _PLAIN:
            value = plain(value, currency)
        else:
            value = global_id(kind, value)
        out[name] = value
    return out


@lru_cache(maxsize=1 << 16)
def global_id(type_name: str, pk: int) -> str:
    """Global IDs of rows many others refer to (a bulk import's customers and products)."""
    return to_global_id(type_name, pk)


# How _layout says a column's value becomes JSON: the row's own global ID, as it is (text,
# numbers, JSON: what plain() leaves alone), plain() of a time or of anything else; otherwise
# the type a foreign key names.
_ID, _AS_IS, _TIME, _PLAIN = "id", "as is", "time", "plain"
_AS_IS_TYPES = (String, Integer, Boolean, JSON)


def _kind(column: Column[Any]) -> str:
    if column.key == "id":
        return _ID
    if column.key in REFERENCES:
        return REFERENCES[column.key]
    sql_type = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    if isinstance(sql_type, _AS_IS_TYPES):
        return _AS_IS
    return _TIME if isinstance(sql_type, DateTime) else _PLAIN


@lru_cache(maxsize=64)
def _layout(table: Table) -> tuple[tuple[str, str, str], ...]:
    """Per column: its key, its JSON name and how its value is converted (once per table:
    bulk imports build thousands of payloads per batch)."""
    return tuple((c.key, camel(c.key), _kind(c)) for c in table.columns)
