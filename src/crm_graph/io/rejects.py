"""``FILE.rejects.csv``: every rejected row with its row number, the reason and its own cells,
in row order."""

from __future__ import annotations

import csv
import heapq
import json
import os
import sqlite3
from pathlib import Path
from typing import IO, Any

from crm_graph.io.sources import Record


def rejects_path(source: Path) -> Path:
    return source.with_name(source.name + ".rejects.csv")


class Rejects:
    """Written only when a row is rejected; a report left by an earlier run is removed first.

    Rows come in file order, except those of orders whose rows are apart in the file, which are
    imported at the end (:mod:`crm_graph.io.regroup`). Such a late row waits in a temporary
    SQLite file (memory stays flat) and is merged in by row number when the report closes.
    """

    def __init__(self, source: Path, columns: list[str] | None) -> None:
        self.path = rejects_path(source)
        self.path.unlink(missing_ok=True)
        self.header = ["row", "reason", *(columns if columns is not None else ["data"])]
        self.count = 0
        self._last = 0  # the last row number written in order
        self._file: IO[str] | None = None
        self._writer: Any = None
        self._late: sqlite3.Connection | None = None

    def add(self, record: Record, reason: str) -> None:
        cells = [record.number, reason, *record.raw]
        if record.number < self._last:
            if self._late is None:
                self._late = sqlite3.connect("")  # private, on disk, deleted when closed
                self._late.execute("CREATE TABLE late (row INTEGER, cells TEXT)")
            self._late.execute("INSERT INTO late VALUES (?, ?)", (record.number, json.dumps(cells)))
        else:
            self._write(cells)
            self._last = record.number
        self.count += 1

    def _write(self, cells: list[Any]) -> None:
        if self._file is None:
            self._file = self.path.open("w", newline="", encoding="utf-8")
            self._writer = csv.writer(self._file)
            self._writer.writerow(self.header)
        self._writer.writerow(cells)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._late is not None:
            self._merge_late(self._late)
            self._late.close()

    def _merge_late(self, late: sqlite3.Connection) -> None:
        in_order = self.path.with_name(self.path.name + ".part")
        os.replace(self.path, in_order)
        with (
            in_order.open(newline="", encoding="utf-8") as written,
            self.path.open("w", newline="", encoding="utf-8") as merged,
        ):
            rows = csv.reader(written)
            out = csv.writer(merged)
            out.writerow(next(rows))  # the header
            waiting = (
                json.loads(c) for (c,) in late.execute("SELECT cells FROM late ORDER BY row")
            )
            out.writerows(heapq.merge(rows, waiting, key=_row_number))
        in_order.unlink()


def _row_number(cells: list[Any]) -> int:
    return int(cells[0])
