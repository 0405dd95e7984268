"""An import file read in batches and checked, without the database: what the reading
process (:mod:`crm_graph.io.reader`) hands the writer.

Rows of one order need not be next to each other: :mod:`crm_graph.io.regroup` brings them
together, so the batch size never changes what an import does.
"""

from __future__ import annotations

import gc
from collections.abc import Generator, Iterable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from crm_graph.domain.batches import Checked
from crm_graph.io.collector import COLLECT_EVERY, collector_relaxed
from crm_graph.io.regroup import ScatteredOrders, in_number_order, regrouped
from crm_graph.io.rows import (
    OrderGroup,
    UnitRows,
    item_of,
    number_of,
    order_key,
    sibling_reason,
)
from crm_graph.io.sources import Record, Source, SourceError

if TYPE_CHECKING:
    from crm_graph.io.importer import ImportOptions
    from crm_graph.io.kinds import DataKind, ImportContext

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


@dataclass
class Header:
    """What the reader knows once the file is open: the CSV columns (None for JSON Lines) and
    those an import of this kind leaves out."""

    columns: list[str] | None
    ignored: list[str]


def read_batches(
    kind: DataKind, context: ImportContext, options: ImportOptions, in_number_order: bool
) -> Generator[Header | Prepared, None, None]:
    """What the reader (:mod:`crm_graph.io.reader`) hands over: the header, then each batch
    read and checked, in file order. Orders are regrouped unless ``in_number_order``."""
    with ExitStack() as stack:
        stack.enter_context(collector_relaxed())
        source = stack.enter_context(closing(open_source(options)))
        columns = source.columns
        if columns is not None and (missing := kind.columns.missing(columns)):
            raise SourceError(f"required columns are missing: {', '.join(missing)}")
        yield Header(columns, [] if columns is None else kind.columns.ignored(columns))
        records: Iterable[Record] = source
        if kind.grouped and not in_number_order:
            scattered = stack.enter_context(closing(ScatteredOrders()))
            scattered.scan(_order_numbers(options))
            if scattered.count:  # usually none: exports write an order's rows together
                records = regrouped(source, scattered)
        for number, batch in enumerate(_batches(records, kind, options.batch_size), start=1):
            yield _prepare(batch, kind, context, source.position)
            if number % COLLECT_EVERY == 0:
                gc.collect(1)  # see collector_relaxed


def open_source(options: ImportOptions) -> Source:
    return Source(
        options.path, options.format, delimiter=options.delimiter, encoding=options.encoding
    )


def in_number_order_of(kind: DataKind, options: ImportOptions) -> bool:
    """Whether the file's orders come in increasing number: then none has its rows apart."""
    return kind.grouped and in_number_order(_order_numbers(options))


def _order_numbers(options: ImportOptions) -> Iterator[str | None]:
    """The order number of each row of the file (None for unreadable rows), in file order."""
    with closing(open_source(options)) as source:
        for cell in source.values_of("order_number"):
            yield number_of(cell)


def _records(unit: Unit) -> list[Record]:
    return unit.records if isinstance(unit, OrderGroup) else [unit]


def _batches(records: Iterable[Record], kind: DataKind, size: int) -> Iterator[list[Unit]]:
    """Batches of about ``size`` rows; an order's rows (next to each other, see
    :mod:`crm_graph.io.regroup`) stay together in one batch."""
    if not kind.grouped:
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


def _prepare(batch: list[Unit], kind: DataKind, context: ImportContext, read_to: int) -> Prepared:
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
            items.append(item_of(kind.columns, unit.values))
    prepared.checked = kind.check(items, context)
    return prepared
