"""Building a plan from a validated operation: the relations to fetch and the writers.

Selections are collected as graphql-core collects them (fragments, inline fragments on
interfaces, ``@skip``/``@include``, whose variables are part of the plan's key), fields are
checked against the caller's grants, and each field becomes a writer reading row columns,
a relation's rows, or a plugin batch function's values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLString,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    is_non_null_type,
)
from sqlalchemy import and_

from crm_graph.auth.declare import PERMISSION, PII_FIELD
from crm_graph.auth.guard import forbidden
from crm_graph.auth.permissions import WILDCARD
from crm_graph.auth.personal import PII_PERMISSION, mask
from crm_graph.auth.scope import read_predicate
from crm_graph.db.jsonable import global_id, minor_unit
from crm_graph.db.paging import encode_cursor
from crm_graph.db.related import RelatedRows
from crm_graph.schema.planner import bindings
from crm_graph.schema.planner.generated import inline, record
from crm_graph.schema.planner.lookups import NODES_DENIED, lookup_root, node_types
from crm_graph.schema.planner.relations import (
    Batch,
    ByKey,
    ChildPages,
    Computed,
    Field,
    Paged,
    Relation,
    RootList,
)
from crm_graph.schema.planner.run import (
    Columns,
    Fallback,
    Level,
    Null,
    Path,
    Run,
    Shape,
    Unsupported,
    Writer,
    fetch_tree,
)
from crm_graph.schema.planner.values import as_is, leaf
from crm_graph.schema.plugin_fields import (
    CONTRACT,
    BatchField,
    ListField,
    QueryField,
    RowLookup,
    TableField,
)

RootWriter = Callable[[Run], Any]


def _contract(definition: GraphQLField) -> Any:
    field = definition.extensions.get("strawberry-definition")
    return (field.metadata or {}).get(CONTRACT) if field is not None else None


def roots(graphql: Any) -> set[str]:
    """The Query fields a plan starts from: the lists declared with ``list_field`` or
    ``rows_field`` (the core's and plugins'), query fields, lookups by ID (the core's and
    plugins' ``lookup_field``) and ``node``/``nodes``."""
    declared = {
        name
        for name, definition in graphql.query_type.fields.items()
        if isinstance(_contract(definition), ListField | QueryField | RowLookup)
    }
    return {*declared, *bindings.LOOKUPS, "node", "nodes"}


class Plan:
    """The relations to fetch, root by root (none for a field the caller may not read), and
    the writer of the response's ``data``."""

    def __init__(self, roots: list[tuple[str, Relation | None, RootWriter]]) -> None:
        self.roots = roots
        writers = [(key, write) for key, _, write in roots]
        self.write = lambda run: {key: write(run) for key, write in writers}

    async def execute(self, run: Run) -> dict[str, Any] | None:
        for _, relation, _ in self.roots:
            if relation is None:
                continue
            for shape, rows in await relation.fetch(run, None):
                if rows:
                    await fetch_tree(run, shape, rows)
        return self.write(run)


@dataclass(frozen=True)
class Event:
    """Where a response may get an error, for deciding at plan time which error a null
    propagating from a non-null field reports, as the executor would.

    ``depth`` counts the reads (statements or batch calls) before the error happens; ``site``
    is a non-null field's error still on its way up, raised on objects of ``scope`` (whose
    fields fail in the order they are asked for), else an error reported where it happens.
    """

    depth: float
    scope: object
    site: bool


def _caught(writer: Any, first: float) -> Any:
    """``writer`` of a field that may be null, where a null from a non-null field below stops:
    the field is null and reports that field's error, alone (the executor cancels the
    field's other work when the error happens: errors below that would come later never do)."""

    def caught(*args: Any) -> Any:
        run = args[1] if len(args) == 3 else args[0]  # (row, run, path) or a root's (run)
        mark = len(run.errors)
        try:
            return writer(*args)
        except Null as null:
            del run.errors[mark:], run.depths[mark:]
            run.report(null.error, first)
            return None

    return caught


def _falls_back(writer: Any) -> Any:
    """``writer`` where which error a propagating null reports depends on timing: a null
    arriving here hands the request to strawberry; without one every error is reported
    (the executor waits for every field), so the plan answers as strawberry would."""

    def falls_back(*args: Any) -> Any:
        try:
            return writer(*args)
        except Null as null:
            raise Fallback from null

    return falls_back


def _data(writers: list[tuple[str, Any]], clear: list[bool]) -> Any:
    """The writer of ``data`` when a non-null root field may fail: every root is written (the
    errors of other roots before the failure stay), and on a failure ``data`` is null with
    the errors that came before it and the first failure's.

    Reads down order the errors of one root field (``clear``: whether its own order is
    plain, see :meth:`PlanBuilder._clear`); those of different root fields run concurrently,
    and which of their reads the database answers first decides what strawberry reports. So
    a failure before any read (a guard, a ``nodes`` ID check) comes first; a later one is
    answered here only when it is its plain root's, alone, and the other roots reported
    errors only before their first read: otherwise the request falls back."""

    def write(run: Run) -> dict[str, Any] | None:
        data, nulls, spans = {}, [], []  # spans: each root's errors
        for index, (key, writer) in enumerate(writers):
            mark = len(run.errors)
            try:
                data[key] = writer(run)
            except Null as failed:
                nulls.append((failed.depth, index, failed))
            spans.append(range(mark, len(run.errors)))
        if not nulls:
            return data
        depth, index, null = min(nulls, key=lambda found: found[:2])  # the fewest reads down
        if depth >= 1 and (
            len(nulls) > 1
            or not clear[index]
            or any(run.depths[e] >= 1 for k, span in enumerate(spans) if k != index for e in span)
        ):
            raise Fallback from null
        # Root fields all take their first step before any fails: errors there stay too.
        kept = [(e, d) for e, d in zip(run.errors, run.depths, strict=True) if d < depth or d == 0]
        run.errors, run.depths = [e for e, _ in kept], [d for _, d in kept]
        run.report(null.error, depth)
        return None

    return write


_TYPENAME = GraphQLField(GraphQLNonNull(GraphQLString))


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
        dialect: str,
    ) -> None:
        self.schema = schema
        self.dialect = dialect
        self.graphql = schema._schema
        self.fragments = fragments
        self.operation = operation
        self.principal = principal
        self.conditions = conditions
        self.clear = principal.has(PII_PERMISSION)
        # Reads before the level being planned, and the places errors may happen so far.
        self.depth = 0
        self.events: list[Event] = []

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

    def _denied(
        self, parent: GraphQLObjectType, key: str, nodes: list[FieldNode], scope: object
    ) -> Any:
        """When the caller may not read the field, a writer reporting FORBIDDEN at each
        instance: a null where the field may be null, else a null propagating (see
        :meth:`_boundary`)."""
        definition, field = self._definition(parent, nodes)
        metadata = (field.metadata if field is not None else None) or {}
        operation = parent.name in ("Query", "Mutation", "Subscription")
        permission = metadata.get(PERMISSION) or (WILDCARD if operation else None)
        if permission is None:
            return None
        error = forbidden(self.principal, nodes[0].name.value, permission)
        if error is None:
            return None
        site, depth = is_non_null_type(definition.type), self.depth
        self.events.append(Event(depth, scope, site))

        def denied(_row: Any, run: Run, path: Path) -> None:
            located = run.located(error, nodes, (*path, key))
            if site:
                raise Null(located, depth)
            run.report(located, depth)

        return denied

    def _boundary(self, start: int, writer: Any) -> Any:
        """``writer`` of a field that may be null, planned since event ``start``: where the
        null of a non-null field the caller may not read stops.

        The executor reports the error of the field that fails first: the fewest reads
        down, the first asked for among fields of one object. Other errors below come later
        (they are cancelled) or sooner (they stay): when the order is not that clear (fields
        failing on objects of different levels or lists), a null arriving here falls back
        (see :func:`_falls_back`)."""
        events = self.events[start:]
        sites = [event for event in events if event.site]
        if not sites:
            return writer
        first = min(event.depth for event in sites)
        if len({(id(event.scope), event.depth) for event in sites}) > 1 or any(
            not event.site and event.depth <= first for event in events
        ):
            # A null never leaves this field: above it, only the errors reported below.
            self.events[start:] = [event for event in events if not event.site]
            return _falls_back(writer)
        del self.events[start:]
        self.events.append(Event(first, None, False))
        return _caught(writer, first)

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
        roots: list[tuple[str, Relation | None, RootWriter]] = []
        owned: list[list[Event]] = []  # the events each root field leaves for data's level
        for key, nodes in self.collect(query, [self.operation]).items():
            if nodes[0].name.value == "__typename":
                raise Unsupported("root __typename")
            definition, _ = self._definition(query, nodes)
            start = len(self.events)
            denied = self._denied(query, key, nodes, query)
            if denied is not None:
                relation, write = None, (lambda run, denied=denied: denied(None, run, ()))
            else:
                relation, write = self._root(key, Field(definition, nodes, self.schema))
            if not is_non_null_type(definition.type):
                write = self._boundary(start, write)
            # After the field's own boundary: that error and the objects are either or.
            may_deny = self._may_deny(nodes[0].name.value)
            if may_deny is not None:
                self.events.append(may_deny)
            owned.append(self.events[start:])
            roots.append((key, relation, write))
        plan = Plan(roots)
        if any(event.site for events in owned for event in events):
            clear = [self._clear(events) for events in owned]
            plan.write = _data([(key, write) for key, _, write in roots], clear)
        return plan

    @staticmethod
    def _clear(events: list[Event]) -> bool:
        """Whether a root field's own errors come in a plain order (see :meth:`_boundary`):
        its nulls start on objects of one level, and no error of its own is reported at that
        level or before it but its guards'."""
        own = {(id(event.scope), event.depth) for event in events if event.site}
        if len(own) != 1:
            return False
        [(_, first)] = own
        return not any(not event.site and event.depth <= first for event in events)

    def _root(self, key: str, field: Field) -> tuple[Relation, RootWriter]:
        name = field.nodes[0].name.value
        declared = _contract(field.definition)
        if isinstance(declared, ListField):
            model = declared.model
            scopes = [
                scope
                for scope in (
                    read_predicate(self.principal, model, self.dialect),
                    declared.owned(self.principal, self.dialect),
                )
                if scope is not None
            ]
            predicate = and_(*scopes) if scopes else None
            relation = RootList(Columns(model), predicate, field, declared)
            if not declared.paged:  # a plain list of the rows
                node_type = get_named_type(field.definition.type)
                shape = self.shape(node_type, field.nodes, relation.columns)
                relation.shapes.append(shape)
                rows = _rows_writer(shape, key)
                return relation, lambda run: rows(run.found[id(relation)], run, ())
            write = self._connection(field, relation)
            return relation, lambda run: write(run.found[id(relation)], run, (key,))
        if isinstance(declared, QueryField):
            return self._query_field(key, field, declared)
        if isinstance(declared, RowLookup) or name in (*bindings.LOOKUPS, "node", "nodes"):
            return lookup_root(
                self, key, field, declared if isinstance(declared, RowLookup) else None
            )
        raise Unsupported(f"Query.{name}")

    def _query_field(
        self, key: str, field: Field, declared: QueryField
    ) -> tuple[Relation, RootWriter]:
        """A query field: its function's value, written as a batch function's values are (its
        objects' table-backed and batch fields read for all of them at once); the exception
        it raises is the field's error."""
        relation = Computed(field, declared, Level())
        self.events.append(Event(1, self.graphql.query_type, False))  # after its one call
        self.depth += 1
        write = self.value(field.definition.type, field.nodes, relation.level)
        self.depth -= 1
        nullable = not is_non_null_type(field.definition.type)
        nodes = field.nodes

        def computed(run: Run) -> Any:
            value = run.found[id(relation)]
            if isinstance(value, Exception):
                if not nullable:
                    raise Fallback  # strawberry reports it and nulls data
                run.error(value, nodes, (key,), 1)
                return None
            return write(value, run, (key,))

        return relation, computed

    def _may_deny(self, name: str) -> Event | None:
        """The error ``node``/``nodes`` report, at run time, for an ID of a type the caller
        may not read (``nodes``' null propagates); None when the caller reads every type."""
        permissions = [permission for _, permission, _ in node_types(self.schema).values()]
        if name not in ("node", "nodes") or all(map(self.principal.has, permissions)):
            return None
        if name == "node":  # in the root field's own step, as the guards of root fields
            return Event(0, self.graphql.query_type, False)
        return Event(NODES_DENIED, self.graphql.query_type, True)

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
            for column in _sort_columns(relation.order_by):
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
        # A core type is over its table; a plugin's type over the rows its field declares.
        if bindings.MODELS.get(runtime.name, columns.model) is not columns.model:
            raise Unsupported(f"{runtime.name} over {columns.model.__name__}")
        shape = Shape(runtime.name, columns)
        self.depth += 1  # the rows of this level are one read further down
        for key, field_nodes in self.collect(runtime, nodes).items():
            start = len(self.events)
            write = self._field(shape, runtime, key, field_nodes)
            if not is_non_null_type(runtime.fields.get(field_nodes[0].name.value, _TYPENAME).type):
                write = self._boundary(start, write)
            shape.fields.append((key, write))
        self.depth -= 1
        shape.seal()
        # Batch functions last: they find the level's related rows already read.
        shape.relations.sort(key=lambda relation: isinstance(relation, Batch))
        return shape

    def _field(
        self, shape: Shape, parent: GraphQLObjectType, key: str, nodes: list[FieldNode]
    ) -> Any:
        if nodes[0].name.value == "__typename":
            return _const(parent.name)
        denied = self._denied(parent, key, nodes, shape)
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
        if binding is None and _pure(field) is not None:
            # Whole rows: the resolver may read any column (rows answer attributes by name).
            for column in columns.model.__table__.c:
                columns.index(column.key)
            return self._computed(field, definition.type, nodes, key)
        if isinstance(binding, bindings.Column):
            return self._column(columns.index(binding.name), definition.type, field)
        if isinstance(binding, bindings.GlobalId):
            index, type_name = columns.index("id"), binding.type_name or parent.name
            return inline(
                lambda row, _run, _path: global_id(type_name, row[index]),
                f"{{global_id}}({{type_name}}, row[{index}])",
                global_id=global_id,
                type_name=type_name,
            )
        if isinstance(binding, bindings.Money):
            return self._money(columns, binding, definition, nodes)
        if isinstance(binding, bindings.Objects):
            return self._objects(columns.index(binding.column), definition, field, nodes)
        if isinstance(binding, bindings.Pages):
            target = binding.model
            relation = ChildPages(
                Columns(target),
                read_predicate(self.principal, target, self.dialect),
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
            return self._reference(shape, binding, definition, nodes, key)
        raise Unsupported(f"{parent.name}.{nodes[0].name.value} has a resolver only")

    def _reference(
        self,
        shape: Shape | Level,
        binding: bindings.Reference | bindings.Children,
        definition: Any,
        nodes: list[FieldNode],
        key: str,
    ) -> Writer:
        """A core reference (the row a key points at) or children (the rows pointing at the
        parent), read for every parent of the level, rows or a batch function's objects, in
        one statement."""
        many = isinstance(binding, bindings.Children)
        target = binding.model
        parent_key = shape.key_of("id" if many else binding.key)
        relation = ByKey(
            Columns(target, bindings.EXTRAS.get(target)),
            read_predicate(self.principal, target, self.dialect),
            parent_key,
            binding.key if many else "id",
            order_by=binding.order_by if many else None,
        )
        child = self.shape(get_named_type(definition.type), nodes, relation.columns)
        relation.shapes.append(child)
        shape.relations.append(relation)
        if many:
            return lambda row, run, path: [
                child.write(item, run, (*path, key, i))
                for i, item in enumerate(run.found[id(relation)].get(parent_key(row), ()))
            ]
        return lambda row, run, path: child.write(
            _required(run.found[id(relation)].get(parent_key(row))), run, (*path, key)
        )

    def _column(self, index: int, graphql_type: Any, field: Any) -> Any:
        nullable = not is_non_null_type(graphql_type)
        convert = self._masked(field, self._leaf_or_list(graphql_type, native=True))

        def column(row: Any, _run: Run, _path: Path) -> Any:
            value = row[index]
            if value is None:
                return None if nullable else _required(None)
            return convert(value)

        # The same, read inline by the object's writer (see generated.py).
        if convert is as_is:
            expression = f"row[{index}]" if nullable else f"{{required}}(row[{index}])"
        elif nullable:
            expression = f"(None if (v := row[{index}]) is None else {{convert}}(v))"
        else:
            expression = f"{{convert}}({{required}}(row[{index}]))"
        return inline(column, expression, convert=convert, required=_required)

    def _computed(self, field: Any, graphql_type: Any, nodes: list[FieldNode], key: str) -> Writer:
        """A field computed from its object alone (see :func:`_pure`): its resolver called
        with the row or value; an error it raises is strawberry's to report. A value of an
        object type (``Money``...) is written as a batch function's values are."""
        resolve = _pure(field)
        if not is_leaf_type(get_named_type(graphql_type)):
            if (field.metadata or {}).get(PII_FIELD) and not self.clear:
                raise Unsupported("personal data in a computed object")
            write = self.value(graphql_type, nodes)

            def computed_object(obj: Any, run: Run, path: Path) -> Any:
                try:
                    value = resolve(obj)
                except Exception as exc:
                    raise Fallback from exc
                return write(value, run, (*path, key))

            return computed_object
        nullable = not is_non_null_type(graphql_type)
        convert = self._masked(field, self._leaf_or_list(graphql_type))

        def computed(obj: Any, _run: Run, _path: Path) -> Any:
            try:
                value = resolve(obj)
            except Exception as exc:
                raise Fallback from exc
            if value is None:
                return None if nullable else _required(None)
            return convert(value)

        return computed

    def _contextual(self, binding: Any, field: Any, graphql_type: Any) -> Writer:
        """A field computed from its object and the request context (``Event.payload``)."""
        function = binding.function
        nullable = not is_non_null_type(graphql_type)
        convert = self._masked(field, self._leaf_or_list(graphql_type))

        def contextual(obj: Any, run: Run, _path: Path) -> Any:
            value = function(obj, run.request_context())
            if value is None:
                return None if nullable else _required(None)
            return convert(value)

        return contextual

    def _leaf_or_list(self, graphql_type: Any, native: bool = False) -> Callable[[Any], Any]:
        """A column's conversion to JSON (``native``: see :func:`.values.leaf`)."""
        inner = graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type
        if isinstance(inner, GraphQLList):
            item = self._leaf_or_list(inner.of_type, native)
            return lambda values: [None if v is None else item(v) for v in values]
        if not is_leaf_type(inner):
            raise Unsupported(f"a column of type {inner}")
        return leaf(inner, native)

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
        expressions = {"amount": "amount", "currency": "currency", "__typename": "'Money'"}
        make = record(
            [
                (key, expressions[money_nodes[0].name.value])
                for key, money_nodes in self.collect(money_type, nodes).items()
            ],
            "amount, currency",
        )
        first, factors = amounts[0], amounts[1:]
        units: dict[str, Any] = {}  # each currency's minor unit, looked up once per plan

        def money(row: Any, _run: Run, _path: Path) -> dict[str, Any]:
            currency = row[currency_index]
            amount = row[first]
            for index in factors:
                amount = amount * row[index]
            unit = units.get(currency)
            if unit is None:
                unit = units[currency] = minor_unit(currency)
            return make(str(_required(amount).quantize(unit)), currency)

        return money

    # Plugin fields (the field contract) ----------------------------------------------------

    def _table_field(
        self,
        shape: Shape | Level,
        definition: Any,
        field: Any,
        contract: TableField,
        key: str,
        nodes: list[FieldNode],
    ) -> Any:
        relation = contract.relation
        many = isinstance(relation, RelatedRows)
        parent_key = shape.key_of(relation.parent_key)
        fetch = ByKey(
            Columns(relation.table),
            read_predicate(self.principal, relation.table, self.dialect),
            parent_key,
            relation.key,
            order_by=relation.order_by if many else None,
            declared=relation,
            limit=relation.limit if many else None,
        )
        # Whole rows: a batch function loading this relation gets them as its rows.
        for column in relation.table.__table__.c:
            fetch.columns.index(column.key)
        shape.relations.append(fetch)
        if many:  # the related rows, as a list of objects
            child = self.shape(get_named_type(definition.type), nodes, fetch.columns)
            fetch.shapes.append(child)

            def related_rows(row: Any, run: Run, path: Path) -> list[Any]:
                found = run.found[id(fetch)].get(parent_key(row), ())
                return [child.write(item, run, (*path, key, i)) for i, item in enumerate(found)]

            return related_rows
        if contract.column is None:  # the related row, as an object
            child = self.shape(get_named_type(definition.type), nodes, fetch.columns)
            fetch.shapes.append(child)
            nullable = not is_non_null_type(definition.type)

            def related_object(row: Any, run: Run, path: Path) -> Any:
                found = run.found[id(fetch)].get(parent_key(row))
                if found is None:
                    return None if nullable else _required(None)
                return child.write(found, run, (*path, key))

            return related_object
        value_index = fetch.columns.index(contract.column)
        column = self._column(0, definition.type, field)
        default = contract.default

        def table_value(row: Any, run: Run, path: Path) -> Any:
            found = run.found[id(fetch)].get(parent_key(row))
            return column((default if found is None else found[value_index],), run, path)

        return table_value

    def _batch_field(
        self, shape: Shape | Level, plan_field: Field, field: Any, contract: BatchField, key: str
    ) -> Any:
        # Whole rows, not only ``parent_columns``: a function reading an undeclared attribute
        # must still get it (on the classic path it reads the ORM row).
        for column in shape.columns.model.__table__.c if shape.columns is not None else ():
            shape.columns.index(column.key)
        relation = Batch(plan_field, contract, Level())
        depth = self.depth + 1  # its per-parent errors, after its call
        self.events.append(Event(depth, shape, False))
        shape.relations.append(relation)
        self.depth += 1  # its values: their own fields read one level further down
        write = self.value(plan_field.definition.type, plan_field.nodes, relation.level)
        self.depth -= 1
        nullable = not is_non_null_type(plan_field.definition.type)
        nodes = plan_field.nodes

        def batch_value(row: Any, run: Run, path: Path) -> Any:
            value = run.found[id(relation)][id(row)]
            if isinstance(value, Exception):
                if not nullable:
                    raise Fallback
                run.error(value, nodes, (*path, key), depth)
                return None
            return write(value, run, (*path, key))

        return batch_value

    def _masked_value(self, field: Any, graphql_type: Any) -> Writer:
        """An attribute holding personal data, masked as a column is (see :meth:`_column`)."""
        nullable = not is_non_null_type(graphql_type)
        convert = self._masked(field, self._leaf_or_list(graphql_type))

        def masked(value: Any, _run: Run, _path: Path) -> Any:
            if value is None:
                return None if nullable else _required(None)
            return convert(value)

        return masked

    def value(
        self, graphql_type: Any, nodes: list[FieldNode], level: Level | None = None
    ) -> Callable[[Any, Run, Path], Any]:
        """The writer of a Python value (a batch function's) of ``graphql_type``: attributes
        of plain strawberry objects, lists, scalars and enums; the objects of ``level`` (a
        batch function's own values) may have table-backed and batch fields."""
        nullable = not is_non_null_type(graphql_type)
        inner = graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type
        if isinstance(inner, GraphQLList):
            item = self.value(inner.of_type, nodes, level)

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
            if self._denied(inner, key, field_nodes, None) is not None:
                raise Unsupported("a forbidden field of a batch value")
            definition, field = self._definition(inner, field_nodes)
            contract = (field.metadata or {}).get(CONTRACT) if field is not None else None
            if level is not None and isinstance(contract, TableField):
                writer = self._table_field(level, definition, field, contract, key, field_nodes)
                parts.append((key, None, writer))
                continue
            if level is not None and isinstance(contract, BatchField):
                plan_field = Field(definition, field_nodes, self.schema)
                parts.append(
                    (key, None, self._batch_field(level, plan_field, field, contract, key))
                )
                continue
            binding = bindings.FIELDS.get((inner.name, field_nodes[0].name.value))
            if level is not None and isinstance(binding, bindings.Reference | bindings.Children):
                writer = self._reference(level, binding, definition, field_nodes, key)
                parts.append((key, None, writer))
                continue
            if isinstance(binding, bindings.GlobalId):  # a row's id as its global ID
                type_name = binding.type_name or inner.name
                parts.append((key, "id", lambda pk, _run, _path, t=type_name: global_id(t, pk)))
                continue
            if isinstance(binding, bindings.Contextual):
                parts.append((key, None, self._contextual(binding, field, definition.type)))
                continue
            if (
                field is not None
                and field.base_resolver is None
                and (field.metadata or {}).get(PII_FIELD)
                and not self.clear
            ):
                parts.append((key, field.python_name, self._masked_value(field, definition.type)))
            elif field is not None and field.base_resolver is None:
                parts.append((key, field.python_name, self.value(definition.type, field_nodes)))
            elif field is not None and _pure(field) is not None:
                parts.append((key, None, self._computed(field, definition.type, field_nodes, key)))
            else:
                raise Unsupported(f"{inner.name}.{field_nodes[0].name.value} has a resolver")

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


def _pure(field: Any) -> Callable[[Any], Any] | None:
    """The resolver of ``field`` when it computes the value from its object alone (a plain
    function of ``self`` or ``root``, no arguments, context or await), as plugins' types
    often do (``id``: the row's global ID): the planner calls it as strawberry would."""
    resolver = field.base_resolver
    if resolver is None or resolver.is_async or resolver.arguments:
        return None
    function = resolver.wrapped_func
    parameters = list(inspect.signature(function).parameters)
    if len(parameters) != 1 or parameters[0] not in ("self", "root"):
        return None
    if inspect.isgeneratorfunction(function) or isinstance(function, (staticmethod, classmethod)):
        return None
    return function


def _rows_writer(shape: Shape, key: str) -> Callable[[Paged, Run, Path], Any]:
    def write(page: Paged, run: Run, path: Path) -> list[Any]:
        return [shape.write(row, run, (*path, key, i)) for i, row in enumerate(page.rows)]

    return write


def _sort_columns(order_by: type) -> list[str]:
    """Every column a cursor of this list may hold (the orderBy's fields, and id)."""
    field_enum = type(order_by().field)
    return [member.value for member in field_enum]
