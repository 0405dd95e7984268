"""Leaf values as strawberry writes them: scalars and enums, from column or Python values."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from graphql import GraphQLEnumType, GraphQLNamedType, GraphQLScalarType

from crm_graph.schema.planner.run import Unsupported


def _iso(value: Any) -> Any:
    return value.isoformat()


def as_is(value: Any) -> Any:
    return value


SCALARS: dict[str, Callable[[Any], Any]] = {
    "String": as_is,
    "Int": as_is,
    "Float": as_is,
    "Boolean": as_is,
    "JSON": as_is,
    "ID": str,
    "DateTime": _iso,
    "Date": _iso,
    "Decimal": str,
    "UUID": str,
}


# Scalars whose Python values orjson writes exactly as strawberry does (``isoformat()``).
ORJSON_NATIVE = {"DateTime", "Date"}


def leaf(named: GraphQLNamedType, native: bool = False) -> Callable[[Any], Any]:
    """The conversion of a non-null value of scalar or enum type ``named`` to JSON; with
    ``native``, values the response's orjson writes the same are left to it (read path
    responses only: a subscription's ``data`` is also handed on as it is)."""
    if isinstance(named, GraphQLEnumType):
        names: dict[Any, str] = {}
        for name, value in named.values.items():
            raw = value.value
            names[raw.value if isinstance(raw, Enum) else raw] = name

        def enum(value: Any) -> Any:
            return names[value.value if isinstance(value, Enum) else value]

        return enum
    if isinstance(named, GraphQLScalarType) and named.name in SCALARS:
        return as_is if native and named.name in ORJSON_NATIVE else SCALARS[named.name]
    raise Unsupported(f"scalar {named.name}")
