"""The DateTime and Date scalars: coded refusals, and no instant that UTC cannot hold.

strawberry's own DateTime takes any ISO 8601 text, so ``9999-12-31T23:59:59-14:00`` (year
10000 in UTC) reached resolvers and failed in the first ``astimezone`` or database bind with a
Python ``OverflowError``. Refused here, every DateTime argument and input field (core and
plugin, mutations and filters) is covered at once; every refusal carries ``INVALID_DATE``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from graphql import GraphQLError, ValueNode, value_from_ast_untyped
from strawberry.schema.types.base_scalars import DateDefinition, DateTimeDefinition
from strawberry.types.scalar import ScalarDefinition

from crm_graph.domain.values import OUT_OF_RANGE, as_utc

INVALID_DATE = "INVALID_DATE"


def _coded(definition: ScalarDefinition, check: Callable[[Any, object], None]) -> Any:
    """``definition``'s own parsing, then ``check``; every refusal carries ``INVALID_DATE``,
    and a literal's refusal its node (graphql-core passes a scalar's own error on as it is, so
    without it nothing would say where in the document the value is: :mod:`crm_graph.schema.date_fields`)."""

    def parse(value: object) -> Any:
        try:
            parsed = definition.parse_value(value)  # type: ignore[misc]
        except GraphQLError as exc:
            raise GraphQLError(exc.message, extensions={"code": INVALID_DATE}) from None
        check(parsed, value)
        return parsed

    def parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
        try:
            return parse(value_from_ast_untyped(node, variables))
        except GraphQLError as exc:
            raise GraphQLError(exc.message, node, extensions=exc.extensions) from None

    return dataclasses.replace(definition, parse_value=parse, parse_literal=parse_literal)


def _utc_holds(parsed: datetime, value: object) -> None:
    """Naive values pass (the domain says where a time zone is required)."""
    if as_utc(parsed) is None:
        raise GraphQLError(
            f'Value cannot represent a DateTime: "{value}" {OUT_OF_RANGE}.',
            extensions={"code": INVALID_DATE},
        )


SCALARS: dict[object, ScalarDefinition] = {
    datetime: _coded(DateTimeDefinition, _utc_holds),
    date: _coded(DateDefinition, lambda _parsed, _value: None),
}
