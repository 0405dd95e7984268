"""``FILE.rejects.csv``: every rejected row with its row number, the reason and its own cells."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, Any

from crm_graph.io.sources import Record


def rejects_path(source: Path) -> Path:
    return source.with_name(source.name + ".rejects.csv")


class Rejects:
    """Written only when a row is rejected; a report left by an earlier run is removed first."""

    def __init__(self, source: Path, columns: list[str] | None) -> None:
        self.path = rejects_path(source)
        self.path.unlink(missing_ok=True)
        self.header = ["row", "reason", *(columns if columns is not None else ["data"])]
        self.count = 0
        self._file: IO[str] | None = None
        self._writer: Any = None

    def add(self, record: Record, reason: str) -> None:
        if self._file is None:
            self._file = self.path.open("w", newline="", encoding="utf-8")
            self._writer = csv.writer(self._file)
            self._writer.writerow(self.header)
        self._writer.writerow([record.number, reason, *record.raw])
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
