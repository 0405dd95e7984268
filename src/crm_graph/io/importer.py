"""Importing a file: read it in batches, write each batch, report every rejected row.

Normally a long import commits as it goes (each batch on PostgreSQL, about every
:data:`SQLITE_ROWS_PER_COMMIT` rows on SQLite), so it makes steady progress, and a bad row only
costs itself. ``strict`` and ``dry_run`` run the whole file in one transaction instead:
a strict import with any reject, and every dry run, rolls it back, so nothing is written but
the counts are exactly those a real run would give.

While one batch is written, the next is read and checked in a process of its own
(:mod:`crm_graph.io.reader`), on another core. On PostgreSQL a batch of orders that does not
depend on the batch before it is also written while that one still is, in a transaction of its
own: the database works on one while this process prepares the other. The customers a batch of
orders names and would create are created just before, committed on their own, so that
sharing customers does not make batches depend on each other.

Rows of one order need not be next to each other: :mod:`crm_graph.io.regroup` brings them
together, so the batch size never changes what an import does.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Iterator
from contextlib import ExitStack, aclosing, closing, contextmanager
from dataclasses import dataclass, field, replace
from itertools import count, islice
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from crm_graph.db.bulk import BULK_INSERTS, bulk_session
from crm_graph.db.engine import read_session
from crm_graph.domain import bulk, bulk_activity
from crm_graph.domain.bulk import REJECTED, BatchResult, Checked
from crm_graph.io.reader import read_ahead
from crm_graph.io.regroup import ScatteredOrders, in_number_order, regrouped
from crm_graph.io.rejects import Rejects
from crm_graph.io.rows import (
    CUSTOMERS,
    INTERACTIONS,
    KINDS,
    ORDERS,
    PRODUCTS,
    Kind,
    OrderGroup,
    UnitRows,
    item_of,
    number_of,
    order_key,
    row_reasons,
    sibling_reason,
)
from crm_graph.io.sources import Record, Source, SourceError
from crm_graph.settings import Settings

DEFAULT_BATCH = 10_000
COLLECT_EVERY = 16  # batches between collections of the young generations
SEPARATE_READER_BYTES = 4_000_000  # files this large are read in a process of their own
SQLITE_ROWS_PER_COMMIT = 50_000  # see _commit_together
CONCURRENT = "a concurrent change conflicts with this batch; import the file again"


@dataclass
class ImportOptions:
    kind: str
    path: Path
    format: str
    batch_size: int = DEFAULT_BATCH
    dry_run: bool = False
    strict: bool = False
    create_customers: bool = True
    delimiter: str = ","
    encoding: str = "utf-8-sig"


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


@dataclass
class Summary:
    kind: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    created_customers: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    rejects_path: Path | None = None

    def add(self, tally: Tally) -> None:
        for name in ("rows", "inserted", "updated", "unchanged", "created_customers"):
            setattr(self, name, getattr(self, name) + getattr(tally, name))
        self.rejected += len(tally.rejects)


Progress = Callable[[int, int], None]  # (rows read, bytes read)
Unit = Record | OrderGroup  # what one item is read from: a row, or the rows of one order


@dataclass
class Prepared:
    """A batch read and checked, as it crosses to the writer: the rows set aside with their
    reasons, and the checked items with the rows each came from."""

    rows: int
    problems: list[tuple[int, str]]  # (row, reason)
    units: list[UnitRows]  # units[i]: the rows of checked item i
    checked: Checked
    read_to: int  # bytes of the file read so far


@dataclass(frozen=True)
class Steps:
    """How one kind is imported: checks that need no database, then the batch's writes; and,
    if it can tell, whether a batch may be written while the one before it still is, and how
    to create ahead, committed on their own, the customers a batch would create (so that the
    next batch naming them need not wait for this one)."""

    check: Callable[[list[dict[str, Any]]], Checked]
    write: Callable[[AsyncSession, Checked], Awaitable[BatchResult]]
    independent: Callable[[AsyncSession, Checked, Checked], Awaitable[bool]] | None = None
    ahead: Callable[[AsyncSession, Checked], Awaitable[int]] | None = None


def _steps(settings: Settings, options: ImportOptions) -> Steps:
    region, currency = settings.default_phone_region, settings.default_currency
    create = options.create_customers
    if options.kind == CUSTOMERS.name:
        return Steps(
            lambda items: bulk.check_customers(items, region),
            lambda session, checked: bulk.write_customers(session, checked, region),
        )
    if options.kind == PRODUCTS.name:
        return Steps(
            bulk.check_products,
            lambda session, checked: bulk.write_products(session, checked, currency),
        )
    if options.kind == INTERACTIONS.name:
        return Steps(
            bulk_activity.check_interactions,
            lambda session, checked: bulk_activity.write_interactions(session, checked, create),
        )
    return Steps(
        lambda items: bulk_activity.check_orders(items, currency),
        lambda session, checked: bulk_activity.write_orders(session, checked, create),
        lambda session, earlier, later: bulk_activity.orders_independent(
            session, earlier, later, create
        ),
        lambda session, checked: bulk_activity.create_customers_ahead(session, checked, create),
    )


class _RollBack(Exception):
    """Leaves the single transaction of a dry run or of a strict import with rejects."""


async def run_import(
    engine: AsyncEngine,
    settings: Settings,
    options: ImportOptions,
    progress: Progress | None = None,
) -> Summary:
    """Import ``options.path``; raises :class:`SourceError` when the file cannot be imported."""
    steps = _steps(settings, options)
    summary = Summary(options.kind)
    accounted = count(1)  # batches
    with _collector_relaxed():
        separate = _size(options.path) >= SEPARATE_READER_BYTES
        # Whether order numbers only increase is found here while the reading process starts.
        in_order = asyncio.to_thread(_in_number_order, options)
        async with aclosing(
            read_ahead(_read, options, settings, separate=separate, later=in_order)
        ) as reading:
            header: Header = await anext(reading)
            summary.ignored_columns = header.ignored
            report = Rejects(options.path, header.columns, lambda: _open(options))
            with closing(report) as rejects:

                def account(tally: Tally) -> None:
                    summary.add(tally)
                    if next(accounted) % COLLECT_EVERY == 0:
                        gc.collect(1)  # see _collector_relaxed
                    for number, why in tally.rejects:
                        rejects.add(number, why)
                    if progress is not None:
                        progress(summary.rows, tally.read_to)

                if options.dry_run or options.strict:
                    try:
                        async with bulk_session(engine) as session:
                            async for prepared in reading:
                                account(await _write(session, prepared, steps))
                            if options.dry_run or summary.rejected:
                                raise _RollBack
                    except _RollBack:
                        pass
                elif engine.dialect.name == "sqlite":
                    await _commit_together(engine, reading, steps, account)
                else:
                    await _commit_each(engine, reading, steps, account)
                summary.rejects_path = rejects.path if rejects.count else None
    return summary


@dataclass
class Header:
    """What the reader knows once the file is open: the CSV columns (None for JSON Lines) and
    those an import of this kind leaves out."""

    columns: list[str] | None
    ignored: list[str]


def _read(
    options: ImportOptions, settings: Settings, in_number_order: bool
) -> Generator[Header | Prepared, None, None]:
    """What the reader (:mod:`crm_graph.io.reader`) hands over: the header, then each batch
    read and checked, in file order. Orders are regrouped unless ``in_number_order``."""
    kind = KINDS[options.kind]
    steps = _steps(settings, options)
    with ExitStack() as stack:
        stack.enter_context(_collector_relaxed())
        source = stack.enter_context(closing(_open(options)))
        columns = source.columns
        if columns is not None and (missing := kind.missing(columns)):
            raise SourceError(f"required columns are missing: {', '.join(missing)}")
        yield Header(columns, [] if columns is None else kind.ignored(columns))
        records: Iterable[Record] = source
        if kind is ORDERS and not in_number_order:
            scattered = stack.enter_context(closing(ScatteredOrders()))
            scattered.scan(_order_numbers(options))
            if scattered.count:  # usually none: exports write an order's rows together
                records = regrouped(source, scattered)
        for number, batch in enumerate(_batches(records, kind, options.batch_size), start=1):
            yield _prepare(batch, kind, steps, source.position)
            if number % COLLECT_EVERY == 0:
                gc.collect(1)  # see _collector_relaxed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # opening it says why (SourceError)


def _open(options: ImportOptions) -> Source:
    return Source(
        options.path, options.format, delimiter=options.delimiter, encoding=options.encoding
    )


def _in_number_order(options: ImportOptions) -> bool:
    """Whether the file's orders come in increasing number: then none has its rows apart."""
    return KINDS[options.kind] is ORDERS and in_number_order(_order_numbers(options))


def _order_numbers(options: ImportOptions) -> Iterator[str | None]:
    """The order number of each row of the file (None for unreadable rows), in file order."""
    with closing(_open(options)) as source:
        for cell in source.values_of("order_number"):
            yield number_of(cell)


async def _commit_together(
    engine: AsyncEngine,
    prepared_batches: AsyncIterator[Prepared],
    steps: Steps,
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
                    tallies.append(await _write(session, prepared, steps))
                    rows += prepared.rows
                    prepared = None
                    if rows < SQLITE_ROWS_PER_COMMIT:
                        prepared = await anext(batches, None)
        except (IntegrityError, StaleDataError):
            tallies = [_lost_race(batch) for batch in written]
        for tally in tallies:
            account(tally)


async def _commit_each(
    engine: AsyncEngine,
    prepared_batches: AsyncIterator[Prepared],
    steps: Steps,
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
            created = await _create_ahead(engine, steps, prepared.checked)
            if running and not (
                steps.independent is not None
                and await _check(engine, steps.independent, running[0][0].checked, prepared.checked)
            ):
                account(await running.pop()[1])
            commit = _commit(engine, prepared, steps, created)
            running.append((prepared, asyncio.create_task(commit)))
            if len(running) > 1:
                account(await running.pop(0)[1])
        while running:
            account(await running.pop(0)[1])
    finally:
        for _, task in running:
            task.cancel()
        await asyncio.gather(*(task for _, task in running), return_exceptions=True)


async def _check(
    engine: AsyncEngine,
    independent: Callable[[AsyncSession, Checked, Checked], Awaitable[bool]],
    earlier: Checked,
    later: Checked,
) -> bool:
    async with read_session(engine) as session:
        return await independent(session, earlier, later)


async def _create_ahead(engine: AsyncEngine, steps: Steps, checked: Checked) -> int:
    """What :attr:`Steps.ahead` created and committed; 0 when a concurrent writer created one
    of those customers first (the batch's own write then creates the others)."""
    if steps.ahead is None:
        return 0
    try:
        async with bulk_session(engine) as session:
            created = await steps.ahead(session, checked)
            _unaudited(session)
    except IntegrityError:
        return 0
    return created


async def _commit(engine: AsyncEngine, prepared: Prepared, steps: Steps, created: int) -> Tally:
    """One batch in a transaction of its own; ``created`` customers were created ahead."""
    try:
        async with bulk_session(engine) as session:
            tally = await _write(session, prepared, steps)
    except (IntegrityError, StaleDataError):
        tally = _lost_race(prepared)
    tally.created_customers += created
    return tally


@contextmanager
def _collector_relaxed() -> Iterator[None]:
    """An import allocates millions of short-lived objects while batches of them stay alive,
    and the collector's automatic runs rescan every live one, again and again (and the
    modules, the schema): a sixth of an import's time. Set what exists aside and collect
    the young generations only every few batches, once the batches written have become
    garbage: the few cycles a batch leaves (sessions, tasks) go with them. Inside another
    (a small file's reader, in a thread of the writing process) it changes nothing."""
    if not gc.isenabled():
        yield
        return
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def _records(unit: Unit) -> list[Record]:
    return unit.records if isinstance(unit, OrderGroup) else [unit]


def _batches(records: Iterable[Record], kind: Kind, size: int) -> Iterator[list[Unit]]:
    """Batches of about ``size`` rows; an order's rows (next to each other, see
    :mod:`crm_graph.io.regroup`) stay together in one batch."""
    if kind is not ORDERS:
        rows = iter(records)
        while batch := list(islice(rows, size)):
            yield batch  # type: ignore[misc]
        return
    groups: dict[Any, OrderGroup] = {}
    rows = 0
    for record in records:
        key = ("row", record.number) if record.problem else order_key(record)
        group = groups.get(key)
        if group is None:
            if rows >= size:
                yield list(groups.values())
                groups, rows = {}, 0
            group = groups[key] = OrderGroup(record)
        group.add(record)
        rows += 1
    if groups:
        yield list(groups.values())


def _prepare(batch: list[Unit], kind: Kind, steps: Steps, read_to: int) -> Prepared:
    """Set unreadable rows (and orders with one) aside, and check the rest. Only row numbers
    go on with the checked items: a rejected row's cells are read again for the report."""
    prepared = Prepared(rows=0, problems=[], units=[], checked=Checked.of(0), read_to=read_to)
    items = []
    for unit in batch:
        records = _records(unit)
        prepared.rows += len(records)
        problems = {r.number: r.problem for r in records if r.problem}
        if isinstance(unit, OrderGroup):
            problems.update(unit.conflicts)
        if problems:
            sibling = sibling_reason(problems)
            prepared.problems.extend((r.number, problems.get(r.number) or sibling) for r in records)
        elif isinstance(unit, OrderGroup):
            prepared.units.append(unit.rows())
            items.append(unit.item())
        else:
            prepared.units.append(UnitRows((unit.number,)))
            items.append(item_of(kind, unit.values))
    prepared.checked = steps.check(items)
    return prepared


async def _write(session: AsyncSession, prepared: Prepared, steps: Steps) -> Tally:
    """Write one batch through the domain and account for every row."""
    result = await steps.write(session, prepared.checked)
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
