"""Importing a file: read it in batches, write each batch, report every rejected row.

``strict`` and ``dry_run`` run the whole file in one transaction: a strict import with any
reject, and every dry run, rolls it back, so nothing is written but the counts are exactly
those a real run would give. Otherwise the batches are committed as they go
(:mod:`crm_graph.io.commits`).

While one batch is written, the next is read and checked (:mod:`crm_graph.io.batches`) in a
process of its own (:mod:`crm_graph.io.reader`), on another core.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing, closing
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from crm_graph.db.batch_writes import bulk_session
from crm_graph.io.batches import Header, Prepared, in_number_order_of, open_source, read_batches
from crm_graph.io.collector import COLLECT_EVERY, collector_relaxed
from crm_graph.io.commits import Tally, commit_each, commit_together, write_batch
from crm_graph.io.kinds import DataKind, ImportContext, data_kinds, import_context
from crm_graph.io.reader import read_ahead
from crm_graph.io.rejects import Rejects
from crm_graph.io.sources import SourceError
from crm_graph.settings import Settings

if TYPE_CHECKING:
    from crm_graph.plugins_manager import PluginSet

DEFAULT_BATCH = 10_000
SEPARATE_READER_BYTES = 4_000_000  # files this large are read in a process of their own


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


async def run_import(
    engine: AsyncEngine,
    settings: Settings,
    options: ImportOptions,
    progress: Progress | None = None,
    plugins: PluginSet | None = None,
) -> Summary:
    """Import ``options.path`` as a kind of the registry (:mod:`crm_graph.io.kinds`, with the
    kinds of ``plugins``); raises :class:`SourceError` when the file cannot be imported."""
    kinds = data_kinds(plugins)
    if options.kind not in kinds:
        raise SourceError(f"unknown kind {options.kind!r} (known: {', '.join(kinds)})")
    kind = kinds[options.kind]
    context = import_context(settings, options.create_customers, plugins)
    summary = Summary(options.kind)
    with collector_relaxed():
        async with aclosing(_read_ahead(kind, context, options)) as reading:
            header: Header = await anext(reading)
            summary.ignored_columns = header.ignored
            report = Rejects(options.path, header.columns, lambda: open_source(options))
            with closing(report) as rejects:
                account = _Accounting(summary, rejects, progress)
                if options.dry_run or options.strict:
                    await _write_in_one_transaction(
                        engine, reading, kind, context, options, account
                    )
                elif engine.dialect.name == "sqlite":
                    await commit_together(engine, reading, kind, context, account)
                else:
                    await commit_each(engine, reading, kind, context, account)
                summary.rejects_path = rejects.path if rejects.count else None
    return summary


def _read_ahead(
    kind: DataKind, context: ImportContext, options: ImportOptions
) -> AsyncGenerator[Any, None]:
    """The file's header, then its batches read and checked: in a process of its own for a
    large file. Whether order numbers only increase is found here while that process starts."""
    separate = _size(options.path) >= SEPARATE_READER_BYTES
    in_order = asyncio.to_thread(in_number_order_of, kind, options)
    return read_ahead(read_batches, kind, context, options, separate=separate, later=in_order)


@dataclass
class _Accounting:
    """Adds each written batch to the summary and its rejected rows to the report, in file
    order; collects the young generations every few batches (see :func:`collector_relaxed`)."""

    summary: Summary
    rejects: Rejects
    progress: Progress | None
    batches: count[int] = field(default_factory=lambda: count(1))

    def __call__(self, tally: Tally) -> None:
        self.summary.add(tally)
        if next(self.batches) % COLLECT_EVERY == 0:
            gc.collect(1)
        for number, why in tally.rejects:
            self.rejects.add(number, why)
        if self.progress is not None:
            self.progress(self.summary.rows, tally.read_to)


class _RollBack(Exception):
    """Leaves the single transaction of a dry run or of a strict import with rejects."""


async def _write_in_one_transaction(
    engine: AsyncEngine,
    reading: AsyncIterator[Prepared],
    kind: DataKind,
    context: ImportContext,
    options: ImportOptions,
    account: _Accounting,
) -> None:
    """A dry run, or a strict import: every batch in one transaction, rolled back by a dry
    run and by a strict import with any reject."""
    try:
        async with bulk_session(engine) as session:
            async for prepared in reading:
                account(await write_batch(session, prepared, kind, context))
            if options.dry_run or account.summary.rejected:
                raise _RollBack
    except _RollBack:
        pass


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # opening it says why (SourceError)
