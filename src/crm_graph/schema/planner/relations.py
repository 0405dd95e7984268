"""The statements of a plan: each relation reads one level for all its parents at once."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, GraphQLError, GraphQLField
from graphql.execution.values import get_argument_values
from sqlalchemy import func, select
from strawberry.types.arguments import convert_arguments

from crm_graph.db.batch_writes import among_parameter, bindparam_value
from crm_graph.db.paging import (
    Ordering,
    PageArgs,
    PagingError,
    bounds,
    ordered,
    ranked_children,
)
from crm_graph.db.queries import count_select
from crm_graph.ids import GlobalIdError, from_global_id, pk_of
from crm_graph.schema.lists import page_window
from crm_graph.schema.planner.run import Columns, Fallback, Run, Shape
from crm_graph.schema.types.enums import ordering


@dataclass
class Paged:
    rows: list[Any]
    has_next: bool
    has_previous: bool
    ordering: Ordering
    count: int | None = None


@dataclass(frozen=True)
class Field:
    """One field of the document (its nodes, as merged) and how strawberry takes its
    arguments, to read them per request (they may be variables)."""

    definition: GraphQLField
    nodes: list[FieldNode]
    schema: Any

    def arguments(self, run: Run) -> dict[str, Any]:
        raw = get_argument_values(self.definition, self.nodes[0], run.variables)
        field = self.definition.extensions["strawberry-definition"]
        try:
            return convert_arguments(
                raw,
                field.arguments,
                scalar_registry=self.schema.schema_converter.scalar_registry,
                config=self.schema.config,
            )
        except Exception as exc:  # a coercion strawberry would report its own way
            raise Fallback from exc


def _window(run: Run, field: Field, kwargs: dict[str, Any], order: Ordering, model: Any) -> Any:
    args = PageArgs(
        kwargs.get("first"), kwargs.get("after"), kwargs.get("last"), kwargs.get("before")
    )
    try:
        return page_window(run.maximum, args, order, model)
    except PagingError as exc:
        raise Fallback from exc


async def _rows(run: Run, statement: Any) -> list[Any]:
    return list((await run.conn.execute(statement, run.params)).all())


class Relation:
    """Rows of ``columns.model`` read for a level; ``shapes`` write them."""

    def __init__(self, columns: Columns, predicate: Any) -> None:
        self.columns = columns
        self.predicate = predicate
        self.shapes: list[Shape] = []
        self.count = False
        self.sort_columns: tuple[str, ...] = ()

    def select(self) -> Any:
        statement = select(*self.columns.expressions())
        return statement if self.predicate is None else statement.where(self.predicate)

    def among(self, run: Run, column: Any, keys: list[Any]) -> Any:
        return among_parameter(run.dialect, column, bindparam_value(run.dialect, keys))

    def pairs(self, rows: list[Any]) -> list[tuple[Shape, list[Any]]]:
        return [(shape, rows) for shape in self.shapes]


class RootList(Relation):
    """A Query list: the resolver's filtered statement, one page of it, its count if asked."""

    def __init__(self, columns: Columns, predicate: Any, field: Field, build: Any) -> None:
        super().__init__(columns, predicate)
        self.field, self.build = field, build

    async def fetch(self, run: Run, _parents: Any) -> list[tuple[Shape, list[Any]]]:
        kwargs = self.field.arguments(run)
        model = self.columns.model
        try:
            statement, order = self.build(
                run.principal, kwargs.get("filter"), kwargs.get("order_by")
            )
        except GraphQLError as exc:
            raise Fallback from exc
        win = _window(run, self.field, kwargs, order, model)
        if self.predicate is not None:
            statement = statement.where(self.predicate)
        page = ordered(statement.with_only_columns(*self.columns.expressions()), model, order, win)
        rows, has_next, has_previous = bounds(await _rows(run, page.limit(win.size + 1)), win)
        paged = Paged(rows, has_next, has_previous, order)
        if self.count:
            paged.count = (await run.conn.execute(count_select(statement), run.params)).scalar_one()
        run.found[id(self)] = paged
        return self.pairs(rows)


class ChildPages(Relation):
    """The same page of children for every parent of a level (a nested connection)."""

    def __init__(
        self, columns: Columns, predicate: Any, field: Field, parent: int, key: str, order_by: type
    ) -> None:
        super().__init__(columns, predicate)
        self.field, self.parent, self.key, self.order_by = field, parent, key, order_by
        self.key_index = columns.index(key)

    async def fetch(self, run: Run, parents: list[Any]) -> list[tuple[Shape, list[Any]]]:
        kwargs = self.field.arguments(run)
        model = self.columns.model
        order = ordering(model, kwargs.get("order_by") or self.order_by())
        win = _window(run, self.field, kwargs, order, model)
        ids = list(dict.fromkeys(row[self.parent] for row in parents))
        key = getattr(model, self.key)
        ranked = ranked_children(self.select(), model, key, self.among(run, key, ids), order, win)
        statement = (
            select(*[ranked.c[name] for name in self.columns.names])
            .where(ranked.c.rank <= win.size + 1)
            .order_by(ranked.c[self.key], ranked.c.rank)
        )
        grouped: dict[Any, list[Any]] = {pid: [] for pid in ids}
        for row in await _rows(run, statement):
            grouped[row[self.key_index]].append(row)
        pages: dict[Any, Paged] = {}
        shown: list[Any] = []
        for pid, rows in grouped.items():
            page_rows, has_next, has_previous = bounds(rows, win)
            pages[pid] = Paged(page_rows, has_next, has_previous, order, 0)
            shown.extend(page_rows)
        if self.count:
            counting = select(key, func.count()).where(self.among(run, key, ids)).group_by(key)
            if self.predicate is not None:
                counting = counting.where(self.predicate)
            for pid, n in (await run.conn.execute(counting, run.params)).all():
                pages[pid].count = n
        run.found[id(self)] = pages
        return self.pairs(shown)


class ByKey(Relation):
    """For each parent, the row whose ``key`` column equals the parent's ``parent`` column
    (a reference by id, a plugin's related row); with ``order_by`` (column names, ``-`` for
    descending), every such row, in that order."""

    def __init__(
        self,
        columns: Columns,
        predicate: Any,
        parent: int,
        key: str,
        order_by: tuple[str, ...] | None = None,
        declared: Any = None,
    ) -> None:
        super().__init__(columns, predicate)
        self.parent, self.key, self.many = parent, key, order_by is not None
        # A plugin's relation (the field contract) whose rows batch functions may load.
        self.declared = declared
        self.key_index = columns.index(key)
        model = columns.model
        self.order = [
            getattr(model, name.lstrip("-")).desc()
            if name.startswith("-")
            else getattr(model, name).asc()
            for name in order_by or ()
        ]

    async def fetch(self, run: Run, parents: list[Any]) -> list[tuple[Shape, list[Any]]]:
        keys = list(dict.fromkeys(r[self.parent] for r in parents if r[self.parent] is not None))
        model = self.columns.model
        found: dict[Any, Any] = defaultdict(list) if self.many else {}
        rows: list[Any] = []
        if keys:
            column = getattr(model, self.key)
            statement = self.select().where(self.among(run, column, keys))
            extras = self.columns.extras
            if any(name in extras for name in self.columns.names):
                statement = statement.join_from(model, extras[next(iter(extras))].class_)
            if self.many:
                statement = statement.order_by(*self.order)
            rows = await _rows(run, statement)
            for row in rows:
                if self.many:
                    found[row[self.key_index]].append(row)
                else:
                    found[row[self.key_index]] = row
        run.found[id(self)] = found
        if self.declared is not None:
            run.related.setdefault(self.declared, {}).update({k: found.get(k) for k in keys})
        return self.pairs(rows)


class Batch(Relation):
    """A plugin's batch field: its function, called once with every parent of the level."""

    def __init__(self, field: Field, declaration: Any) -> None:
        self.field, self.declaration = field, declaration
        self.shapes = []

    async def fetch(self, run: Run, parents: list[Any]) -> list[tuple[Shape, list[Any]]]:
        kwargs = self.field.arguments(run)
        # One call per level and argument set, however many aliases ask for the field.
        key = (id(parents), self.declaration, repr(sorted(kwargs.items())))
        found = run.batches.get(key)
        if found is None:
            found = run.batches[key] = await self._call(run, parents, kwargs)
        run.found[id(self)] = found
        return []

    async def _call(self, run: Run, parents: list[Any], kwargs: dict[str, Any]) -> dict[int, Any]:
        context = run.request_context()
        distinct = list({id(row): row for row in parents}.values())
        try:
            values = list(await self.declaration.function(distinct, context, **kwargs))
        except Exception as exc:  # every parent's error, as the loader reports it today
            values = [exc] * len(distinct)
        if len(values) != len(distinct):
            raise Fallback  # the loader's own error, reported by strawberry
        return {id(row): value for row, value in zip(distinct, values, strict=True)}


class Lookup(Relation):
    """Query fields reading rows by global ID: ``customer(id:)``-like ones and ``node``/
    ``nodes`` (one statement per type asked for)."""

    def __init__(
        self, field: Field, by_type: dict[str, tuple[Shape, Any, str]], many: bool, limit: int
    ) -> None:
        self.field, self.by_type, self.many, self.limit = field, by_type, many, limit
        self.shapes = [shape for shape, _, _ in by_type.values()]

    def _ids(self, run: Run) -> list[str]:
        kwargs = self.field.arguments(run)
        if self.many:
            ids = kwargs["ids"]
            if len(ids) > self.limit:
                raise Fallback
            return list(ids)
        if any(value is not None for name, value in kwargs.items() if name != "id"):
            raise Fallback
        if kwargs.get("id") is None:
            raise Fallback
        return [kwargs["id"]]

    async def fetch(self, run: Run, _parents: Any) -> list[tuple[Shape, list[Any]]]:
        wanted: dict[str, list[int]] = defaultdict(list)
        keys = []
        for value in self._ids(run):
            try:
                type_name, pk = from_global_id(value)
                if len(self.by_type) == 1:
                    pk = pk_of(value, next(iter(self.by_type)))
            except GlobalIdError as exc:
                raise Fallback from exc
            entry = self.by_type.get(type_name)
            if entry is None or not run.principal.has(entry[2]):
                raise Fallback
            wanted[type_name].append(pk)
            keys.append((type_name, pk))
        found: dict[tuple[str, int], Any] = {}
        pairs = []
        for type_name, pks in wanted.items():
            shape, predicate, _ = self.by_type[type_name]
            model = shape.columns.model
            statement = select(*shape.columns.expressions()).where(
                self.among(run, model.id, list(dict.fromkeys(pks)))
            )
            if predicate is not None:
                statement = statement.where(predicate)
            rows = await _rows(run, statement)
            id_index = shape.columns.index("id")
            found.update({(type_name, row[id_index]): row for row in rows})
            pairs.append((shape, rows))
        run.found[id(self)] = [(key[0], found.get(key)) for key in keys]
        return pairs
