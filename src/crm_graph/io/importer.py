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
from collections.abc import Callable
from contextlib import aclosing, closing
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from crm_graph.db.batch_writes import bulk_session
from crm_graph.io.batches import Header, in_number_order_of, open_source, read_batches
from crm_graph.io.collector import COLLECT_EVERY, collector_relaxed
from crm_graph.io.commits import Tally, commit_each, commit_together, write_batch
from crm_graph.io.reader import read_ahead
from crm_graph.io.rejects import Rejects
from crm_graph.io.steps import steps_for
from crm_graph.settings import Settings

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


class _RollBack(Exception):
    """Leaves the single transaction of a dry run or of a strict import with rejects."""


async def run_import(
    engine: AsyncEngine,
    settings: Settings,
    options: ImportOptions,
    progress: Progress | None = None,
) -> Summary:
    """Import ``options.path``; raises :class:`SourceError` when the file cannot be imported."""
    steps = steps_for(settings, options)
    summary = Summary(options.kind)
    accounted = count(1)  # batches
    with collector_relaxed():
        separate = _size(options.path) >= SEPARATE_READER_BYTES
        # Whether order numbers only increase is found here while the reading process starts.
        in_order = asyncio.to_thread(in_number_order_of, options)
        async with aclosing(
            read_ahead(read_batches, options, settings, separate=separate, later=in_order)
        ) as reading:
            header: Header = await anext(reading)
            summary.ignored_columns = header.ignored
            report = Rejects(options.path, header.columns, lambda: open_source(options))
            with closing(report) as rejects:

                def account(tally: Tally) -> None:
                    summary.add(tally)
                    if next(accounted) % COLLECT_EVERY == 0:
                        gc.collect(1)  # see collector_relaxed
                    for number, why in tally.rejects:
                        rejects.add(number, why)
                    if progress is not None:
                        progress(summary.rows, tally.read_to)

                if options.dry_run or options.strict:
                    try:
                        async with bulk_session(engine) as session:
                            async for prepared in reading:
                                account(await write_batch(session, prepared, steps))
                            if options.dry_run or summary.rejected:
                                raise _RollBack
                    except _RollBack:
                        pass
                elif engine.dialect.name == "sqlite":
                    await commit_together(engine, reading, steps, account)
                else:
                    await commit_each(engine, reading, steps, account)
                summary.rejects_path = rejects.path if rejects.count else None
    return summary


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # opening it says why (SourceError)
