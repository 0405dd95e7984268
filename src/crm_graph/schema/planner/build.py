"""Building a plan from a validated operation: the relations to fetch and the writers.

Selections are collected as graphql-core collects them (fragments, inline fragments on
interfaces, ``@skip``/``@include``, whose variables are part of the plan's key), fields are
checked against the caller's grants, and each field becomes a writer reading row columns,
a relation's rows, or a plugin batch function's values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    is_non_null_type,
)

from crm_graph.auth.declare import PERMISSION, PII_FIELD
from crm_graph.auth.guard import forbidden
from crm_graph.auth.permissions import WILDCARD
from crm_graph.auth.personal import PII_PERMISSION, mask
from crm_graph.auth.scope import read_predicate
from crm_graph.db.jsonable import global_id, minor_unit
from crm_graph.db.paging import encode_cursor
from crm_graph.db.related import Related
from crm_graph.schema.planner import bindings
from crm_graph.schema.planner.relations import (
    Batch,
    ByKey,
    ChildPages,
    Field,
    Lookup,
    Paged,
    Relation,
    RootList,
)
from crm_graph.schema.planner.run import (
    Columns,
    Fallback,
    Path,
    Run,
    Shape,
    Unsupported,
    fetch_tree,
)
from crm_graph.schema.planner.values import leaf
from crm_graph.schema.plugin_fields import CONTRACT, BatchField, TableField
from crm_graph.schema.query import LISTS, MAX_NODES, NODE_PERMISSIONS

RootWriter = Callable[[Run], Any]

# The Query fields a plan starts from.
ROOTS = (*LISTS, *bindings.LOOKUPS, "node", "nodes")


class Plan:
    """The relations to fetch, root by root, and the writers of the response's ``data``."""

    def __init__(self, roots: list[tuple[str, Relation, RootWriter]]) -> None:
        self.roots = roots

    async def execute(self, run: Run) -> dict[str, Any]:
        for _, relation, _ in self.roots:
            for shape, rows in await relation.fetch(run, None):
                if rows:
                    await fetch_tree(run, shape, rows)
        return {key: write(run) for key, _, write in self.roots}


def _required(value: Any) -> Any:
    if value is None:
        raise Fallback  # strawberry reports the null and propagates it
    return value


def _const(value: Any) -> Callable[..., Any]:
    return lambda *_args: value


class PlanBuilder:
    def __init__(
        self,
        schema: Any,
        fragments: dict[str, Any],
        operation: OperationDefinitionNode,
        principal: Any,
        conditions: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.graphql = schema._schema
        self.fragments = fragments
        self.operation = operation
        self.principal = principal
        self.conditions = conditions
        self.clear = principal.has(PII_PERMISSION)

    # Selections ------------------------------------------------------------------------------

    def _included(self, node: Any) -> bool:
        for directive in node.directives or ():
            value = directive.arguments[0].value
            flag = (
                self.conditions.get(value.name.value)
                if isinstance(value, VariableNode)
                else isinstance(value, BooleanValueNode) and value.value
            )
            if (directive.name.value == "skip") == bool(flag):
                return False
        return True

    def _applies(self, condition: Any, runtime: GraphQLObjectType) -> bool:
        if condition is None or condition.name.value == runtime.name:
            return True
        named = self.graphql.get_type(condition.name.value)
        return is_abstract_type(named) and self.graphql.is_sub_type(named, runtime)

    def collect(
        self,
        runtime: GraphQLObjectType,
        nodes: list[Any],
        out: dict[str, list[FieldNode]] | None = None,
        seen: set[str] | None = None,
    ) -> dict[str, list[FieldNode]]:
        out = {} if out is None else out
        seen = set() if seen is None else seen
        for node in nodes:
            for selection in node.selection_set.selections:
                if not self._included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    out.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    if self._applies(selection.type_condition, runtime):
                        self.collect(runtime, [selection], out, seen)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments[name]
                    if name not in seen and self._applies(fragment.type_condition, runtime):
                        seen.add(name)
                        self.collect(runtime, [fragment], out, seen)
        return out

    def _definition(self, parent: GraphQLObjectType, nodes: list[FieldNode]) -> tuple[Any, Any]:
        name = nodes[0].name.value
        if name.startswith("__"):
            raise Unsupported("introspection")
        definition = parent.fields[name]
        return definition, definition.extensions.get("strawberry-definition")

    def _denied(self, parent: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> Any:
        """A writer reporting FORBIDDEN at each instance when the caller may not read the
        field (nullable ones; a non-null one propagates its null: strawberry's job)."""
        definition, field = self._definition(parent, nodes)
        metadata = (field.metadata if field is not None else None) or {}
        operation = parent.name in ("Query", "Mutation", "Subscription")
        permission = metadata.get(PERMISSION) or (WILDCARD if operation else None)
        if permission is None:
            return None
        error = forbidden(self.principal, nodes[0].name.value, permission)
        if error is None:
            return None
        if operation or is_non_null_type(definition.type):
            raise Unsupported("a forbidden field whose null propagates")

        def denied(_row: Any, run: Run, path: Path) -> None:
            run.error(error, nodes, (*path, key))

        return denied

    def _masked(self, field: Any, convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
        kind = (field.metadata or {}).get(PII_FIELD) if field is not None else None
        if kind is None or self.clear:
            return convert

        def masked(value: Any) -> Any:
            hidden = mask(value, kind)  # a date or a number masks to null
            return None if hidden is None else convert(hidden)

        return masked

    # Plan ------------------------------------------------------------------------------------

    def plan(self) -> Plan:
        if self.operation.operation is not OperationType.QUERY:
            raise Unsupported("not a query")
        query = self.graphql.query_type
        roots = []
        for key, nodes in self.collect(query, [self.operation]).items():
            if nodes[0].name.value == "__typename":
                raise Unsupported("root __typename")
            definition, _ = self._definition(query, nodes)
            if self._denied(query, key, nodes) is not None:
                raise Unsupported("forbidden root field")
            field = Field(definition, nodes, self.schema)
            roots.append((key, *self._root(key, field)))
        return Plan(roots)

    def _root(self, key: str, field: Field) -> tuple[Relation, RootWriter]:
        name = field.nodes[0].name.value
        if name in LISTS:
            model, build = LISTS[name]
            relation = RootList(Columns(model), read_predicate(self.principal, model), field, build)
            write = self._connection(field, relation)
            return relation, lambda run: write(run.found[id(relation)], run, (key,))
        if name in bindings.LOOKUPS or name in ("node", "nodes"):
            types = [bindings.LOOKUPS[name]] if name in bindings.LOOKUPS else list(NODE_PERMISSIONS)
            by_type = {}
            for type_name in types:
                model = bindings.MODELS[type_name]
                runtime = self.graphql.get_type(type_name)
                shape = self.shape(runtime, field.nodes, Columns(model))
                by_type[type_name] = (
                    shape,
                    read_predicate(self.principal, model),
                    NODE_PERMISSIONS[type_name],
                )
            relation = Lookup(field, by_type, name == "nodes", MAX_NODES)
            shapes = {type_name: entry[0] for type_name, entry in by_type.items()}

            def write_one(found: tuple[str, Any], run: Run, path: Path) -> Any:
                type_name, row = found
                return None if row is None else shapes[type_name].write(row, run, path)

            if name == "nodes":
                return relation, lambda run: [
                    write_one(found, run, (key, i))
                    for i, found in enumerate(run.found[id(relation)])
                ]
            return relation, lambda run: write_one(run.found[id(relation)][0], run, (key,))
        raise Unsupported(f"Query.{name}")

    # Connections -----------------------------------------------------------------------------

    def _connection(self, field: Field, relation: Any) -> Callable[[Paged, Run, Path], Any]:
        """The writer of a connection over ``relation``'s pages."""
        connection = get_named_type(field.definition.type)
        node_type = get_named_type(connection.fields["nodes"].type)
        model = relation.columns.model
        entries: list[tuple[str, Callable[[Paged, Run, Path], Any]]] = []
        cursors = False
        for key, nodes in self.collect(connection, field.nodes).items():
            name = nodes[0].name.value
            if name == "__typename":
                entries.append((key, _const(connection.name)))
            elif name == "totalCount":
                relation.count = True
                entries.append((key, lambda page, _run, _path: page.count))
            elif name == "nodes":
                shape = self.shape(node_type, nodes, relation.columns)
                relation.shapes.append(shape)
                entries.append((key, _rows_writer(shape, key)))
            elif name == "pageInfo":
                info, wants = self._page_info(connection.fields["pageInfo"].type, nodes, model)
                cursors = cursors or wants
                entries.append((key, info))
            elif name == "edges":
                edges, wants = self._edges(
                    connection.fields["edges"].type, nodes, relation, key, model
                )
                cursors = cursors or wants
                entries.append((key, edges))
            else:
                raise Unsupported(f"{connection.name}.{name}")
        if cursors:
            order_by = getattr(relation, "order_by", None) or bindings.LIST_ORDER[model]
            for column in _sort_columns(order_by):
                relation.columns.index(column)

        def write(page: Paged, run: Run, path: Path) -> dict[str, Any]:
            return {key: entry(page, run, path) for key, entry in entries}

        return write

    def _page_info(self, info_type: Any, nodes: list[FieldNode], model: Any) -> tuple[Any, bool]:
        info_type = get_named_type(info_type)
        readers = {
            "hasNextPage": lambda page: page.has_next,
            "hasPreviousPage": lambda page: page.has_previous,
            "startCursor": lambda page: (
                encode_cursor(page.ordering, page.rows[0], model) if page.rows else None
            ),
            "endCursor": lambda page: (
                encode_cursor(page.ordering, page.rows[-1], model) if page.rows else None
            ),
            "__typename": _const(info_type.name),
        }
        parts = [
            (key, readers[nodes[0].name.value])
            for key, nodes in self.collect(info_type, nodes).items()
        ]
        wants = any(
            nodes[0].name.value.endswith("Cursor")
            for nodes in self.collect(info_type, nodes).values()
        )
        return (lambda page, _run, _path: {key: read(page) for key, read in parts}), wants

    def _edges(
        self, edges_type: Any, nodes: list[FieldNode], relation: Any, key: str, model: Any
    ) -> tuple[Any, bool]:
        edge_type = get_named_type(edges_type)
        parts: list[tuple[str, Any]] = []
        wants = False
        for edge_key, edge_nodes in self.collect(edge_type, nodes).items():
            name = edge_nodes[0].name.value
            if name == "__typename":
                parts.append((edge_key, _const(edge_type.name)))
            elif name == "cursor":
                wants = True
                parts.append(
                    (
                        edge_key,
                        lambda row, page, _run, _path: encode_cursor(page.ordering, row, model),
                    )
                )
            elif name == "node":
                shape = self.shape(
                    get_named_type(edge_type.fields["node"].type), edge_nodes, relation.columns
                )
                relation.shapes.append(shape)
                parts.append(
                    (
                        edge_key,
                        lambda row, _page, run, at, shape=shape, k=edge_key: shape.write(
                            row, run, (*at, k)
                        ),
                    )
                )
            else:
                raise Unsupported(f"{edge_type.name}.{name}")

        def write(page: Paged, run: Run, path: Path) -> list[dict[str, Any]]:
            return [
                {k: part(row, page, run, (*path, key, i)) for k, part in parts}
                for i, row in enumerate(page.rows)
            ]

        return write, wants

    # Objects over rows ---------------------------------------------------------------------

    def shape(self, runtime: GraphQLObjectType, nodes: list[FieldNode], columns: Columns) -> Shape:
        """The writer of ``runtime`` objects from ``columns.model`` rows."""
        if bindings.MODELS.get(runtime.name) is not columns.model:
            raise Unsupported(f"{runtime.name} over {columns.model.__name__}")
        shape = Shape(runtime.name, columns)
        for key, field_nodes in self.collect(runtime, nodes).items():
            shape.fields.append((key, self._field(shape, runtime, key, field_nodes)))
        # Batch functions last: they find the level's related rows already read.
        shape.relations.sort(key=lambda relation: isinstance(relation, Batch))
        return shape

    def _field(
        self, shape: Shape, parent: GraphQLObjectType, key: str, nodes: list[FieldNode]
    ) -> Any:
        if nodes[0].name.value == "__typename":
            return _const(parent.name)
        denied = self._denied(parent, key, nodes)
        if denied is not None:
            return denied
        definition, field = self._definition(parent, nodes)
        columns = shape.columns
        contract = (field.metadata or {}).get(CONTRACT)
        binding = bindings.FIELDS.get((parent.name, nodes[0].name.value))
        if isinstance(contract, TableField):
            return self._table_field(shape, definition, field, contract, key, nodes)
        if isinstance(contract, BatchField):
            return self._batch_field(
                shape, Field(definition, nodes, self.schema), field, contract, key
            )
        if binding is None and field.base_resolver is None:
            binding = bindings.Column(field.python_name)
        if isinstance(binding, bindings.Column):
            return self._column(columns.index(binding.name), definition.type, field)
        if isinstance(binding, bindings.GlobalId):
            index, type_name = columns.index("id"), binding.type_name or parent.name
            return lambda row, _run, _path: global_id(type_name, row[index])
        if isinstance(binding, bindings.Money):
            return self._money(columns, binding, definition, nodes)
        if isinstance(binding, bindings.Objects):
            return self._objects(columns.index(binding.column), definition, field, nodes)
        if isinstance(binding, bindings.Pages):
            target = binding.model
            relation = ChildPages(
                Columns(target),
                read_predicate(self.principal, target),
                Field(definition, nodes, self.schema),
                columns.index("id"),
                binding.key,
                binding.order_by,
            )
            shape.relations.append(relation)
            write = self._connection(relation.field, relation)
            index = columns.index("id")
            return lambda row, run, path: write(
                run.found[id(relation)][row[index]], run, (*path, key)
            )
        if isinstance(binding, bindings.Reference | bindings.Children):
            many = isinstance(binding, bindings.Children)
            target = binding.model
            parent_index = columns.index("id" if many else binding.key)
            relation = ByKey(
                Columns(target, bindings.EXTRAS.get(target)),
                read_predicate(self.principal, target),
                parent_index,
                binding.key if many else "id",
                order_by=binding.order_by if many else None,
            )
            child = self.shape(get_named_type(definition.type), nodes, relation.columns)
            relation.shapes.append(child)
            shape.relations.append(relation)
            if many:
                return lambda row, run, path: [
                    child.write(item, run, (*path, key, i))
                    for i, item in enumerate(run.found[id(relation)].get(row[parent_index], ()))
                ]
            return lambda row, run, path: child.write(
                _required(run.found[id(relation)].get(row[parent_index])), run, (*path, key)
            )
        raise Unsupported(f"{parent.name}.{nodes[0].name.value} has a resolver only")

    def _column(self, index: int, graphql_type: Any, field: Any) -> Any:
        nullable = not is_non_null_type(graphql_type)
        convert = self._leaf_or_list(graphql_type)
        convert = self._masked(field, convert)

        def column(row: Any, _run: Run, _path: Path) -> Any:
            value = row[index]
            if value is None:
                return None if nullable else _required(None)
            return convert(value)

        return column

    def _leaf_or_list(self, graphql_type: Any) -> Callable[[Any], Any]:
        inner = graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type
        if isinstance(inner, GraphQLList):
            item = self._leaf_or_list(inner.of_type)
            return lambda values: [None if v is None else item(v) for v in values]
        if not is_leaf_type(inner):
            raise Unsupported(f"a column of type {inner}")
        return leaf(inner)

    def _objects(self, index: int, definition: Any, field: Any, nodes: list[FieldNode]) -> Any:
        """The writer of a list of objects stored in one JSON column, masked as a whole as
        the field declares (the object's own fields hold no masks of their own)."""
        object_type = get_named_type(definition.type)
        parts: list[tuple[str, str | None, Callable[[Any], Any], bool]] = []
        for key, field_nodes in self.collect(object_type, nodes).items():
            if field_nodes[0].name.value == "__typename":
                parts.append((key, None, _const(object_type.name), True))
                continue
            sub_definition, sub_field = self._definition(object_type, field_nodes)
            nullable = not is_non_null_type(sub_definition.type)
            convert = self._leaf_or_list(sub_definition.type)
            parts.append((key, sub_field.python_name, convert, nullable))
        shown = self._masked(field, lambda value: value)

        def write(item: dict[str, Any]) -> dict[str, Any]:
            out = {}
            for key, name, convert, nullable in parts:
                value = item.get(name) if name is not None else None
                if name is None:
                    out[key] = convert(value)
                elif value is None:
                    out[key] = None if nullable else _required(None)
                else:
                    out[key] = convert(value)
            return out

        def objects(row: Any, _run: Run, _path: Path) -> list[dict[str, Any]]:
            return [write(item) for item in shown(row[index] or [])]

        return objects

    def _money(
        self, columns: Columns, binding: Any, definition: Any, nodes: list[FieldNode]
    ) -> Any:
        money_type = get_named_type(definition.type)
        amounts = [columns.index(name) for name in binding.amount]
        currency_index = columns.index(binding.currency)
        parts = []
        for key, money_nodes in self.collect(money_type, nodes).items():
            name = money_nodes[0].name.value
            parts.append((key, {"amount": "a", "currency": "c", "__typename": "t"}[name]))

        def money(row: Any, _run: Run, _path: Path) -> dict[str, Any]:
            currency = row[currency_index]
            amount = row[amounts[0]]
            for index in amounts[1:]:
                amount = amount * row[index]
            values = {
                "a": str(_required(amount).quantize(minor_unit(currency))),
                "c": currency,
                "t": "Money",
            }
            return {key: values[part] for key, part in parts}

        return money

    # Plugin fields (the field contract) ----------------------------------------------------

    def _table_field(
        self,
        shape: Shape,
        definition: Any,
        field: Any,
        contract: TableField,
        key: str,
        nodes: list[FieldNode],
    ) -> Any:
        relation = contract.relation
        if not isinstance(relation, Related):
            raise Unsupported("a table field of rows")
        parent_index = shape.columns.index(relation.parent_key)
        fetch = ByKey(
            Columns(relation.table),
            read_predicate(self.principal, relation.table),
            parent_index,
            relation.key,
            declared=relation,
        )
        # Whole rows: a batch function loading this relation gets them as its rows.
        for column in relation.table.__table__.c:
            fetch.columns.index(column.key)
        shape.relations.append(fetch)
        if contract.column is None:  # the related row, as an object
            child = self.shape(get_named_type(definition.type), nodes, fetch.columns)
            fetch.shapes.append(child)
            nullable = not is_non_null_type(definition.type)

            def related_object(row: Any, run: Run, path: Path) -> Any:
                found = run.found[id(fetch)].get(row[parent_index])
                if found is None:
                    return None if nullable else _required(None)
                return child.write(found, run, (*path, key))

            return related_object
        value_index = fetch.columns.index(contract.column)
        column = self._column(0, definition.type, field)
        default = contract.default

        def table_value(row: Any, run: Run, path: Path) -> Any:
            found = run.found[id(fetch)].get(row[parent_index])
            return column((default if found is None else found[value_index],), run, path)

        return table_value

    def _batch_field(
        self, shape: Shape, plan_field: Field, field: Any, contract: BatchField, key: str
    ) -> Any:
        # Whole rows, not only ``parent_columns``: a function reading an undeclared attribute
        # must still get it (on the classic path it reads the ORM row).
        for column in shape.columns.model.__table__.c:
            shape.columns.index(column.key)
        relation = Batch(plan_field, contract)
        shape.relations.append(relation)
        write = self.value(plan_field.definition.type, plan_field.nodes)
        nullable = not is_non_null_type(plan_field.definition.type)
        nodes = plan_field.nodes

        def batch_value(row: Any, run: Run, path: Path) -> Any:
            value = run.found[id(relation)][id(row)]
            if isinstance(value, Exception):
                if not nullable:
                    raise Fallback
                run.error(value, nodes, (*path, key))
                return None
            return write(value, run, (*path, key))

        return batch_value

    def value(self, graphql_type: Any, nodes: list[FieldNode]) -> Callable[[Any, Run, Path], Any]:
        """The writer of a Python value (a batch function's) of ``graphql_type``: attributes
        of plain strawberry objects, lists, scalars and enums."""
        nullable = not is_non_null_type(graphql_type)
        inner = graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type
        if isinstance(inner, GraphQLList):
            item = self.value(inner.of_type, nodes)

            def items(value: Any, run: Run, path: Path) -> Any:
                if value is None:
                    return None if nullable else _required(None)
                return [item(v, run, (*path, i)) for i, v in enumerate(value)]

            return items
        if is_leaf_type(inner):
            convert = leaf(inner)
            return lambda value, _run, _path: (
                convert(value) if value is not None else (None if nullable else _required(None))
            )
        if not isinstance(inner, GraphQLObjectType):
            raise Unsupported(f"a value of type {inner}")
        parts = []
        for key, field_nodes in self.collect(inner, nodes).items():
            if field_nodes[0].name.value == "__typename":
                parts.append((key, None, _const(inner.name)))
                continue
            if self._denied(inner, key, field_nodes) is not None:
                raise Unsupported("a forbidden field of a batch value")
            definition, field = self._definition(inner, field_nodes)
            binding = bindings.FIELDS.get((inner.name, field_nodes[0].name.value))
            if isinstance(binding, bindings.GlobalId):  # a row's id as its global ID
                type_name = binding.type_name or inner.name
                parts.append((key, "id", lambda pk, _run, _path, t=type_name: global_id(t, pk)))
                continue
            if (
                field is None
                or field.base_resolver is not None
                or (field.metadata or {}).get(CONTRACT)
            ):
                raise Unsupported(f"{inner.name}.{field_nodes[0].name.value} has a resolver")
            write = self.value(definition.type, field_nodes)
            if (field.metadata or {}).get(PII_FIELD) and not self.clear:
                raise Unsupported("personal data in a batch value")
            parts.append((key, field.python_name, write))

        def obj(value: Any, run: Run, path: Path) -> Any:
            if value is None:
                return None if nullable else _required(None)
            return {
                key: write(value, run, path)
                if name is None
                else write(getattr(value, name), run, (*path, key))
                for key, name, write in parts
            }

        return obj


def _rows_writer(shape: Shape, key: str) -> Callable[[Paged, Run, Path], Any]:
    def write(page: Paged, run: Run, path: Path) -> list[Any]:
        return [shape.write(row, run, (*path, key, i)) for i, row in enumerate(page.rows)]

    return write


def _sort_columns(order_by: type) -> list[str]:
    """Every column a cursor of this list may hold (the orderBy's fields, and id)."""
    field_enum = type(order_by().field)
    return [member.value for member in field_enum]
