"""What every batched write shares: per-item outcomes, the checked batch, runs without a
repeated key, inserts under reserved ids, and events with the payloads of the single-row
mutations.

Batches serve imports (the CLI's files, GraphQL ``importCustomers``/``importOrders``). Items are
independent: a bad item is rejected with its errors and the others are written. Keys repeated
inside a batch are handled in order, as if the items had come in separate batches. Each
created or changed row gets the event its single-row mutation emits, with the same payload,
written with the batch (:func:`crm_graph.events.outbox.emit_many`); an unchanged row gets none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from orjson import Fragment
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.db.batch_writes import among, insert_rows, reserve_ids
from crm_graph.db.jsonable import camel, fragment, row_json, values_json
from crm_graph.domain.errors import FieldError
from crm_graph.events.outbox import emit_many
from crm_graph.events.payloads import ENTITY_NAMES

INSERTED, UPDATED, UNCHANGED, REJECTED = "inserted", "updated", "unchanged", "rejected"
MAX_ITEMS = 1000  # items per GraphQL request

T = TypeVar("T")


@dataclass
class Outcome:
    """What happened to one item: its status, the row's id, or why it was rejected."""

    status: str
    id: int | None = None
    errors: Sequence[FieldError] = ()


@dataclass
class BatchResult:
    outcomes: list[Outcome]
    created_customers: int = 0


@dataclass
class Checked:
    """A batch after the checks that need no database (``check_*``, safe in any thread):
    the rejections found so far, and the other items with their checked values."""

    outcomes: list[Outcome | None]
    items: list[tuple[int, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, count: int) -> Checked:
        return cls([None] * count)

    def result(self, created_customers: int = 0) -> BatchResult:
        return BatchResult(self.outcomes, created_customers)  # type: ignore[arg-type]


def rejected(errors: Sequence[FieldError]) -> Outcome:
    """A rejection; paths lose the single-mutation ``input`` prefix (items have their own)."""
    return Outcome(
        REJECTED,
        errors=[
            FieldError(e.code, e.message, e.field[1:] if e.field[:1] == ["input"] else e.field)
            for e in errors
        ],
    )


def reject(code: str, message: str, *path: str) -> Outcome:
    return Outcome(REJECTED, errors=[FieldError(code, message, list(path))])


def chunks(
    items: Sequence[tuple[int, T]], key: Callable[[T], Any]
) -> Iterator[list[tuple[int, T]]]:
    """Runs of items without a repeated key, in order, so each key is written once per run."""
    run: list[tuple[int, T]] = []
    seen: set[Any] = set()
    for index, item in items:
        k = key(item)
        if k in seen:
            yield run
            run, seen = [], set()
        seen.add(k)
        run.append((index, item))
    if run:
        yield run


async def ids_by(session: AsyncSession, column: Any, keys: Sequence[str]) -> dict[str, int]:
    model = column.class_
    result = await session.execute(select(column, model.id).where(among(session, column, keys)))
    return dict(result.all())


async def insert_new(
    session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]
) -> Sequence[dict[str, Any]]:
    """Insert rows under ids reserved for them; returns them as written (ids and defaults in)."""
    for row, pk in zip(rows, await reserve_ids(session, table, len(rows)), strict=True):
        row["id"] = pk
    return await insert_rows(session, table, rows)


# (type, entity type, global id, payload): the payload already JSON, made as soon as it is
# built, while it is fresh in memory; a batch's thousands made JSON later, together, cost the
# writer of an import 5% more.
Event = tuple[str, str, str, Fragment]
ENTITY_NAMES_BY_TABLE = {model.__tablename__: name for model, name in ENTITY_NAMES.items()}


def created_event(event_type: str, table: Table, row: Mapping[str, Any], **extra: Any) -> Event:
    """The event of a row written in bulk, with the payload its single-row mutation emits."""
    name = ENTITY_NAMES_BY_TABLE[table.name]
    payload = values_json(table, row, name)
    return (event_type, name, payload["id"], fragment({"entity": payload, **extra}))


def changed_event(event_type: str, row: Any, changed: Sequence[str], **extra: Any) -> Event:
    """The event of a changed ORM row (flushed, so its version is the new one)."""
    name = ENTITY_NAMES[type(row)]
    values = row_json(row, name)
    payload = {"entity": values, **extra, "changedFields": [camel(f) for f in changed]}
    return (event_type, name, values["id"], fragment(payload))


async def emit_in_order(session: AsyncSession, events: list[tuple[int, Event]]) -> None:
    """Emit a run's events in the order of its items (index, event)."""
    events.sort(key=lambda pair: pair[0])
    await emit_many(session, [event for _, event in events])
