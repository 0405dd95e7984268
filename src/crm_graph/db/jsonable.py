"""Column names and values as they appear in JSON: event payloads, GDPR exports, audit rows
and page cursors all spell a column the same way."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson


@lru_cache(maxsize=1024)
def camel(name: str) -> str:
    """A column key as its GraphQL/JSON field name (``lifecycle_stage`` -> ``lifecycleStage``)."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def plain(value: Any) -> Any:
    """A JSON-ready column value: times as ISO 8601, decimals as strings."""
    if isinstance(value, datetime):
        try:  # orjson writes what isoformat() does, in a third of the time (bulk imports)
            return orjson.dumps(value)[1:-1].decode()
        except TypeError:  # a time zone orjson does not know
            return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
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
