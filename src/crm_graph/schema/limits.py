"""Abuse limits on GraphQL documents: depth, aliases, tokens and an estimated cost.

Depth, alias and token limits are strawberry's own extensions (they follow fragments and
stop at fragment cycles). The cost estimate is ours: each field costs 1, multiplied by the
page sizes of the connections above it, so ``customers(first: 100) { orders(first: 100) }``
costs 10,000x its leaves and is refused before any resolver runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    ExecutionResult as GraphQLExecutionResult,
)
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    Node,
    OperationDefinitionNode,
    StringValueNode,
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
    SchemaExtension,
)

from crm_graph.schema.errors import is_unexpected
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


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class RejectNulBytes(SchemaExtension):
    """Refuse any NUL byte in variables or string literals before execution.

    PostgreSQL cannot store or even compare text containing NUL, so such a value reaching
    SQL is a crash; refusing it here covers every argument of core and plugin fields alike.
    """

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        literals = document is not None and any(
            isinstance(node, StringValueNode) and "\x00" in node.value for node in _walk(document)
        )
        if literals or _has_nul(context.variables or {}):
            context.result = GraphQLExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        "text must not contain NUL bytes", extensions={"code": "INVALID_VALUE"}
                    )
                ],
            )
        yield


def _walk(node: Any) -> Iterator[Any]:
    yield node
    for key in node.keys:
        child = getattr(node, key, None)
        if isinstance(child, Node):
            yield from _walk(child)
        elif isinstance(child, tuple | list):
            for item in child:
                if isinstance(item, Node):
                    yield from _walk(item)


def limit_extensions(settings: Settings) -> list[Any]:
    """Extension factories (strawberry builds fresh instances per request)."""
    cost = cost_rule(settings.max_query_cost, settings.max_page_size)
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
        lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_query_aliases),
        lambda: AddValidationRules([cost]),
        RejectNulBytes,
    ]
    if settings.env == "production":
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
        extensions.append(lambda: MaskErrors(should_mask_error=is_unexpected))
    return extensions
