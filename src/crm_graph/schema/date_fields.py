"""Name the field of every ``INVALID_DATE`` refusal, as every other boundary refusal does.

The date scalars (:mod:`.types.scalars`) refuse a value without knowing where it is: a
scalar sees one value, not its path. graphql-core knows the node it refused (the literal, or
the definition of the variable holding it), so the path is found from that node afterwards:
a literal by finding it in the document's arguments (``input.placedAt``), a value in a
variable by asking the same scalar again down the variable's type (``input.placedAt`` for
``$input``), so the rule stays the scalar's alone.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    BREAK,
    ArgumentNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLScalarType,
    GraphQLSchema,
    ListValueNode,
    Node,
    ObjectValueNode,
    VariableDefinitionNode,
    Visitor,
    get_nullable_type,
    type_from_ast,
    visit,
)

from crm_graph.schema.types.scalars import INVALID_DATE

Path = tuple[str, ...]


def name_date_fields(
    errors: list[GraphQLError], schema: GraphQLSchema, execution_context: Any
) -> None:
    """Add ``field`` (the dotted path of the refused value) to each ``INVALID_DATE`` error."""
    document = getattr(execution_context, "graphql_document", None)
    for error in errors:
        extensions = error.extensions or {}
        if extensions.get("code") != INVALID_DATE or "field" in extensions or not error.nodes:
            continue
        node = error.nodes[0]
        if isinstance(node, VariableDefinitionNode):
            path = _variable_path(node, schema, getattr(execution_context, "variables", None))
        else:
            path = _literal_path(document, node) if document is not None else None
        if path is not None:
            error.extensions = {**extensions, "field": ".".join(path)}


def _variable_path(
    definition: VariableDefinitionNode, schema: GraphQLSchema, variables: dict | None
) -> Path | None:
    name = definition.variable.name.value
    if name not in (variables or {}):
        return None
    return _refused(variables[name], type_from_ast(schema, definition.type), (name,))  # type: ignore[arg-type]


def _refused(value: Any, type_: Any, path: Path) -> Path | None:
    """The path of the first value in ``value`` that a date scalar of ``type_`` refuses."""
    type_ = get_nullable_type(type_)
    if value is None:
        return None
    if isinstance(type_, GraphQLList):
        if not isinstance(value, list):
            return _refused(value, type_.of_type, path)
        items = ((str(index), item) for index, item in enumerate(value))
        return next(
            (
                found
                for key, item in items
                if (found := _refused(item, type_.of_type, (*path, key)))
            ),
            None,
        )
    if isinstance(type_, GraphQLInputObjectType) and isinstance(value, dict):
        return next(
            (
                found
                for key, field in type_.fields.items()
                if key in value and (found := _refused(value[key], field.type, (*path, key)))
            ),
            None,
        )
    if isinstance(type_, GraphQLScalarType):
        try:
            type_.parse_value(value)
        except GraphQLError as exc:
            return path if (exc.extensions or {}).get("code") == INVALID_DATE else None
        except (TypeError, ValueError):
            return None
    return None


def _literal_path(document: Node, target: Node) -> Path | None:
    """Where ``target`` sits in the document's arguments (or a variable's default value)."""
    finder = _LiteralFinder(target)
    visit(document, finder)
    return finder.path


class _LiteralFinder(Visitor):
    def __init__(self, target: Node) -> None:
        super().__init__()
        self.target = target
        self.path: Path | None = None

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> Any:
        return self._look(node.value, (node.name.value,))

    def enter_variable_definition(self, node: VariableDefinitionNode, *_args: Any) -> Any:
        if node.default_value is None:
            return None
        return self._look(node.default_value, (node.variable.name.value,))

    def _look(self, value: Node, path: Path) -> Any:
        self.path = _value_path(value, self.target, path)
        return BREAK if self.path is not None else None


def _value_path(node: Node, target: Node, path: Path) -> Path | None:
    if node is target:
        return path
    if isinstance(node, ObjectValueNode):
        items = [(field.name.value, field.value) for field in node.fields]
    elif isinstance(node, ListValueNode):
        items = [(str(index), value) for index, value in enumerate(node.values)]
    else:
        return None
    return next(
        (found for key, value in items if (found := _value_path(value, target, (*path, key)))),
        None,
    )
