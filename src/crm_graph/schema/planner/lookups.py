"""Lookups by ID as plan roots: the core's (``customer(id:)``, ``order``, ``product``) and
plugins' :class:`~crm_graph.schema.plugin_fields.RowLookup` (a ``lookup_field``), and
``node``/``nodes`` over the core's types and every plugin type declared with a ``RowLookup``.

A plugin type whose objects the plan cannot write (a field strawberry must resolve) is left
out: an ID of it, like an ID of a type found by an opaque ``NodeLookup``, is strawberry's to
answer (the run falls back), while the other types' IDs are still served compiled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, get_named_type
from sqlalchemy import and_, select
from sqlalchemy.sql.util import find_tables
from sqlmodel import SQLModel

from crm_graph.auth.scope import read_predicate
from crm_graph.schema.planner import bindings
from crm_graph.schema.planner.relations import Field, Lookup
from crm_graph.schema.planner.run import Columns, Null, Path, Run, Shape, Unsupported
from crm_graph.schema.plugin_fields import RowLookup
from crm_graph.schema.query import MAX_NODES, NODE_PERMISSIONS

if TYPE_CHECKING:
    from crm_graph.schema.planner.build import PlanBuilder, RootWriter

# nodes(ids:) checks each ID in a task of its own: after the guards of root fields, before
# any read.
NODES_DENIED = 0.5


@dataclass(frozen=True)
class Target:
    """One type a lookup reads: the writer of its objects (None when the caller may not
    look it up), the caller's scopes on its rows, the permission needed to look it up and
    the statement read from (``select(model)``, or a plugin's joined to what decides who sees
    a row)."""

    shape: Shape | None
    predicate: Any
    permission: str
    base: Any


def node_types(schema: Any) -> dict[str, tuple[type, str, RowLookup | None]]:
    """The types ``node(id:)`` may be served compiled for: the core's and plugins' types
    declared with a ``RowLookup`` (model, permission, the declaration)."""
    types: dict[str, tuple[type, str, RowLookup | None]] = {
        name: (bindings.MODELS[name], permission, None)
        for name, permission in NODE_PERMISSIONS.items()
    }
    for name, lookup in schema.node_lookups.items():
        if isinstance(lookup, RowLookup):
            types[name] = (lookup.model, lookup.permission, lookup)
    return types


def _mapped(table: Any) -> type | None:
    """The class mapped to ``table`` (a statement holds annotated copies of tables)."""
    name = table.fullname
    mappers = SQLModel._sa_registry.mappers
    return next((m.class_ for m in mappers if m.local_table.fullname == name), None)


def lookup_scopes(builder: PlanBuilder, model: type, lookup: RowLookup | None) -> Any:
    """The caller's scopes on the rows a lookup reads, as one condition (None: every row):
    the core's customer scope on every table its statement reads (as the session's scope
    listener adds it on the strawberry path) and the lookup's owner scope."""
    tables = [model]
    if lookup is not None and lookup.select is not None:
        for joined in lookup.select.get_final_froms():
            for table in find_tables(joined):
                found = _mapped(table)
                if found is not None and found not in tables:
                    tables.append(found)
    scopes = [read_predicate(builder.principal, table, builder.dialect) for table in tables]
    if lookup is not None:
        scopes.append(lookup.owned(builder.principal, builder.dialect))
    scopes = [scope for scope in scopes if scope is not None]
    return and_(*scopes) if scopes else None


def lookup_root(
    builder: PlanBuilder, key: str, field: Field, declared: RowLookup | None
) -> tuple[Lookup, RootWriter]:
    """The relation and the writer of a lookup root field (``declared``: a plugin's
    ``lookup_field``)."""
    name = field.nodes[0].name.value
    if declared is not None:
        types = {
            get_named_type(field.definition.type).name: (
                declared.model,
                declared.permission,
                declared,
            )
        }
    elif name in bindings.LOOKUPS:
        type_name = bindings.LOOKUPS[name]
        types = {type_name: (bindings.MODELS[type_name], NODE_PERMISSIONS[type_name], None)}
    else:
        types = node_types(builder.schema)
    by_type: dict[str, Target] = {}
    writers = {}
    for type_name, (model, permission, lookup) in types.items():
        if not builder.principal.has(permission):  # its IDs are FORBIDDEN before any read
            by_type[type_name] = Target(None, None, permission, None)
            continue
        runtime = builder.graphql.get_type(type_name)
        start, depth = len(builder.events), builder.depth
        try:
            shape = builder.shape(runtime, field.nodes, Columns(model))
        except Unsupported:
            if lookup is None or name not in ("node", "nodes"):
                raise
            del builder.events[start:]  # a plugin type node(id:) leaves to strawberry
            builder.depth = depth
            continue
        # Each object may be null; objects of different types never share one.
        writers[type_name] = builder._boundary(start, shape.write)
        base = select(model) if lookup is None else lookup.base()
        by_type[type_name] = Target(shape, lookup_scopes(builder, model, lookup), permission, base)
    keys = {argument: read for (root, argument), read in bindings.KEYS.items() if root == name}
    relation = Lookup(field, by_type, name == "nodes", MAX_NODES, keys)
    nodes = field.nodes

    def write_one(found: tuple[str, Any], run: Run, path: Path) -> Any:
        type_name, row = found
        return None if row is None else writers[type_name](row, run, path)

    if name == "nodes":

        def write_many(run: Run) -> Any:
            found = run.found[id(relation)]
            if isinstance(found, GraphQLError):  # an ID of a type the caller may not read
                raise Null(run.located(found, nodes, (key,)), NODES_DENIED)
            return [write_one(item, run, (key, i)) for i, item in enumerate(found)]

        return relation, write_many

    def write_single(run: Run) -> Any:
        found = run.found[id(relation)]
        if isinstance(found, GraphQLError):
            run.error(found, nodes, (key,), 0)
            return None
        return write_one(found[0], run, (key,))

    return relation, write_single
