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
    ArgumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    Node,
    ObjectFieldNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
)
from graphql import (
    ExecutionResult as GraphQLExecutionResult,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
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


def _nul_in_value(value: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
    """The path of the first text (or object key) in a variable value holding a NUL byte."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _nul_in_value(key, (*path, str(key))) or _nul_in_value(item, (*path, str(key)))
        if found is not None:
            return found
    return None


def _nul_in_literal(node: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
    """The argument path (``input.name``) of the first string literal holding a NUL byte."""
    if isinstance(node, StringValueNode):
        return path if "\x00" in node.value else None
    if isinstance(node, ArgumentNode | ObjectFieldNode):
        path = (*path, node.name.value)
    for key in node.keys:
        child = getattr(node, key, None)
        children = child if isinstance(child, tuple | list) else (child,)
        for index, item in enumerate(children):
            if not isinstance(item, Node):
                continue
            step = (*path, str(index)) if isinstance(node, ListValueNode) else path
            found = _nul_in_literal(item, step)
            if found is not None:
                return found
    return None


class RejectNulBytes(SchemaExtension):
    """Refuse any NUL byte in variables or string literals before execution.

    PostgreSQL cannot store or even compare text containing NUL, so such a value reaching
    SQL is a crash; refusing it here covers every argument of core and plugin fields alike.
    The error's ``field`` is the dotted path of the bad text (``input.name``), in the
    variables or in the document's arguments.
    """

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        path = _nul_in_value(context.variables or {}, ())
        if path is None and document is not None:
            path = _nul_in_literal(document, ())
        if path is not None:
            context.result = GraphQLExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        "text must not contain NUL bytes",
                        extensions={"code": "INVALID_VALUE", "field": ".".join(path)},
                    )
                ],
            )
        yield


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
    if not settings.exposes_schema:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    return extensions
