"""Leaf values as strawberry writes them: scalars and enums, from column or Python values."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from graphql import GraphQLEnumType, GraphQLNamedType, GraphQLScalarType

from crm_graph.schema.planner.run import Unsupported


def _iso(value: Any) -> Any:
    return value.isoformat()


def _as_is(value: Any) -> Any:
    return value


SCALARS: dict[str, Callable[[Any], Any]] = {
    "String": _as_is,
    "Int": _as_is,
    "Float": _as_is,
    "Boolean": _as_is,
    "JSON": _as_is,
    "ID": str,
    "DateTime": _iso,
    "Date": _iso,
    "Decimal": str,
    "UUID": str,
}


def leaf(named: GraphQLNamedType) -> Callable[[Any], Any]:
    """The conversion of a non-null value of scalar or enum type ``named`` to JSON."""
    if isinstance(named, GraphQLEnumType):
        names: dict[Any, str] = {}
        for name, value in named.values.items():
            raw = value.value
            names[raw.value if isinstance(raw, Enum) else raw] = name

        def enum(value: Any) -> Any:
            return names[value.value if isinstance(value, Enum) else value]

        return enum
    if isinstance(named, GraphQLScalarType) and named.name in SCALARS:
        return SCALARS[named.name]
    raise Unsupported(f"scalar {named.name}")
