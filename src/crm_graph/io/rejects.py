"""``FILE.rejects.csv``: every rejected row with its row number, the reason and its own cells,
in row order; cells a spreadsheet would run as formulas are escaped, as in exports."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from crm_graph.io.formulas import escape
from crm_graph.io.sources import Source


def rejects_path(source: Path) -> Path:
    return source.with_name(source.name + ".rejects.csv")


class Rejects:
    """The report of one import; a report left by an earlier run is removed first.

    Rejected rows are noted as they come, by number, in a temporary SQLite file (memory stays
    flat, and rows come out of order: those of an order whose rows are apart in the file are
    imported at the end). Closing writes the report in row order, with each row's cells read
    again from the file: rows need not carry their cells through the import for the few that
    are rejected.
    """

    def __init__(self, source: Path, columns: list[str] | None, reopen: Callable[[], Source]):
        self.path = rejects_path(source)
        self.path.unlink(missing_ok=True)
        self.header = ["row", "reason", *(columns if columns is not None else ["data"])]
        self.count = 0
        self._reopen = reopen
        self._noted: sqlite3.Connection | None = None

    def add(self, row: int, reason: str) -> None:
        if self._noted is None:
            self._noted = sqlite3.connect("")  # private, on disk, deleted when closed
            self._noted.execute("CREATE TABLE rejected (row INTEGER, reason TEXT)")
        self._noted.execute("INSERT INTO rejected VALUES (?, ?)", (row, reason))
        self.count += 1

    def close(self) -> None:
        if self._noted is None:
            return
        with (
            closing(self._noted) as noted,
            closing(self._reopen()) as source,
            self.path.open("w", newline="", encoding="utf-8") as report,
        ):
            out = csv.writer(report)
            out.writerow(map(escape, self.header))
            rows = source.cells()
            number, cells = 0, []
            for row, reason in noted.execute("SELECT row, reason FROM rejected ORDER BY row"):
                while number < row:
                    number, cells = next(rows, (row, []))  # [] only if the file has changed
                out.writerow([row, escape(reason), *map(escape, cells)])
