"""Orders whose rows are not next to each other in the file, brought together.

Rows sharing an ``order_number`` form one order wherever they are in the file, so the result
of an import never depends on how it is cut into batches. Exports usually write an order's
rows together, and those stream through untouched. A first pass over the file finds the order
numbers that come back after another order's rows; the import then sets their rows aside as
they come and imports them at the end, each order's rows together.

What is remembered lives in a temporary SQLite file, not in memory: one row per order number
(for the first pass) and the set-aside rows, so memory stays flat whatever the file's size.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from crm_graph.io.rows import order_number
from crm_graph.io.sources import Record

CHUNK = 900  # order numbers looked up at once (under SQLite's oldest limit of 999 variables)


class ScatteredOrders:
    """The order numbers of a file whose rows are apart, and those rows once set aside."""

    def __init__(self) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="crm-import-")
        # Used by one thread at a time, not always the same one: a small file is read by
        # whichever worker thread takes the next batch (crm_graph.io.reader).
        self._db = sqlite3.connect(
            Path(self._directory.name) / "regroup.db", check_same_thread=False
        )
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE seen (number TEXT PRIMARY KEY) WITHOUT ROWID;
            CREATE TABLE scattered (number TEXT PRIMARY KEY) WITHOUT ROWID;
            CREATE TABLE aside (number TEXT, row INTEGER, record TEXT, PRIMARY KEY (number, row));
            """
        )
        self.count = 0  # scattered order numbers

    def scan(self, numbers: Iterable[str | None]) -> None:
        """Find the scattered orders from each row's order number, in file order (see
        :func:`in_number_order`, a quicker check that a file in number order passes)."""
        previous: str | None = None
        starts: list[str] = []  # the numbers where a run of rows of one order starts
        for number in numbers:
            if number and number != previous:
                starts.append(number)
                if len(starts) >= CHUNK:
                    self._note(starts)
                    starts = []
            previous = number
        self._note(starts)
        self.count = self._db.execute("SELECT count(*) FROM scattered").fetchone()[0]

    def _note(self, starts: list[str]) -> None:
        """A number starting a second run (in this chunk or before it) is scattered."""
        if not starts:
            return
        distinct: set[str] = set()
        repeated: set[str] = set()
        for number in starts:
            (repeated if number in distinct else distinct).add(number)
        marks = ",".join("?" * len(distinct))
        found = self._db.execute(f"SELECT number FROM seen WHERE number IN ({marks})", [*distinct])
        repeated.update(number for (number,) in found)
        self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?)", ((n,) for n in distinct))
        self._db.executemany("INSERT OR IGNORE INTO scattered VALUES (?)", ((n,) for n in repeated))

    def is_scattered(self, number: str) -> bool:
        found = self._db.execute("SELECT 1 FROM scattered WHERE number = ?", (number,))
        return found.fetchone() is not None

    def set_aside(self, number: str, record: Record) -> None:
        self._db.execute(
            "INSERT INTO aside VALUES (?, ?, ?)",
            (number, record.number, json.dumps(record.values)),
        )

    def set_aside_rows(self) -> Iterator[Record]:
        """The rows set aside, each order's rows together and in file order."""
        rows = self._db.execute("SELECT row, record FROM aside ORDER BY number, row")
        for row, text in rows:
            yield Record(row, json.loads(text))

    def close(self) -> None:
        self._db.close()
        self._directory.cleanup()


def in_number_order(numbers: Iterable[str | None]) -> bool:
    """Whether each run of rows of one order starts with a number above every one before:
    then no order's rows are apart. Many systems number and export orders so: checking it
    remembers nothing, in two thirds of the time of :meth:`ScatteredOrders.scan`, and stops
    at the first number out of order."""
    previous: str | None = None
    top = ""
    for number in numbers:
        if number and number != previous:
            if number <= top:
                return False
            top = number
        previous = number
    return True


def regrouped(records: Iterable[Record], scattered: ScatteredOrders) -> Iterator[Record]:
    """``records`` with the rows of scattered orders moved to the end, grouped by order."""
    previous: str | None = None
    aside = False
    for record in records:
        number = None if record.problem else order_number(record)
        if number != previous:
            previous = number
            aside = number is not None and scattered.is_scattered(number)
        if aside:
            scattered.set_aside(number, record)  # type: ignore[arg-type]
        else:
            yield record
    yield from scattered.set_aside_rows()
