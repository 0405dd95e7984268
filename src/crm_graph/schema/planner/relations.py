"""The statements of a plan: each relation reads one level for all its parents at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    ListValueNode,
    ObjectValueNode,
    ValueNode,
    VariableNode,
)
from graphql.execution.values import get_argument_values
from sqlalchemy import func, select
from strawberry.types.arguments import convert_arguments

from crm_graph.auth.guard import forbidden
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
from crm_graph.schema.planner.cache import LRU
from crm_graph.schema.planner.prepared import PARENTS, Prepared
from crm_graph.schema.planner.run import Columns, Fallback, Level, Run, Shape
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
    # Whether a variable gives any argument (else the arguments never change).
    variable: bool = field(init=False)

    def __post_init__(self) -> None:
        given = any(_has_variable(argument.value) for argument in self.nodes[0].arguments or ())
        object.__setattr__(self, "variable", given)

    def key(self, run: Run) -> Any:
        """What the field's statements depend on in this request: its arguments' values
        (None when the document writes them all)."""
        if not self.variable:
            return None
        return repr(get_argument_values(self.definition, self.nodes[0], run.variables))

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


def _has_variable(node: ValueNode) -> bool:
    if isinstance(node, VariableNode):
        return True
    if isinstance(node, ListValueNode):
        return any(map(_has_variable, node.values))
    if isinstance(node, ObjectValueNode):
        return any(_has_variable(entry.value) for entry in node.fields)
    return False


# Compiled statements kept per relation, one per argument set (pages of a list walked with
# cursors in variables, each a new set, take the oldest's place).
STATEMENTS = 32


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
    """Rows of ``columns.model`` read for a level; ``shapes`` write them.

    Its statements are compiled at their first use, for each argument set (see
    :mod:`.prepared`), and reused by every request of the plan."""

    def __init__(self, columns: Columns, predicate: Any) -> None:
        self.columns = columns
        self.predicate = predicate
        self.shapes: list[Shape] = []
        self.count = False
        self.sort_columns: tuple[str, ...] = ()
        self.prepared = LRU(STATEMENTS)

    def select(self) -> Any:
        statement = select(*self.columns.expressions())
        return statement if self.predicate is None else statement.where(self.predicate)

    def among(self, run: Run, column: Any) -> Any:
        """``column`` among the parents' keys, which each request binds (:data:`PARENTS`)."""
        placeholder = bindparam_value(run.dialect, ())
        return among_parameter(run.dialect, column, placeholder, name=PARENTS)

    def statements(self, run: Run, key: Any, prepare: Any) -> Any:
        """The compiled statements (and what came with them) for argument set ``key``,
        ``prepare(run)`` at its first use."""
        found = self.prepared.get(key)
        if found is None:
            found = prepare(run)
            self.prepared.put(key, found)
        return found

    def pairs(self, rows: list[Any]) -> list[tuple[Shape, list[Any]]]:
        return [(shape, rows) for shape in self.shapes]


class RootList(Relation):
    """A Query list (a :class:`~crm_graph.schema.plugin_fields.ListField`): the statement its
    filter selects, one page of it, its count if asked. ``predicate``: the caller's scopes."""

    def __init__(self, columns: Columns, predicate: Any, field: Field, declared: Any) -> None:
        super().__init__(columns, predicate)
        self.field, self.declared = field, declared
        self.order_by = declared.order_by

    def _prepare(self, run: Run) -> tuple[Prepared, Prepared | None, Any, Ordering]:
        kwargs = self.field.arguments(run)
        model = self.columns.model
        try:
            statement = self.declared.selected(run.principal, kwargs.get("filter"), run.app)
            order = self.declared.ordering(kwargs.get("order_by"))
        except GraphQLError as exc:
            raise Fallback from exc
        if self.predicate is not None:
            statement = statement.where(self.predicate)
        if not self.declared.paged:  # every row
            every = self.declared.every(statement.with_only_columns(*self.columns.expressions()))
            return Prepared(every, run.sql), None, None, order
        win = _window(run, self.field, kwargs, order, model)
        page = ordered(statement.with_only_columns(*self.columns.expressions()), model, order, win)
        counting = Prepared(count_select(statement), run.sql) if self.count else None
        return Prepared(page.limit(win.size + 1), run.sql), counting, win, order

    async def fetch(self, run: Run, _parents: Any) -> list[tuple[Shape, list[Any]]]:
        page, counting, win, order = self.statements(run, self.field.key(run), self._prepare)
        if win is None:  # an unpaged list: its rows
            rows = await run.rows(page)
            run.found[id(self)] = Paged(rows, False, False, order)
            return self.pairs(rows)
        rows, has_next, has_previous = bounds(await run.rows(page), win)
        paged = Paged(rows, has_next, has_previous, order)
        if counting is not None:
            paged.count = (await run.rows(counting))[0][0]
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

    def _prepare(self, run: Run) -> tuple[Prepared, Prepared | None, Any, Ordering]:
        kwargs = self.field.arguments(run)
        model = self.columns.model
        order = ordering(model, kwargs.get("order_by") or self.order_by())
        win = _window(run, self.field, kwargs, order, model)
        key = getattr(model, self.key)
        ranked = ranked_children(self.select(), model, key, self.among(run, key), order, win)
        statement = (
            select(*[ranked.c[name] for name in self.columns.names])
            .where(ranked.c.rank <= win.size + 1)
            .order_by(ranked.c[self.key], ranked.c.rank)
        )
        counting = None
        if self.count:
            counting = select(key, func.count()).where(self.among(run, key)).group_by(key)
            if self.predicate is not None:
                counting = counting.where(self.predicate)
            counting = Prepared(counting, run.sql)
        return Prepared(statement, run.sql), counting, win, order

    async def fetch(self, run: Run, parents: list[Any]) -> list[tuple[Shape, list[Any]]]:
        statement, counting, win, order = self.statements(run, self.field.key(run), self._prepare)
        ids = list(dict.fromkeys(row[self.parent] for row in parents))
        grouped: dict[Any, list[Any]] = {pid: [] for pid in ids}
        for row in await run.rows(statement, ids):
            grouped[row[self.key_index]].append(row)
        pages: dict[Any, Paged] = {}
        shown: list[Any] = []
        for pid, rows in grouped.items():
            page_rows, has_next, has_previous = bounds(rows, win)
            pages[pid] = Paged(page_rows, has_next, has_previous, order, 0)
            shown.extend(page_rows)
        if counting is not None:
            for pid, n in await run.rows(counting, ids):
                pages[pid].count = n
        run.found[id(self)] = pages
        return self.pairs(shown)


class ByKey(Relation):
    """For each parent, the row whose ``key`` column equals the parent's key (``parent``
    reads it: a reference by id, a plugin's related row); with ``order_by`` (column names,
    ``-`` for descending), every such row, in that order."""

    def __init__(
        self,
        columns: Columns,
        predicate: Any,
        parent: Callable[[Any], Any],
        key: str,
        order_by: tuple[str, ...] | None = None,
        declared: Any = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(columns, predicate)
        self.parent, self.key, self.many = parent, key, order_by is not None
        # At most this many rows per parent (a plugin's RelatedRows limit).
        self.limit = limit
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
        keys = list(dict.fromkeys(k for k in map(self.parent, parents) if k is not None))
        found: dict[Any, Any] = defaultdict(list) if self.many else {}
        rows: list[Any] = []
        if keys:
            rows = await run.rows(self.statements(run, None, self._prepare), keys)
            for row in rows:
                if self.many:
                    found[row[self.key_index]].append(row)
                else:
                    found[row[self.key_index]] = row
        run.found[id(self)] = found
        if self.declared is not None:  # a key without rows: None, or no rows
            values = {k: found[k] if self.many else found.get(k) for k in keys}
            run.related.setdefault(self.declared, {}).update(values)
        return self.pairs(rows)

    def _prepare(self, run: Run) -> Prepared:
        model = self.columns.model
        column = getattr(model, self.key)
        statement = self.select().where(self.among(run, column))
        extras = self.columns.extras
        if any(name in extras for name in self.columns.names):
            statement = statement.join_from(model, extras[next(iter(extras))].class_)
        if self.limit is not None:
            statement = self._first_of_each(statement, column)
        elif self.many:
            statement = statement.order_by(*self.order)
        return Prepared(statement, run.sql)

    def _first_of_each(self, statement: Any, column: Any) -> Any:
        """The first ``limit`` rows of each parent, in order (ranked in one statement)."""
        rank = func.row_number().over(partition_by=column, order_by=self.order or None)
        ranked = statement.add_columns(rank.label("related_rank")).subquery()
        return (
            select(*[ranked.c[name] for name in self.columns.names])
            .where(ranked.c.related_rank <= self.limit)
            .order_by(ranked.c[self.key], ranked.c.related_rank)
        )


class Batch(Relation):
    """A plugin's batch field: its function, called once with every parent of the level.

    ``level`` holds the relations of the objects it returns (their own table-backed and
    batch fields), fetched for all of them at once."""

    def __init__(self, field: Field, declaration: Any, level: Level) -> None:
        self.field, self.declaration, self.level = field, declaration, level
        self.shapes = []

    async def fetch(self, run: Run, parents: list[Any]) -> list[tuple[Any, list[Any]]]:
        kwargs = self.field.arguments(run)
        # One call per level and argument set, however many aliases ask for the field. The
        # entry keeps the level's parents alive: a freed list's id may be another level's.
        key = (id(parents), self.declaration, repr(sorted(kwargs.items())))
        entry = run.batches.get(key)
        if entry is None:
            entry = run.batches[key] = (parents, await self._call(run, parents, kwargs))
        found = entry[1]
        run.found[id(self)] = found
        return _level(self.level, found.values())

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


def _level(level: Level, values: Any) -> list[tuple[Level, list[Any]]]:
    """The objects among a function's ``values`` (each an object, a list of them, None or an
    exception), once each, for fetching what their own fields read."""
    if not level.relations:
        return []
    objects: dict[int, Any] = {}
    for value in values:
        for item in value if isinstance(value, list) else (value,):
            if item is not None and not isinstance(item, Exception):
                objects[id(item)] = item
    return [(level, list(objects.values()))]


class Computed(Relation):
    """A plugin's query field: its function, called once per request with the field's
    arguments; its value, or the exception it raised, is what was found. ``level`` as for
    :class:`Batch`."""

    def __init__(self, field: Field, declaration: Any, level: Level) -> None:
        self.field, self.declaration, self.level = field, declaration, level
        self.shapes = []

    async def fetch(self, run: Run, _parents: Any) -> list[tuple[Any, list[Any]]]:
        kwargs = self.field.arguments(run)
        try:
            value = await self.declaration.function(run.request_context(), **kwargs)
        except Exception as exc:  # the field's error, as strawberry reports a resolver's
            value = exc
        run.found[id(self)] = value
        return _level(self.level, [value])


class Lookup(Relation):
    """Query fields reading rows by global ID: ``customer(id:)``-like ones and ``node``/
    ``nodes`` (one statement per type asked for); ``customer(externalId:)``-like ones by
    another unique key (``keys``: argument -> condition and preference, see bindings.KEYS).

    An ID of a type the caller may not read leaves its FORBIDDEN error as what was found."""

    def __init__(
        self,
        field: Field,
        by_type: dict[str, Any],
        many: bool,
        limit: int,
        keys: dict[str, Any] | None = None,
    ) -> None:
        # Type name -> what is read for it (a lookups.Target).
        self.field, self.by_type, self.many, self.limit = field, by_type, many, limit
        self.keys = keys or {}
        self.shapes = [target.shape for target in by_type.values() if target.shape is not None]
        self.prepared = LRU(len(by_type))

    def _ids(self, run: Run) -> tuple[list[str], Any]:
        """The global IDs asked for, or the condition and preference of another key."""
        kwargs = self.field.arguments(run)
        if self.many:
            ids = kwargs["ids"]
            if len(ids) > self.limit:
                raise Fallback
            return list(ids), None
        given = [(name, value) for name, value in kwargs.items() if value is not None]
        if len(given) != 1:
            raise Fallback  # strawberry's INVALID_ARGUMENT
        name, value = given[0]
        if name != "id":
            return [], self.keys[name](value)
        return [value], None

    async def fetch(self, run: Run, _parents: Any) -> list[tuple[Shape, list[Any]]]:
        ids, keyed = self._ids(run)
        if keyed is not None:
            return await self._by_key(run, *keyed)
        wanted: dict[str, list[int]] = defaultdict(list)
        keys = []
        for value in ids:
            try:
                type_name, pk = from_global_id(value)
                if len(self.by_type) == 1:
                    pk = pk_of(value, next(iter(self.by_type)))
            except GlobalIdError as exc:
                raise Fallback from exc
            entry = self.by_type.get(type_name)
            if entry is None:
                raise Fallback
            denied = forbidden(run.principal, self.field.nodes[0].name.value, entry.permission)
            if denied is not None:
                run.found[id(self)] = denied
                return []
            wanted[type_name].append(pk)
            keys.append((type_name, pk))
        found: dict[tuple[str, int], Any] = {}
        pairs = []
        for type_name, pks in wanted.items():
            shape = self.by_type[type_name].shape
            statement = self.statements(run, type_name, self._by_id(type_name))
            rows = await run.rows(statement, list(dict.fromkeys(pks)))
            id_index = shape.columns.index("id")
            found.update({(type_name, row[id_index]): row for row in rows})
            pairs.append((shape, rows))
        run.found[id(self)] = [(key[0], found.get(key)) for key in keys]
        return pairs

    def _by_id(self, type_name: str) -> Callable[[Run], Prepared]:
        def prepare(run: Run) -> Prepared:
            target = self.by_type[type_name]
            statement = target.base.with_only_columns(*target.shape.columns.expressions())
            statement = statement.where(self.among(run, target.shape.columns.model.id))
            if target.predicate is not None:
                statement = statement.where(target.predicate)
            return Prepared(statement, run.sql)

        return prepare

    async def _by_key(self, run: Run, condition: Any, first: Any) -> list[tuple[Shape, list[Any]]]:
        type_name, target = next(iter(self.by_type.items()))
        shape = target.shape
        statement = select(*shape.columns.expressions()).where(condition)
        if target.predicate is not None:
            statement = statement.where(target.predicate)
        rows = await _rows(run, statement.order_by(first).limit(1))
        run.found[id(self)] = [(type_name, rows[0] if rows else None)]
        return [(shape, rows)]
