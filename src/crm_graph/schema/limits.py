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
    DirectiveNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    Node,
    ObjectValueNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    VariableDefinitionNode,
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

from crm_graph.db.storable import (
    MAX_DEPTH,
    MAX_SAFE_INTEGER,
    Problem,
    number_problem,
    problem_of,
    text_problem,
    too_deep,
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


# Where arguments can be, from a document down: the walk below looks nowhere else (a document
# is mostly selections without any).
_HOLDERS = ("definitions", "selection_set", "selections", "directives", "variable_definitions")


def literal_problem(node: Any) -> Problem | None:
    """The first argument literal (``input.attributes.n``) that breaks the JSON rule; default
    values of variables count as their variable's."""
    if isinstance(node, ArgumentNode):
        return _value_problem(node.value, (node.name.value,), 0)
    if isinstance(node, VariableDefinitionNode) and node.default_value is not None:
        found = _value_problem(node.default_value, (node.variable.name.value,), 0)
        if found is not None:
            return found
    holders = [getattr(node, key, None) for key in _HOLDERS]
    if isinstance(node, FieldNode | DirectiveNode):
        holders.append(node.arguments)
    for holder in holders:
        for child in holder if isinstance(holder, tuple | list) else (holder,):
            if isinstance(child, Node) and (found := literal_problem(child)) is not None:
                return found
    return None


def _value_problem(node: Any, path: tuple[str, ...], depth: int) -> Problem | None:
    if isinstance(node, StringValueNode):
        return text_problem(node.value, path)
    if isinstance(node, IntValueNode | FloatValueNode):
        return _number_literal_problem(node, path)
    if isinstance(node, ObjectValueNode):
        items = [(field.name.value, field.value) for field in node.fields]
    elif isinstance(node, ListValueNode):
        items = [(str(index), value) for index, value in enumerate(node.values)]
    else:
        return None
    if depth >= MAX_DEPTH:
        return too_deep(path)
    for key, value in items:
        if (found := _value_problem(value, (*path, key), depth + 1)) is not None:
            return found
    return None


def _number_literal_problem(
    node: IntValueNode | FloatValueNode, path: tuple[str, ...]
) -> Problem | None:
    text = node.value
    if isinstance(node, FloatValueNode):
        return number_problem(float(text), path)
    # More digits than any safe integer has: out of range without converting it (Python
    # refuses to convert more than 4,300 digits at all).
    too_long = len(text.lstrip("-")) > len(str(MAX_SAFE_INTEGER))
    return number_problem(MAX_SAFE_INTEGER + 1 if too_long else int(text), path)


class RejectUnstorableValues(SchemaExtension):
    """Refuse, before execution, any argument value that could not be stored and read back as
    written (:mod:`crm_graph.db.storable`): NUL bytes or lone surrogates in text,
    numbers outside what every JSON reader reads exactly, nesting past the limit.

    Checking every variable and literal here covers every argument of core and plugin fields
    alike, JSON-typed ones included (GraphQL's own Int and Float are narrower anyway). The
    error's ``field`` is the dotted path of the bad value (``input.attributes.n``), in the
    variables or in the document's arguments.
    """

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        problem = next(
            (
                found
                for name, value in (context.variables or {}).items()
                if (found := problem_of(value, (name,))) is not None
            ),
            None,
        )
        if problem is None and document is not None:
            problem = literal_problem(document)
        if problem is not None:
            context.result = GraphQLExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        problem.message,
                        extensions={"code": problem.code, "field": ".".join(problem.path)},
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
        RejectUnstorableValues,
    ]
    if not settings.exposes_schema:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    return extensions
