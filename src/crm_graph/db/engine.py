"""Async engine factory for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
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


class RequestConnection:
    """The one pooled connection of one request: opened at first use, shared by the
    credential check and the compiled read, given back by :meth:`close`.

    Reads only. On PostgreSQL it runs in autocommit: at READ COMMITTED every statement sees
    its own snapshot whether or not a transaction wraps it, so ``BEGIN`` and ``ROLLBACK``
    would be two round trips that buy nothing. On SQLite the first statement begins one
    read transaction (a WAL snapshot), rolled back by :meth:`close`.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._connection: AsyncConnection | None = None

    async def get(self) -> AsyncConnection:
        if self._connection is None:
            connection = await self.engine.connect()
            if connection.dialect.name == "postgresql":
                await connection.execution_options(isolation_level="AUTOCOMMIT")
            self._connection = connection
        return self._connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()
