"""Abuse limits on GraphQL documents: depth, aliases, tokens and an estimated cost.

Depth, alias and token limits are strawberry's own extensions (they follow fragments and
stop at fragment cycles). The cost estimate is ours: each field costs 1, multiplied by the
page sizes of the connections above it, so ``customers(first: 100) { orders(first: 100) }``
costs 10,000x its leaves and is refused before any resolver runs.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    ValidationContext,
    ValidationRule,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)

from crm_graph.schema.lists import DEFAULT_PAGE_SIZE
from crm_graph.settings import Settings

PAGE_ARGUMENTS = ("first", "last")


def _page_size(field: FieldNode, maximum: int) -> int:
    """A literal ``first``/``last``; a variable counts as the largest page allowed."""
    for argument in field.arguments or ():
        if argument.name.value in PAGE_ARGUMENTS:
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(1, min(int(value.value), maximum))
            return maximum
    return 1


def _is_connection(field: FieldNode) -> bool:
    selections = field.selection_set.selections if field.selection_set else ()
    names = {s.name.value for s in selections if isinstance(s, FieldNode)}
    return bool(names & {"edges", "nodes", "pageInfo", "totalCount"})


def query_cost(
    owner: Any,
    fragments: dict[str, FragmentDefinitionNode],
    maximum: int,
    seen: frozenset[str] = frozenset(),
) -> int:
    """Estimated number of values a selection set resolves to."""
    if owner.selection_set is None:
        return 0
    total = 0
    for selection in owner.selection_set.selections:
        if isinstance(selection, FieldNode):
            size = _page_size(selection, maximum)
            if size == 1 and _is_connection(selection):
                size = DEFAULT_PAGE_SIZE
            total += 1 + size * query_cost(selection, fragments, maximum, seen)
        elif isinstance(selection, InlineFragmentNode):
            total += query_cost(selection, fragments, maximum, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                total += query_cost(fragments[name], fragments, maximum, seen | {name})
    return total


def cost_rule(max_cost: int, max_page_size: int) -> type[ValidationRule]:
    class MaxCostRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            definitions = context.document.definitions
            fragments = {
                d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)
            }
            for operation in definitions:
                if isinstance(operation, OperationDefinitionNode):
                    cost = query_cost(operation, fragments, max_page_size)
                    if cost > max_cost:
                        context.report_error(
                            GraphQLError(
                                f"query cost {cost} exceeds the limit of {max_cost}; "
                                "ask for smaller pages or fewer nested lists",
                                extensions={
                                    "code": "QUERY_TOO_COSTLY",
                                    "cost": cost,
                                    "limit": max_cost,
                                },
                            )
                        )

    return MaxCostRule


def _should_mask(error: GraphQLError) -> bool:
    """Hide unexpected failures (they may carry SQL or internals); keep errors we raised."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def limit_extensions(settings: Settings) -> list[Any]:
    """Extension factories (strawberry builds fresh instances per request)."""
    cost = cost_rule(settings.max_query_cost, settings.max_page_size)
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
        lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_query_aliases),
        lambda: AddValidationRules([cost]),
    ]
    if settings.env == "production":
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
        extensions.append(lambda: MaskErrors(should_mask_error=_should_mask))
    return extensions
