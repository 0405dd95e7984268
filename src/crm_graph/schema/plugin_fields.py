"""The field contract: how a plugin declares a field, so every level of a query costs one
statement or one call, whatever the number of rows.

A field a plugin adds (onto Customer, Order, Interaction, Product or its own types) is one of:

- **table-backed** (:func:`table_field`): a column of a :class:`~crm_graph.db.related.Related`
  row, or the rows of a :class:`~crm_graph.db.related.RelatedRows` relation, or the related
  row itself. Declared as data, read for all parents of a level in one SELECT;
- **a batch field** (:func:`batch_field`): one function given every parent of a level, the
  request context and the field's arguments, returning a value or an exception (made with
  ``query_error``) per parent, in the parents' order. Called once per level and argument set.

A list on Query (the core's ``customers`` as a plugin's ``deals``) is a **list field**
(:func:`list_field`): a connection over a table's rows, declared as the table, the filtered
statement a ``filter`` argument selects, the ``orderBy`` input and the permission (whose scope
narrows the rows to their owners' where the table has an owner column). Its nodes are the rows;
their type's fields are columns, table-backed or batch fields, or functions of the row alone.
One row by global ID is a **lookup field** (:func:`lookup_field`) over a :class:`RowLookup`
(the table, the permission scoping the rows as a list's does, optionally the statement to read
from), which ``node(id:)`` takes for the type too.

A value on Query computed on demand (a report, a model's summary) is a **query field**
(:func:`query_field`): one function called once per request with the field's arguments, its
value written as a batch function's values are.

All become ordinary strawberry fields whose metadata carries the declaration (under
:data:`CONTRACT`), so permissions and masks apply as to any field, and a query planner can read
the declarations from the schema and run them without calling the resolvers built here. A
classic strawberry resolver still works for a field that is neither; it is the slow path.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import strawberry
from graphql import get_named_type
from sqlalchemy import Select, bindparam, false, select
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.types import Info

from crm_graph.auth.declare import requires
from crm_graph.auth.guard import principal_of
from crm_graph.db.batch_writes import among_parameter, bindparam_value
from crm_graph.db.engine import read_session
from crm_graph.db.models import utcnow
from crm_graph.db.paging import Ordering, PageArgs
from crm_graph.db.related import RelatedRows, Relation, fetch
from crm_graph.schema.dataloader import Loader
from crm_graph.schema.lists import connection
from crm_graph.schema.types.common import id_arg
from crm_graph.schema.types.enums import ordering

CONTRACT = "field_contract"

BatchFunction = Callable[..., Awaitable[Sequence[Any]]]


@dataclass(frozen=True)
class TableField:
    """What a table-backed field reads: ``column`` of the related row (``default`` when there
    is no row), or, with no column, the related row or rows themselves."""

    relation: Relation
    column: str | None = None
    default: Any = None


@dataclass(frozen=True)
class BatchField:
    """``function(parents, context, **arguments)``; it reads only ``parent_columns`` of each
    parent (a planner selects at least those)."""

    function: BatchFunction
    parent_columns: tuple[str, ...] = ("id",)


@dataclass(frozen=True)
class QueryField:
    """``function(context, **arguments)``: a Query field's value, computed once per request
    (the root form of :class:`BatchField`, whose one parent is the query)."""

    function: Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class ListField:
    """A Query list of ``model`` rows (:func:`list_field`: a connection; :func:`rows_field`:
    every row, a plain list): ``select(principal, filter)`` is the statement
    the ``filter`` argument selects (``select(model)`` with its conditions; a bad argument is a
    ``query_error``), ``order_by`` the input sorting it (a ``field`` enum whose values are
    ``model``'s column names and a ``direction``; its default instance is the default order).

    The caller sees the rows ``permission``'s scope allows: those whose ``owner`` (when given:
    a column name of ``model``, or a SQL expression of the row such as a correlated scalar
    subquery reading the owner of a row it points at) holds an owner within the scope, and, for
    rows of a customer, the core's customer scope, as on every read. Both paths apply these;
    ``select`` never does. A ``select`` taking a third parameter is given the app (its
    settings: :meth:`~crm_graph.runtime.AppContext.plugin_settings`), fixed for the app's life,
    so the statement it returns may depend on them."""

    model: type
    select: Callable[..., Select[Any]]
    order_by: type | None
    permission: str
    owner: Any = None
    # Without ``order_by`` (:func:`rows_field`): every row, no paging, sorted by these columns.
    sort: tuple[str, ...] = ()
    with_app: bool = False

    def selected(self, principal: Any, filter: Any, app: Any) -> Select[Any]:
        """``select``'s statement (given the app when it asks for it)."""
        if self.with_app:
            return self.select(principal, filter, app)
        return self.select(principal, filter)

    @property
    def paged(self) -> bool:
        return self.order_by is not None

    def ordering(self, order_by: Any) -> Ordering:
        if self.order_by is not None:
            return ordering(self.model, order_by or self.order_by())
        descending = {name.startswith("-") for name in self.sort} == {True}
        names = [name.lstrip("-") for name in self.sort]
        return Ordering(
            name=f"{self.model.__tablename__}.{'.'.join(names)}",
            columns=tuple(getattr(self.model, name) for name in names if name != "id"),
            descending=descending,
        )

    def every(self, statement: Select[Any]) -> Select[Any]:
        """``statement`` in the declared order (an unpaged list's)."""
        order = self.ordering(None)
        keys = order.keys(self.model)
        return statement.order_by(*[key.desc() if order.descending else key.asc() for key in keys])

    def owned(self, principal: Any, dialect: str | None = None) -> Any:
        """The owner scope as a condition on the rows (see :func:`_owned`)."""
        return _owned(self.model, self.owner, self.permission, principal, dialect)

    def statement(self, principal: Any, filter: Any, app: Any) -> Select[Any]:
        """What the list reads for ``principal`` (the owners written into the statement)."""
        statement = self.selected(principal, filter, app)
        owned = self.owned(principal)
        return statement if owned is None else statement.where(owned)


def _owned(model: type, owner: Any, permission: str, principal: Any, dialect: str | None) -> Any:
    """``permission``'s owner scope as a condition on ``model`` rows whose ``owner`` (a column
    name or a SQL expression; None: not owner-scoped) holds their owner (None: every row).
    With ``dialect``, the owners are one bind parameter valued per request (the compiled read
    path's statements are built once for every caller holding the same grants)."""
    if owner is None:
        return None
    scope = principal.scope(permission)
    if scope == "all":
        return None
    if scope is None:
        return false()
    column = getattr(model, owner) if isinstance(owner, str) else owner
    if dialect is not None:
        placeholder = bindparam_value(dialect, ())  # each request binds its owners
        return among_parameter(dialect, column, placeholder, name=f"crm_owners_{scope}")
    owners = principal.owners(scope)
    return column.in_(sorted(owners)) if owners else false()


@dataclass(frozen=True)
class RowLookup:
    """``model`` rows by primary key, as a lookup field (:func:`lookup_field`) and
    ``node(id:)``/``nodes(ids:)`` (a ``SchemaContribution.nodes`` value) find them.

    Reading them needs ``permission``; its scope narrows them as :class:`ListField`'s does
    (``owner``: a column name of ``model`` or a SQL expression of the row), and, for rows of
    a customer, the core's customer scope applies, so a row outside the caller's scope is
    answered as one that does not exist (null). ``select``: the ``select(model)`` to read
    from when seeing a row takes more than its own columns (joined to the row its ``owner``
    expression reads; the customer scope applies to every table it reads); never filtered by
    scope itself. Both read paths run this one declaration."""

    model: type
    permission: str
    owner: Any = None
    select: Select[Any] | None = None

    def owned(self, principal: Any, dialect: str | None = None) -> Any:
        return _owned(self.model, self.owner, self.permission, principal, dialect)

    def base(self) -> Select[Any]:
        return select(self.model) if self.select is None else self.select

    async def load(self, context: Any, pks: list[int]) -> list[Any]:
        """For each of ``pks``, in order, its row within the caller's scope or None (the
        strawberry path; the session's scope listener adds the customer scopes)."""
        statement = self.base().where(self.model.id.in_(pks))
        owned = self.owned(context.principal)
        if owned is not None:
            statement = statement.where(owned)
        async with context.app.read() as session:
            found = {row.id: row for row in await session.scalars(statement)}
        return [found.get(pk) for pk in pks]


class FieldLoaders:
    """One request's loaders for contract fields: one per relation (shared by every field and
    batch function reading it) and one per batch field and argument set."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._related: dict[Relation, Loader[Hashable, Any]] = {}
        self._batches: dict[tuple[BatchField, str], Loader[Any, Any]] = {}

    def related(self, relation: Relation) -> Loader[Hashable, Any]:
        loader = self._related.get(relation)
        if loader is None:

            async def load(keys: Sequence[Hashable]) -> list[Any]:
                async with read_session(self._engine) as session:
                    return await fetch(session, relation, keys)

            loader = self._related[relation] = Loader(load_fn=load)
        return loader

    def batch(self, field: BatchField, context: Any, arguments: dict[str, Any]) -> Loader[Any, Any]:
        key = (field, repr(sorted(arguments.items())))
        loader = self._batches.get(key)
        if loader is None:

            async def load(parents: Sequence[Any]) -> list[Any]:
                # Each parent once, even when aliases ask for the field twice.
                distinct = list({id(parent): parent for parent in parents}.values())
                values = await field.function(distinct, context, **arguments)
                if len(values) != len(distinct):
                    raise ValueError(
                        f"{field.function.__qualname__} returned {len(values)} values "
                        f"for {len(distinct)} parents"
                    )
                by_parent = {
                    id(parent): value for parent, value in zip(distinct, values, strict=True)
                }
                return [by_parent[id(parent)] for parent in parents]

            # Not cached: parents are rows, and a value is only asked for once per level.
            loader = self._batches[key] = Loader(load_fn=load, cache=False)
        return loader

    def forget(self) -> None:
        """Drop the rows read so far: the request wrote, and later fields must see it."""
        for loader in self._related.values():
            loader.clear_all()


async def load_related(context: Any, relation: Relation, keys: Sequence[Hashable]) -> list[Any]:
    """For each key, its related row (or ``None``) or rows, through the request's loader for
    ``relation``: a batch function reading a relation shares the one SELECT of its level with
    every table-backed field and other batch function reading it."""
    return await context.loaders.fields.related(relation).load_many(keys)


ROOT = inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD)
INFO = inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Info)


def _arguments_of(
    function: Callable[..., Any], resolve: Callable[..., Any], *leading: inspect.Parameter
) -> None:
    """``resolve`` takes ``leading`` then, as GraphQL arguments, ``function``'s keyword
    parameters after as many of its own (parents, context...); the function's (string)
    annotations resolve in its own module."""
    parameters = list(inspect.signature(function).parameters.values())[len(leading) :]
    resolve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*leading, *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in parameters)]
    )
    resolve.__module__ = function.__module__
    resolve.__name__ = resolve.__qualname__ = function.__name__  # type: ignore[attr-defined]


def _field(
    resolve: Callable[..., Awaitable[Any]],
    declaration: TableField | BatchField | QueryField,
    description: str | None,
    metadata: dict[str, Any] | None,
    name: str | None,
) -> Any:
    return strawberry.field(
        resolver=resolve,
        name=name,
        description=description,
        metadata={**(metadata or {}), CONTRACT: declaration},
    )


def table_field(
    relation: Relation,
    column: str | None = None,
    default: Any = None,
    *,
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
) -> Any:
    """A field read from a plugin's table (or a core table it points at); its GraphQL type is
    the class attribute's annotation.

    ``loyalty_points: int = table_field(Related(LoyaltyAccount, key="customer_id"),
    column="points", default=0)``; without ``column`` the field is the related row (an object
    type's root value) or, for :class:`RelatedRows`, the list of rows.
    """
    if column is not None and isinstance(relation, RelatedRows):
        raise ValueError("a column is read from one Related row, not from RelatedRows")
    declaration = TableField(relation, column, default)

    async def resolve(root: Any, info: Info):  # no return type: the annotation gives it
        key = getattr(root, relation.parent_key)
        if key is None:
            return [] if isinstance(relation, RelatedRows) else default
        found = await info.context.loaders.fields.related(relation).load(key)
        if column is None or found is None:
            return default if found is None else found
        return getattr(found, column)

    return _field(resolve, declaration, description, metadata, name)


def batch_field(
    function: BatchFunction,
    *,
    parent_columns: tuple[str, ...] = ("id",),
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
) -> Any:
    """A field computed for all parents of a level at once; its GraphQL type is the class
    attribute's annotation, its arguments the keyword parameters of ``function`` after
    ``(parents, context)``.

    ``function`` returns one item per parent, in order: the value, or an exception (e.g.
    ``query_error(...)``) that becomes that parent's error. An exception it raises is every
    parent's error.
    """
    declaration = BatchField(function, parent_columns)

    async def resolve(root: Any, info: Info, **arguments: Any):  # typed by the annotation
        context = info.context
        return await context.loaders.fields.batch(declaration, context, arguments).load(root)

    _arguments_of(function, resolve, ROOT, INFO)
    return _field(resolve, declaration, description, metadata, name)


def query_field(
    function: Callable[..., Awaitable[Any]],
    *,
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
) -> Any:
    """A Query field computed by one call of ``function(context, **arguments)`` per request;
    its GraphQL type is the class attribute's annotation, its arguments the keyword parameters
    of ``function`` after ``context``, as for :func:`batch_field`. ``function`` returns the
    value (written as a batch function's values are) or raises, e.g. a ``query_error`` for a
    bad argument: the field's error."""
    declaration = QueryField(function)

    async def resolve(info: Info, **arguments: Any):  # typed by the annotation
        return await function(info.context, **arguments)

    _arguments_of(function, resolve, INFO)
    return _field(resolve, declaration, description, metadata, name)


def request_time(
    column: Any, after: timedelta = timedelta(0), clock: Callable[[], Any] | None = None
) -> Any:
    """The time of the request, ``after`` it (whole seconds), as a value compared with
    ``column`` in a list's statement (``SalesTask.due_at < request_time(SalesTask.due_at)``):
    a bind parameter valued when the statement runs, so a statement built once (the compiled
    read path keeps them) still reads each request's time.

    ``clock``: a plugin's own reading of the time (an aware datetime), called when the
    statement runs on either path, instead of the core's one time per request."""
    seconds = int(after.total_seconds())
    if clock is not None:
        return bindparam(
            f"crm_now_{seconds}_{CLOCK}",
            type_=column.type,
            unique=True,
            callable_=lambda: clock() + timedelta(seconds=seconds),
        )
    return bindparam(
        f"crm_now_{seconds}",
        type_=column.type,
        callable_=lambda: utcnow() + timedelta(seconds=seconds),
    )


# In the name of a request_time parameter valued by its own clock (see planner.prepared).
CLOCK = "by_clock"


def _asks_app(select: Callable[..., Any]) -> bool:
    return len(inspect.signature(select).parameters) > 2


_PAGE_ARGUMENTS = (("first", int), ("after", str), ("last", int), ("before", str))


def list_field(
    model: type,
    select: Callable[[Any, Any], Select[Any]],
    filter: type,
    order_by: type,
    *,
    permission: str,
    owner: Any = None,
    description: str | None = None,
    name: str | None = None,
) -> Any:
    """A Query field listing ``model`` rows as a Relay connection (its GraphQL type is the class
    attribute's annotation, ``Connection[TheType]``), with the arguments ``filter`` (an input
    of type ``filter``), ``orderBy`` (an input of type ``order_by``), ``first``, ``after``,
    ``last`` and ``before``; paging, cursors, the page size limit and ``totalCount`` behave as
    on the core's lists.

    ``select(principal, filter)`` returns the ``select(model)`` the filter chooses (``filter``
    may be None). Reading the field needs ``permission``; its scope selects the rows whose
    ``owner`` column names an owner within it (see :class:`ListField`).
    """
    declaration = ListField(model, select, order_by, permission, owner, with_app=_asks_app(select))

    async def resolve(root: Any, info: Info, **arguments: Any):  # typed by the annotation
        filter = arguments.get("filter")
        statement = declaration.statement(principal_of(info), filter, info.context.app)
        page = PageArgs(*(arguments.get(argument) for argument, _ in _PAGE_ARGUMENTS))
        sort = declaration.ordering(arguments.get("order_by"))
        return await connection(info, statement, model, sort, page)

    keyword = inspect.Parameter.KEYWORD_ONLY
    resolve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Info),
            inspect.Parameter("filter", keyword, annotation=filter | None, default=None),
            inspect.Parameter("order_by", keyword, annotation=order_by | None, default=None),
            *(
                inspect.Parameter(argument, keyword, annotation=kind | None, default=None)
                for argument, kind in _PAGE_ARGUMENTS
            ),
        ]
    )
    return strawberry.field(
        resolver=resolve,
        name=name,
        description=description,
        metadata={**requires(permission), CONTRACT: declaration},
    )


def rows_field(
    model: type,
    select: Callable[[Any, Any], Select[Any]],
    sort: tuple[str, ...] = ("id",),
    *,
    permission: str,
    owner: Any = None,
    description: str | None = None,
    name: str | None = None,
) -> Any:
    """A Query field listing every ``model`` row ``select(principal, None)`` chooses, in
    ``sort`` (column names, all ascending or all with a leading ``-``; ``id`` breaks ties), as
    a plain list (the annotation, ``list[TheType]``): for short lists such as a plugin's
    settings or segments. Scopes as :func:`list_field`."""
    if len({item.startswith("-") for item in sort}) != 1:
        raise ValueError("rows_field sorts every column in one direction")
    declaration = ListField(
        model, select, None, permission, owner, sort, with_app=_asks_app(select)
    )

    async def resolve(info: Info) -> Any:  # typed by the annotation
        found = declaration.statement(principal_of(info), None, info.context.app)
        statement = declaration.every(found)
        async with info.context.app.read() as session:
            rows = list(await session.scalars(statement))
        info.context.loaders.prime(rows)
        return rows

    resolve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Info)]
    )
    return strawberry.field(
        resolver=resolve,
        name=name,
        description=description,
        metadata={**requires(permission), CONTRACT: declaration},
    )


def lookup_field(
    lookup: RowLookup, *, description: str | None = None, name: str | None = None
) -> Any:
    """A Query field reading one ``lookup.model`` row by global ID (the argument ``id: ID!``),
    null when there is none or the caller's scope does not see it; its GraphQL type is the
    class attribute's annotation (``TheType | None``), whose name the ID must carry (another
    type's ID, or no ID, is a coded error naming ``id``). The same :class:`RowLookup` serves
    ``node(id:)`` for the type (``SchemaContribution(nodes={"TheType": lookup})``)."""

    async def resolve(info: Info, id: strawberry.ID):  # typed by the annotation
        pk = id_arg(id, get_named_type(info._raw_info.return_type).name)
        return (await lookup.load(info.context, [pk]))[0]

    return strawberry.field(
        resolver=resolve,
        name=name,
        description=description,
        metadata={**requires(lookup.permission), CONTRACT: lookup},
    )
