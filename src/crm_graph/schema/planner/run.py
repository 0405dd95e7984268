"""What a plan is made of at run time: columns, shapes (a level's writer) and one request's
state; and the two ways out of the compiled path."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter, itemgetter
from typing import Any

from graphql import FieldNode, GraphQLError

from crm_graph.db.batch_writes import bindparam_value
from crm_graph.schema.context import RequestContext
from crm_graph.schema.errors import report_errors
from crm_graph.schema.planner.generated import object_writer
from crm_graph.schema.planner.prepared import PARENTS, Prepared


class Unsupported(Exception):
    """The operation is not compiled (for this caller): strawberry answers it, always."""


class Fallback(Exception):
    """This request met what only strawberry answers exactly (an argument error, a null
    where the schema promises a value): strawberry answers it instead. Reads only, so running
    it again is harmless."""


class Null(Exception):
    """A non-null field the caller may not read: its error, on its way to the nearest field
    that may be null (or to ``data``), which becomes null and reports it."""

    def __init__(self, error: dict[str, Any], depth: float) -> None:
        super().__init__(error["message"])
        self.error, self.depth = error, depth


Path = tuple[str | int, ...]
Writer = Callable[[Any, "Run", Path], Any]


class Run:
    """One request's state: its connection, caller, variables, rows found per relation and
    the errors to report."""

    def __init__(self, conn: Any, principal: Any, variables: Any, params: dict[str, Any]) -> None:
        self.conn = conn
        self.sql = conn.dialect
        self.dialect = conn.dialect.name
        self.driver: Any = None
        self.principal = principal
        self.variables = variables
        self.params = params
        self.found: dict[int, Any] = {}
        self.errors: list[dict[str, Any]] = []
        # The depth of each error's event (see build.Event): which stay when a null propagates.
        self.depths: list[float] = []
        self.context: Any = None
        # Rows of plugin relations the plan read, by relation and key: batch functions reading
        # the same relation (``load_related``) find them in their loader, with no statement.
        self.related: dict[Any, dict[Any, Any]] = {}
        # Batch function results by (level, declaration, arguments).
        self.batches: dict[Any, tuple[list[Any], dict[int, Any]]] = {}
        # Set by the planner: the page size limit, the app and the HTTP request (batch fields
        # get a request context made from them, as resolvers do).
        self.maximum = 0
        self.app: Any = None
        self.request: Any = None

    async def rows(self, prepared: Prepared, parents: list[Any] | None = None) -> list[Any]:
        """``prepared``'s rows, run on the driver (``parents``: the keys of the level's
        parents). The engine's ``before_cursor_execute`` listeners (statement counters) see
        each statement as they would through SQLAlchemy."""
        given = self.params
        if parents is not None:
            given = {**given, PARENTS: bindparam_value(self.dialect, parents)}
        arguments = prepared.arguments(given)
        driver = self.driver or await self._driver()
        sync = self.conn.sync_connection
        for listener in sync.dispatch.before_cursor_execute:
            listener(sync, None, prepared.text, arguments, None, False)
        if prepared.make is None:
            prepared.describe(await self._driver_types(driver, prepared))
        if self.dialect == "postgresql":
            records = await driver.fetch(prepared.text, *arguments)
        else:
            records = await driver.execute_fetchall(prepared.text, arguments)
        return list(map(prepared.make, records))

    async def _driver_types(self, driver: Any, prepared: Prepared) -> list[Any]:
        """The type of each column the driver reports (asked once per statement)."""
        if self.dialect != "postgresql":
            return [None] * len(prepared.columns)
        statement = await driver.prepare(prepared.text)
        return [attribute.type.oid for attribute in statement.get_attributes()]

    async def _driver(self) -> Any:
        """The driver's connection under the request's. On SQLite the request's one read
        transaction is begun first (its statements share one snapshot, as through
        SQLAlchemy); PostgreSQL reads each statement's own snapshot, as before."""
        if self.dialect == "sqlite" and not self.conn.in_transaction():
            await self.conn.begin()
        self.driver = (await self.conn.get_raw_connection()).driver_connection
        return self.driver

    def request_context(self) -> Any:
        """The context resolvers would get (made once), its relation loaders primed with the
        rows read so far."""
        if self.context is None:
            self.context = RequestContext.create(self.app, self.request)
            self.context.principal = self.principal
        for relation, rows in self.related.items():
            self.context.loaders.fields.related(relation).prime_many(rows)
        return self.context

    def error(self, error: Exception, nodes: list[FieldNode], path: Path, depth: float) -> None:
        """``error`` reported at ``path`` as graphql-core would (unexpected ones masked)."""
        self.report(self.located(error, nodes, path), depth)

    def report(self, located: dict[str, Any], depth: float) -> None:
        self.errors.append(located)
        self.depths.append(depth)

    def located(self, error: Exception, nodes: list[FieldNode], path: Path) -> dict[str, Any]:
        """``error`` at ``path``, as the response shows it."""
        located = GraphQLError(
            error.message if isinstance(error, GraphQLError) else str(error),
            nodes=nodes,
            path=list(path),
            original_error=None if isinstance(error, GraphQLError) else error,
            extensions=error.extensions if isinstance(error, GraphQLError) else None,
        )
        report_errors([located])
        return located.formatted


class Columns:
    """The columns a level selects, in order; writers read rows by these indexes."""

    def __init__(self, model: Any, extras: dict[str, Any] | None = None) -> None:
        self.model = model
        self.extras = extras or {}
        self.names: list[str] = ["id"]

    def index(self, name: str) -> int:
        if name not in self.names:
            if name not in self.model.__table__.c and name not in self.extras:
                raise Unsupported(f"{self.model.__name__} has no column {name}")
            self.names.append(name)
        return self.names.index(name)

    def expressions(self) -> list[Any]:
        table = self.model.__table__.c
        return [self.extras[n].label(n) if n in self.extras else table[n] for n in self.names]


class Shape:
    """How rows of one level become objects: the fields in response order, and the relations
    fetched for all rows of the level before any is written."""

    def __init__(self, typename: str, columns: Columns) -> None:
        self.typename = typename
        self.columns = columns
        self.fields: list[tuple[str, Writer]] = []
        self.relations: list[Any] = []
        self.write: Writer

    def seal(self) -> None:
        """Make the writer of the level's objects, once its fields are all planned."""
        self.write = object_writer(self.fields)

    def key_of(self, name: str) -> Callable[[Any], Any]:
        """How a relation reads column ``name`` of a row of this level (now selected)."""
        return itemgetter(self.columns.index(name))


class Level:
    """Objects a batch function returned (not rows): the relations of their own fields,
    fetched for all of them at once; they read attributes."""

    def __init__(self) -> None:
        self.relations: list[Any] = []
        self.columns = None

    def key_of(self, name: str) -> Callable[[Any], Any]:
        return attrgetter(name)


async def fetch_tree(run: Run, shape: Shape, rows: list[Any]) -> None:
    """Fetch every relation below ``shape`` for ``rows``: one statement (or call) per level."""
    for relation in shape.relations:
        for child_shape, child_rows in await relation.fetch(run, rows):
            if child_rows:
                await fetch_tree(run, child_shape, child_rows)
