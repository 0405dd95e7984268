"""Writing checked batches and committing them: the strategy of each database.

Normally a long import commits as it goes (each batch on PostgreSQL, about every
:data:`SQLITE_ROWS_PER_COMMIT` rows on SQLite), so it makes steady progress, and a bad row only
costs itself. On PostgreSQL a batch of orders that does not depend on the batch before it is
also written while that one still is, in a transaction of its own: the database works on one
while this process prepares the other. The customers a batch of orders names and would create
are created just before, committed on their own, so that sharing customers does not make
batches depend on each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from crm_graph.db.batch_writes import BULK_INSERTS, bulk_session
from crm_graph.db.engine import read_session
from crm_graph.domain.batches import REJECTED, Checked
from crm_graph.io.batches import Prepared
from crm_graph.io.kinds import DataKind, ImportContext
from crm_graph.io.rows import (
    row_reasons,
)

SQLITE_ROWS_PER_COMMIT = 50_000  # see commit_together
CONCURRENT = "a concurrent change conflicts with this batch; import the file again"


@dataclass
class Tally:
    """What one batch did; added to the summary once the batch is committed (or final)."""

    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    created_customers: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)  # (row, reason)
    read_to: int = 0  # bytes of the file read once this batch was


async def commit_together(
    engine: AsyncEngine,
    prepared_batches: AsyncIterator[Prepared],
    kind: DataKind,
    context: ImportContext,
    account: Callable[[Tally], None],
) -> None:
    """SQLite: write batches in one transaction until it holds :data:`SQLITE_ROWS_PER_COMMIT`
    rows, then commit and account for them in file order.

    A commit writes every page the transaction changed to the write-ahead log, and orders land
    all over the indexes by customer and by product: a commit of 10,000 rows rewrote nearly as
    many pages as one of 50,000 (on a million rows, 101 commits took 4.7 s). Other writers wait
    for SQLite's one write lock meanwhile, about a second per commit, within their busy timeout.
    """
    batches = aiter(prepared_batches)
    while (prepared := await anext(batches, None)) is not None:
        written: list[Prepared] = []  # what a lost race reports, without the checked items
        tallies: list[Tally] = []
        try:
            async with bulk_session(engine) as session:
                rows = 0
                while prepared is not None:
                    written.append(replace(prepared, checked=Checked.of(0)))
                    tallies.append(await write_batch(session, prepared, kind, context))
                    rows += prepared.rows
                    prepared = None
                    if rows < SQLITE_ROWS_PER_COMMIT:
                        prepared = await anext(batches, None)
        except (IntegrityError, StaleDataError):
            tallies = [_lost_race(batch) for batch in written]
        for tally in tallies:
            account(tally)


async def commit_each(
    engine: AsyncEngine,
    prepared_batches: AsyncIterator[Prepared],
    kind: DataKind,
    context: ImportContext,
    account: Callable[[Tally], None],
) -> None:
    """PostgreSQL: write each batch in a transaction of its own, accounted in file order; a
    batch independent of the one before it starts while that one is still being written.

    The customers a batch would create are created first, in a short transaction of their
    own: otherwise in a first import, where most batches name customers the batch before
    creates, nearly every batch would wait for the one before to commit (a million rows naming
    200,000 customers took 30% longer).
    """
    running: list[tuple[Prepared, asyncio.Task[Tally]]] = []  # at most two
    try:
        async for prepared in prepared_batches:
            created = await _create_ahead(engine, kind, context, prepared.checked)
            if running and not await _independent(
                engine, kind, context, running[0][0].checked, prepared.checked
            ):
                account(await running.pop()[1])
            commit = _commit(engine, prepared, kind, context, created)
            running.append((prepared, asyncio.create_task(commit)))
            if len(running) > 1:
                account(await running.pop(0)[1])
        while running:
            account(await running.pop(0)[1])
    finally:
        for _, task in running:
            task.cancel()
        await asyncio.gather(*(task for _, task in running), return_exceptions=True)


async def _independent(
    engine: AsyncEngine, kind: DataKind, context: ImportContext, earlier: Checked, later: Checked
) -> bool:
    """Whether ``later`` may be written while ``earlier`` still is (:attr:`DataKind.independent`)."""
    if kind.independent is None:
        return False
    async with read_session(engine) as session:
        return await kind.independent(session, earlier, later, context)


async def _create_ahead(
    engine: AsyncEngine, kind: DataKind, context: ImportContext, checked: Checked
) -> int:
    """What :attr:`DataKind.ahead` created and committed; 0 when a concurrent writer created
    one of those customers first (the batch's own write then creates the others)."""
    if kind.ahead is None:
        return 0
    try:
        async with bulk_session(engine) as session:
            created = await kind.ahead(session, checked, context)
            _unaudited(session)
    except IntegrityError:
        return 0
    return created


async def _commit(
    engine: AsyncEngine, prepared: Prepared, kind: DataKind, context: ImportContext, created: int
) -> Tally:
    """One batch in a transaction of its own; ``created`` customers were created ahead."""
    try:
        async with bulk_session(engine) as session:
            tally = await write_batch(session, prepared, kind, context)
    except (IntegrityError, StaleDataError):
        tally = _lost_race(prepared)
    tally.created_customers += created
    return tally


async def write_batch(
    session: AsyncSession, prepared: Prepared, kind: DataKind, context: ImportContext
) -> Tally:
    """Write one batch through the domain and account for every row."""
    result = await kind.write(session, prepared.checked, context)
    _unaudited(session)
    tally = Tally(rows=prepared.rows, rejects=list(prepared.problems), read_to=prepared.read_to)
    tally.created_customers = result.created_customers
    for rows, outcome in zip(prepared.units, result.outcomes, strict=True):
        if outcome.status == REJECTED:
            tally.rejects.extend(row_reasons(rows, outcome.errors).items())
        else:
            setattr(tally, outcome.status, getattr(tally, outcome.status) + 1)
    return tally


def _unaudited(session: AsyncSession) -> None:
    """Drop what bulk inserts noted for the audit log, which a file import has not."""
    session.info.pop(BULK_INSERTS, None)


def _lost_race(prepared: Prepared) -> Tally:
    """A batch that lost a race with a concurrent writer rolled back: its rows are reported."""
    return Tally(
        rows=prepared.rows,
        read_to=prepared.read_to,
        rejects=[
            *prepared.problems,
            *((number, CONCURRENT) for rows in prepared.units for number in rows.numbers),
        ],
    )
