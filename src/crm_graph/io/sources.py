"""Reading an input file row by row: CSV with a header row, or JSON Lines.

Rows are numbered as a person finds them: in a CSV the header is row 1 (as in a spreadsheet),
in JSON Lines the row number is the line number. A row that cannot be read at all (a wrong
number of cells, broken JSON, bytes that are not text in the file's encoding) becomes a record
with a ``problem`` instead of stopping the import. CSV cells escaped against formula injection
(:mod:`crm_graph.io.formulas`) are read as the values they escape.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crm_graph.io.formulas import unescape, unescape_row

FORMATS = ("csv", "jsonl")
REPLACED = "\ufffd"  # what undecodable bytes become
NOT_TEXT = "the row holds bytes that are not text in the file's encoding (see --encoding)"
JSONL_SUFFIXES = (".jsonl", ".ndjson")
# Far more than any kind has fields (a customer: 8, and at most 100 custom attributes), and than
# the exports of other systems usually have; a wider header is refused before any row is read.
MAX_COLUMNS = 1_000


class SourceError(ValueError):
    """The file as a whole cannot be imported (unreadable, bad header, missing columns)."""


@dataclass
class Record:
    """A row: its number, its values, or why it cannot be read. Its cells are not kept: the
    rejects report reads the few it needs again (:meth:`Source.cells`)."""

    number: int
    values: dict[str, Any]
    problem: str | None = None


def detect_format(path: Path) -> str:
    return "jsonl" if path.suffix.lower() in JSONL_SUFFIXES else "csv"


def column_name(header: str) -> str:
    """Header cells are matched loosely: ``" Customer External ID"`` is ``customer_external_id``."""
    return "_".join(header.strip().lower().split())


class Source:
    """An open input file: its columns (CSV) and records, and how many bytes were read."""

    def __init__(
        self, path: Path, fmt: str, *, delimiter: str = ",", encoding: str = "utf-8-sig"
    ) -> None:
        try:
            self._binary = path.open("rb")
        except OSError as exc:
            raise SourceError(f"cannot open {path}: {exc.strerror or exc}") from exc
        self.size = os.fstat(self._binary.fileno()).st_size
        self.format = fmt
        self.columns: list[str] | None = None
        self._csv: Any = None
        try:
            self._text = io.TextIOWrapper(
                self._binary, encoding=encoding, errors="replace", newline=""
            )
            if fmt == "csv":
                self._csv = csv.reader(self._text, delimiter=delimiter)
                self.columns = self._header()
        except (LookupError, TypeError, SourceError) as exc:
            self._binary.close()
            raise SourceError(str(exc)) from exc

    def _header(self) -> list[str]:
        try:
            header = next(self._csv)
        except StopIteration:
            raise SourceError("the file is empty: a CSV file needs a header row") from None
        except csv.Error as exc:
            raise SourceError(f"the header row cannot be read: {exc}") from exc
        if len(header) > MAX_COLUMNS:
            raise SourceError(
                f"the header row has {len(header):,} columns; at most {MAX_COLUMNS:,} can be "
                "imported (a customer has at most 100 custom attributes)"
            )
        columns = [column_name(unescape(cell)) for cell in header]
        repeated = sorted(name for name, count in Counter(columns).items() if name and count > 1)
        if repeated:
            raise SourceError(f"columns appear more than once: {', '.join(repeated)}")
        return columns

    @property
    def position(self) -> int:
        """Bytes consumed so far (read ahead by a buffer, which is fine for a progress bar)."""
        return self._binary.tell()

    def __iter__(self) -> Iterator[Record]:
        return self._csv_records() if self.format == "csv" else self._jsonl_records()

    def values_of(self, column: str) -> Iterator[Any]:
        """One column's value in each record (None for unreadable rows and rows without it),
        in file order: a cheaper pass over a file than whole records."""
        if self.format == "jsonl":
            for record in self._jsonl_records():
                yield None if record.problem else record.values.get(column)
            return
        columns = self.columns or []
        index = columns.index(column) if column in columns else None
        for _, cells, problem in self._csv_rows():
            yield None if problem or index is None else unescape(cells[index])

    def _csv_records(self) -> Iterator[Record]:
        columns = self.columns or []
        unnamed = "" in columns
        for number, cells, problem in self._csv_rows():
            if problem:
                yield Record(number, {}, problem)
                continue
            values = dict(zip(columns, unescape_row(cells), strict=True))
            if unnamed:
                del values[""]
            yield Record(number, values)

    def _csv_rows(self) -> Iterator[tuple[int, list[str], str | None]]:
        """Each non-blank row's number, cells and problem (None: readable, as wide as the
        header)."""
        width = len(self.columns or [])
        number = 1
        while True:
            number += 1
            try:
                cells = next(self._csv)
            except StopIteration:
                return
            except csv.Error as exc:
                yield number, [], f"the row cannot be read: {exc}"
                continue
            joined = "".join(cells)
            if not joined.strip():
                continue
            if REPLACED in joined:
                yield number, cells, NOT_TEXT
            elif len(cells) != width:
                yield number, cells, f"expected {width} cells, found {len(cells)}"
            else:
                yield number, cells, None

    def cells(self) -> Iterator[tuple[int, list[str]]]:
        """Each row's number and cells as the file has them (a JSON Lines row: its line)."""
        if self.format == "jsonl":
            for number, line in self._jsonl_lines():
                yield number, [line.rstrip("\r\n")]
        else:
            for number, cells, _ in self._csv_rows():
                yield number, cells

    def _jsonl_lines(self) -> Iterator[tuple[int, str]]:
        """Each non-blank line and its number."""
        for number, line in enumerate(self._text, start=1):
            if line.strip():
                yield number, line

    def _jsonl_records(self) -> Iterator[Record]:
        for number, line in self._jsonl_lines():
            problem = NOT_TEXT if REPLACED in line else None
            values: Any = {}
            if problem is None:
                try:
                    values = json.loads(line)
                except ValueError as exc:
                    problem = f"not valid JSON: {exc}"
                except RecursionError:
                    problem = "not valid JSON: nested too deeply to read"
                else:
                    if not isinstance(values, dict):
                        problem, values = "each line must hold a JSON object", {}
            yield Record(number, values, problem)

    def close(self) -> None:
        self._text.close()
