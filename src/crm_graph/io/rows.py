"""From file rows to the items of the batched imports (``domain/*_imports.py``), and errors back
to row reasons.

A column present in the file sets its field and an empty cell clears it; columns the file does
not have leave the stored values alone. Customers' extra columns are custom attributes (an
empty cell removes the attribute); their ``addresses`` are a JSON array (in a CSV cell, its
JSON text). Rows of one order share its ``order_number`` and each adds
a line; JSON Lines may instead give an order's ``lines`` as a list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from crm_graph.domain.errors import Collector, FieldError
from crm_graph.io.sources import Record


@dataclass(frozen=True)
class Columns:
    """A kind's file columns: those a file must have and those it may have."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    attributes: bool = False  # extra columns become custom attributes

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional

    def missing(self, columns: Sequence[str]) -> list[str]:
        return [c for c in self.required if c not in columns]

    def ignored(self, columns: Sequence[str]) -> list[str]:
        return [] if self.attributes else [c for c in columns if c and c not in self.columns]


CUSTOMERS = Columns(
    ("external_id", "name"),
    (
        "email",
        "phone",
        "company",
        "lifecycle_stage",
        "tags",
        "birth_date",
        "preferred_language",
        "time_zone",
        "addresses",
    ),
    attributes=True,
)
PRODUCTS = Columns(("sku", "name"), ("category", "price", "currency"))
INTERACTIONS = Columns(
    ("customer_external_id", "channel", "occurred_at"),
    ("direction", "subject", "body"),
)
ORDERS = Columns(
    ("customer_external_id", "placed_at", "total"),
    ("order_number", "currency", "sku", "quantity", "unit_price", "status"),
)
TAG_SEPARATOR = ";"
# Fields that cannot be cleared: an empty cell leaves them as they are (or at their default).
_KEEP_WHEN_EMPTY = {"lifecycle_stage", "price", "currency", "direction", "status"}


def cell_time(value: Any, errors: Collector, *path: str) -> datetime | None:
    """A cell's ISO 8601 time with its zone, in UTC; None for an empty cell (a plugin's kind
    takes that as "now") or, with the problem added to ``errors``, for anything else."""
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        errors.add("INVALID_VALUE", "give an ISO 8601 time with its zone", *path)
        return None
    return moment.astimezone(UTC)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def item_of(kind: Columns, values: dict[str, Any]) -> dict[str, Any]:
    """The item for one row of a kind whose rows are items of their own (not orders)."""
    item: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for key, value in values.items():
        if key in kind.columns:
            if not (key in _KEEP_WHEN_EMPTY and _blank(value)):
                item[key] = value
        elif kind.attributes and key == "attributes" and isinstance(value, dict):
            attributes.update(value)
        elif kind.attributes:
            attributes[key] = None if _blank(value) else value
    if "tags" in item and not isinstance(item["tags"], list):  # a CSV cell: "vip; early"
        cell = str(item["tags"] or "")
        item["tags"] = [tag.strip() for tag in cell.split(TAG_SEPARATOR) if tag.strip()]
    if isinstance(item.get("addresses"), str):  # a CSV cell: a JSON array, or blank
        item["addresses"] = _json_cell(item["addresses"])
    if attributes:
        item["attributes"] = attributes
    return item


def _json_cell(cell: str) -> Any:
    """A cell holding JSON (a customer's addresses): blank is empty, bad JSON stays text (the
    domain then says what is wrong with it)."""
    if not cell.strip():
        return []
    try:
        return json.loads(cell)
    except ValueError:
        return cell


ORDER_FIELDS = ("customer_external_id", "placed_at", "total", "currency", "status")


class UnitRows(NamedTuple):
    """The file rows behind one item: all of them, in file order, and for an order the row that
    gave each of its lines. Once checked, this is all an import keeps of an item's rows."""

    numbers: tuple[int, ...]
    line_rows: tuple[int, ...] = ()

    def __reduce__(self) -> tuple[Any, ...]:
        # Thousands cross to the writing process per batch: pickled as a plain tuple.
        return (tuple.__new__, (UnitRows, tuple(self)))


@dataclass
class OrderGroup:
    """The rows of one order; ``line_rows[i]`` is the row that gave line ``i``."""

    first: Record
    records: list[Record] = field(default_factory=list)
    line_rows: list[int] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    conflicts: dict[int, str] = field(default_factory=dict)
    header: tuple[Any, ...] = ()

    def add(self, record: Record) -> None:
        """Add a row (this runs for every row of a file: it is written for speed)."""
        values = record.values
        header = tuple(map(values.get, ORDER_FIELDS))
        if not self.records:
            self.header = header
        elif header != self.header:
            self._check_agrees(record)
        self.records.append(record)
        nested = values.get("lines")
        for line in nested if isinstance(nested, list) else (values,):
            if not isinstance(line, dict):
                continue
            sku = line.get("sku")
            if sku is None or (isinstance(sku, str) and not sku.strip()):
                continue
            quantity, price = line.get("quantity"), line.get("unit_price")
            self.lines.append(
                {
                    "sku": sku,
                    "quantity": None if _blank(quantity) else quantity,
                    "unit_price": None if _blank(price) else price,
                }
            )
            self.line_rows.append(record.number)

    def _check_agrees(self, record: Record) -> None:
        """Cells may differ in spaces around them; any other difference is a conflict."""
        first, values = self.first.values, record.values
        for name in ORDER_FIELDS:
            if _cell(values.get(name)) != _cell(first.get(name)):
                self.conflicts[record.number] = (
                    f"{name} differs from row {self.first.number} of the same order"
                )
                return

    def rows(self) -> UnitRows:
        return UnitRows(tuple(r.number for r in self.records), tuple(self.line_rows))

    def item(self) -> dict[str, Any]:
        values = self.first.values
        item = {k: values.get(k) for k in ORDER_FIELDS}
        item["number"] = values.get("order_number")
        item["lines"] = self.lines
        return item


def _cell(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def order_number(record: Record) -> str | None:
    """A row's order number; rows sharing one form one order."""
    return number_of(record.values.get("order_number"))


def number_of(cell: Any) -> str | None:
    """An ``order_number`` cell as the number it stands for."""
    return None if cell is None else (str(cell).strip() or None)


def order_key(record: Record) -> Any:
    """Which order a row belongs to: its number's, or (without one) an order of its own."""
    return order_number(record) or ("row", record.number)


_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_RENAMED = {"number": "order_number"}


def column_of(path: Sequence[str]) -> str:
    """The file's name for a field path: ``["lines", "0", "unitPrice"]`` -> ``unit_price``."""
    name = _CAMEL.sub(r"_\1", path[-1]).lower() if path else ""
    if len(path) >= 2 and path[-2] in {"attributes", "tags"}:
        name = path[-2] if path[-2] == "tags" else path[-1]
    return _RENAMED.get(name, name)


def reason(errors: Sequence[FieldError]) -> str:
    return "; ".join(f"{column_of(e.field)}: {e.message}" if e.field else e.message for e in errors)


def sibling_reason(culprits: Iterable[int]) -> str:
    """Why a good row of an order is left out: the rows that were rejected."""
    return f"another row of this order was rejected (row {', '.join(map(str, sorted(culprits)))})"


def row_reasons(rows: UnitRows, errors: Sequence[FieldError]) -> dict[int, str]:
    """Why each row of a rejected item was left out: its own problem (a line's is its row's,
    the rest the first row's), or a sibling's."""
    own: dict[int, list[FieldError]] = {}
    for error in errors:
        if error.field[:1] == ["lines"] and len(error.field) > 1 and error.field[1].isdigit():
            own.setdefault(rows.line_rows[int(error.field[1])], []).append(error)
        else:
            own.setdefault(rows.numbers[0], []).append(error)
    reasons = {row: reason(found) for row, found in own.items()}
    sibling = sibling_reason(reasons)
    for number in rows.numbers:
        reasons.setdefault(number, sibling)
    return reasons
