"""Async engine factory for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from crm_graph.db.jsonable import dumps
from crm_graph.db.stored_json import loads

SQLITE_BUSY_TIMEOUT_MS = 5000


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(
    url: str, *, echo: bool = False, pool_size: int = 20, max_overflow: int = 10
) -> AsyncEngine:
    """Create the engine; on SQLite also set the pragmas and transaction mode we rely on.

    The pool keeps ``pool_size`` connections (``CRM_DATABASE_POOL_SIZE``): a request takes
    one, so size it to the requests one process serves at once, and connections are not
    opened and closed under load; ``max_overflow`` more are opened for bursts only. No
    pre-ping: it costs a round trip (``BEGIN; ROLLBACK`` on asyncpg) on every checkout, and
    a connection the server dropped fails one statement and is replaced, as the pool
    invalidates every connection of the same age on a disconnect error.
    """
    options: dict[str, Any] = {
        "echo": echo,
        "json_serializer": dumps,
        "json_deserializer": loads,
        "pool_size": pool_size,
        "max_overflow": max_overflow,
    }
    if not is_sqlite(url):
        return create_async_engine(url, **options)
    if ":memory:" in url or url.rstrip("/").endswith(":"):  # one shared connection, no pool
        del options["pool_size"], options["max_overflow"]
    engine = create_async_engine(url, connect_args={"timeout": 30}, **options)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, foreign keys and a busy timeout on every connection.

    Write transactions start with ``BEGIN IMMEDIATE`` (see :func:`write_session`): a
    deferred transaction that reads and then writes can fail with SQLITE_BUSY when another
    writer got in first, which is SQLite's form of a deadlock. Taking the write lock up front
    makes writers queue on ``busy_timeout`` instead.
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN (the documented pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "BEGIN")
        connection.exec_driver_sql(mode)

    @event.listens_for(sync_engine, "invalidate")
    def _on_invalidate(dbapi_connection: Any, _record: Any, _exc: Any) -> None:
        """End the transaction of a connection thrown away, before it is closed.

        A task cancelled while a statement of its unit of work is in flight (a job stopped at
        shutdown or on a lost lease, a request whose client left) makes SQLAlchemy invalidate
        the connection and close it without a rollback; SQLite then kept that transaction,
        and with it the database's write lock, for the rest of the process, so every later
        writer waited out busy_timeout and failed with "database is locked".
        """
        try:
            dbapi_connection.rollback()
        except Exception:  # a connection that is broken has no transaction left to end
            return


@asynccontextmanager
async def write_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any exception."""
    if not is_sqlite(str(engine.url)):
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            yield session
        return
    bind = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
    async with (
        _sqlite_writer_turn(engine),
        AsyncSession(bind, expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session


# The SQLite write turns of this process: per pool (one database file), per event loop.
_write_turns: WeakKeyDictionary[Any, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    WeakKeyDictionary()
)
_holding_turn: ContextVar[frozenset[int]] = ContextVar("holding_turn", default=frozenset())


@asynccontextmanager
async def _sqlite_writer_turn(engine: AsyncEngine) -> AsyncIterator[None]:
    """The writers of one process take SQLite's write lock in turn, first come first served.

    SQLite's busy handler polls with growing sleeps and is not fair: with several writers in
    one process, one of them could wait out the whole busy timeout while the others take the
    lock again and again ("database is locked" at ``BEGIN IMMEDIATE`` with four concurrent
    writers on a loaded machine). Queued here, only one writer per process meets other
    processes' writers at the busy handler. A unit of work opened inside another one of the
    same task does not queue behind it.
    """
    pool = engine.sync_engine.pool
    held = _holding_turn.get()
    if id(pool) in held:
        yield
        return
    loop = asyncio.get_running_loop()
    turn = _write_turns.get(pool)
    if turn is None or turn[0] is not loop:
        turn = _write_turns[pool] = (loop, asyncio.Lock())
    async with turn[1]:
        token = _holding_turn.set(held | {id(pool)})
        try:
            yield
        finally:
            _holding_turn.reset(token)


@asynccontextmanager
async def read_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A short read-only session whose rows stay usable after it closes."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        yield session


class DriverStatement:
    """A fixed statement (its values all bind parameters) run on the driver connection:
    compiled once per dialect into SQL text and parameter order, its rows made with the result
    processors SQLAlchemy would apply, as named tuples (``row.name`` reads as on
    SQLAlchemy's rows).

    For statements every request runs (the credential check): through SQLAlchemy each
    execution derives the statement's cache key, makes an execution context, starts a
    greenlet and wraps the rows, several times the driver's own cost for a one-row look-up.
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def compiled(self, dialect: Any) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = _Compiled(self.statement, dialect)
        return compiled


class _Compiled:
    def __init__(self, statement: Any, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        processors = compiled._bind_processors
        self.text: str = compiled.string
        self.parameters = [(name, processors.get(name)) for name in (compiled.positiontup or ())]
        self.dialect = dialect
        self.columns = compiled._result_columns
        self.make: Callable[[Any], Any] | None = None

    def arguments(self, values: dict[str, Any]) -> list[Any]:
        return [
            values[name] if process is None else process(values[name])
            for name, process in self.parameters
        ]

    def describe(self, driver_types: list[Any]) -> None:
        """The row maker, from the driver's type of each column (SQLite's driver gives none;
        a PostgreSQL column's conversion may depend on it)."""
        row = namedtuple("Row", [column.keyname for column in self.columns], rename=True)  # type: ignore[misc]
        processors = [
            column.type._cached_result_processor(self.dialect, driver_type)
            for column, driver_type in zip(self.columns, driver_types, strict=True)
        ]
        if not any(processors):
            self.make = row._make
            return
        pairs = list(enumerate(processors))

        def make(record: Any) -> Any:
            return row._make(
                [record[i] if process is None else process(record[i]) for i, process in pairs]
            )

        self.make = make


class RequestConnection:
    """The one pooled connection of one request: opened at first use, shared by the
    credential check and the compiled read, given back by :meth:`close`.

    Reads only, and no transaction on PostgreSQL: the credential check and the compiled
    read run their statements on the driver connection (:meth:`fetch`), which SQLAlchemy
    does not wrap in ``BEGIN ... ROLLBACK``; at READ COMMITTED every statement sees its own
    snapshot whether or not a transaction wraps it. (A statement run through SQLAlchemy on
    :meth:`get`'s connection begins its own transaction, rolled back by :meth:`close`.) On
    SQLite the first statement begins one read transaction (a WAL snapshot), rolled back by
    :meth:`close`.
    """

    __slots__ = ("_connection", "_driver", "engine")

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._connection: AsyncConnection | None = None
        self._driver: Any = None

    async def get(self) -> AsyncConnection:
        if self._connection is None:
            self._connection = await self.engine.connect()
        return self._connection

    async def fetch(self, statement: DriverStatement, values: dict[str, Any]) -> list[Any]:
        """``statement``'s rows for ``values``, run on the driver (asyncpg ``fetch``,
        aiosqlite ``execute_fetchall``). The engine's ``before_cursor_execute`` listeners
        (statement counters, echo) see it as they would through SQLAlchemy."""
        connection = self._connection or await self.get()
        compiled = statement.compiled(connection.dialect)
        arguments = compiled.arguments(values)
        driver = self._driver or await self._driver_connection(connection)
        sync = connection.sync_connection
        for listener in sync.dispatch.before_cursor_execute:
            listener(sync, None, compiled.text, arguments, None, False)
        postgresql = compiled.dialect.name == "postgresql"
        if compiled.make is None:
            if postgresql:
                prepared = await driver.prepare(compiled.text)
                compiled.describe([a.type.oid for a in prepared.get_attributes()])
            else:
                compiled.describe([None] * len(compiled.columns))
        try:
            if postgresql:
                records = await driver.fetch(compiled.text, *arguments)
            else:
                records = await driver.execute_fetchall(compiled.text, arguments)
        except BaseException as exc:
            await self._failed(connection, driver, exc)
            raise
        return list(map(compiled.make, records))  # type: ignore[arg-type]

    async def _failed(self, connection: AsyncConnection, driver: Any, exc: BaseException) -> None:
        """What SQLAlchemy does when a statement fails, for a statement run on the driver: a
        connection lost (the server restarted or dropped it) is thrown away, and so is every
        pooled connection as old as it (each is replaced at its next checkout instead of
        failing a request of its own); so is one interrupted mid-statement (a cancelled
        task), whose state is unknown. An ordinary SQL error leaves the connection usable."""
        self._driver = None
        is_closed = getattr(driver, "is_closed", None)
        lost = is_closed is not None and is_closed()
        if not lost and isinstance(exc, Exception):
            return
        sync = connection.sync_connection
        if sync is None or sync.invalidated or sync.closed:
            return
        if lost:
            sync.engine.pool._invalidate(sync.connection, exc, _checkin=False)
        await asyncio.shield(connection.invalidate(exc))

    async def _driver_connection(self, connection: AsyncConnection) -> Any:
        """The driver's connection; on SQLite the request's read transaction is begun first
        (the request's statements share one snapshot)."""
        if connection.dialect.name == "sqlite" and not connection.in_transaction():
            await connection.begin()
        sync = connection.sync_connection
        # A connection just checked out holds its driver connection: read it without the
        # greenlet hop of get_raw_connection(), which is there for reconnecting (I/O).
        pooled = (
            sync.connection
            if sync is not None and not sync.invalidated and not sync.closed
            else await connection.get_raw_connection()
        )
        self._driver = pooled.driver_connection
        return self._driver

    async def wrote(self) -> None:
        """The request has just written in a unit of work of its own (its credential's
        once-a-minute note of use, its user's first sight): on SQLite the read transaction
        begun before it ends, so the request's next statements read after that write, as
        strawberry's and every later request's do (PostgreSQL's statements see it already)."""
        connection = self._connection
        if connection is not None and connection.in_transaction():
            self._driver = None  # the next statement begins a new read transaction
            await connection.rollback()

    async def close(self) -> None:
        connection, self._connection, self._driver = self._connection, None, None
        if connection is not None:
            await connection.close()
