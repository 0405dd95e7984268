"""Batched upserts behind imports: the CLI's files, GraphQL ``importCustomers``/``importOrders``.

Every item goes through the same validation as the single-row mutations (``validate_fields``
of each entity); a batch then looks its keys up with a few statements and writes new rows
with one bulk insert per table. Items are independent: a bad item is rejected with its errors
and the others are written. Keys repeated inside a batch are handled in order, as if the
items had come in separate batches.

Each created or changed row gets the event its single-row mutation emits, with the same
payload, written with the batch (:func:`crm_graph.events.outbox.emit_many`); an unchanged
row gets none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from orjson import Fragment
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.db.bulk import among, insert_rows, reserve_ids
from crm_graph.db.jsonable import camel, fragment
from crm_graph.db.models import Customer, CustomerMerge, Product, utcnow
from crm_graph.domain import customers, products
from crm_graph.domain.errors import Collector, FieldError
from crm_graph.domain.values import clean_text
from crm_graph.events.outbox import emit_many
from crm_graph.events.payloads import ENTITY_NAMES, entity, entity_of

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
    payload = entity_of(table, row, name)
    return (event_type, name, payload["id"], fragment({"entity": payload, **extra}))


def changed_event(event_type: str, row: Any, changed: Sequence[str], **extra: Any) -> Event:
    """The event of a changed ORM row (flushed, so its version is the new one)."""
    name = ENTITY_NAMES[type(row)]
    values = entity(row, name)
    payload = {"entity": values, **extra, "changedFields": [camel(f) for f in changed]}
    return (event_type, name, values["id"], fragment(payload))


async def emit_in_order(session: AsyncSession, events: list[tuple[int, Event]]) -> None:
    """Emit a run's events in the order of its items (index, event)."""
    events.sort(key=lambda pair: pair[0])
    await emit_many(session, [event for _, event in events])


# --- customers ---------------------------------------------------------------------------


def new_customer_row(values: dict[str, Any], now: Any) -> dict[str, Any]:
    """Every column of a new customer (bulk inserts bypass the model's Python defaults)."""
    return {
        "external_id": values["external_id"],
        "name": values["name"],
        "email": values.get("email"),
        "phone": values.get("phone"),
        "company": values.get("company"),
        "lifecycle_stage": values.get("lifecycle_stage") or "lead",
        "tags": values.get("tags") or [],
        "attributes": values.get("attributes") or {},
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
        "version": 1,
        "owner_id": None,
        "erased_at": None,
    }


def _patched(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Attributes after a patch: given keys replace, keys given as null are removed."""
    merged = {**current, **patch}
    return {k: v for k, v in merged.items() if v is not None}


def check_customers(items: Sequence[dict[str, Any]], region: str) -> Checked:
    checked = Checked.of(len(items))
    for index, item in enumerate(items):
        errors = Collector()
        external_id = clean_text(
            item.get("external_id"), errors, "input", "externalId", max_length=200, required=True
        )
        values = customers.validate_fields(
            {k: v for k, v in item.items() if k != "external_id"}, region, errors
        )
        if errors.errors:
            checked.outcomes[index] = rejected(errors.errors)
        else:
            checked.items.append((index, {**values, "external_id": external_id}))
    return checked


async def write_customers(session: AsyncSession, checked: Checked, region: str) -> BatchResult:
    for run in chunks(checked.items, lambda values: values["external_id"]):
        await _write_customers(session, run, checked.outcomes, region)
    return checked.result()


async def import_customers(
    session: AsyncSession, items: Sequence[dict[str, Any]], region: str
) -> BatchResult:
    """Upsert customers by external id. ``attributes`` is a patch (null removes a key)."""
    return await write_customers(session, check_customers(items, region), region)


async def _write_customers(
    session: AsyncSession,
    run: list[tuple[int, dict[str, Any]]],
    outcomes: list[Outcome | None],
    region: str,
) -> None:
    now = utcnow()
    keys = [values["external_id"] for _, values in run]
    existing = {
        row.external_id: row
        for row in await session.scalars(
            select(Customer).where(among(session, Customer.external_id, keys))
        )
    }
    merged = await ids_by(session, CustomerMerge.external_id, keys)
    new: list[tuple[int, dict[str, Any]]] = []
    updated: list[tuple[int, Customer, list[str]]] = []
    for index, values in run:
        key = values["external_id"]
        row = existing.get(key)
        if key in merged:
            outcomes[index] = reject(
                "MERGED",
                f"external id {key!r} belongs to a customer merged into another; update that one",
                "externalId",
            )
        elif row is None:
            if not values.get("name"):
                outcomes[index] = reject("REQUIRED", "a new customer needs a name", "name")
            else:
                values["attributes"] = _patched({}, values.get("attributes") or {})
                new.append((index, new_customer_row(values, now)))
        elif row.deleted_at is not None:
            outcomes[index] = reject(
                "DELETED", "the customer with this external id is deleted", "externalId"
            )
        else:
            outcomes[index], changed = _update_customer(row, values, region, now)
            if changed:
                updated.append((index, row, changed))
    written = await insert_new(session, Customer.__table__, [row for _, row in new])
    events = []
    for (index, _), row in zip(new, written, strict=True):
        outcomes[index] = Outcome(INSERTED, row["id"])
        events.append((index, created_event("customer.created", Customer.__table__, row)))
    await session.flush()
    events += [(i, changed_event("customer.updated", row, fields)) for i, row, fields in updated]
    await emit_in_order(session, events)


def _update_customer(
    row: Customer, values: dict[str, Any], region: str, now: Any
) -> tuple[Outcome, list[str]]:
    """The outcome, and the fields that changed."""
    changes = {k: v for k, v in values.items() if k not in ("external_id", "attributes")}
    if "attributes" in values:
        errors = Collector()
        patched = _patched(row.attributes, values["attributes"])
        changes["attributes"] = customers.validate_fields({"attributes": patched}, region, errors)[
            "attributes"
        ]
        if errors.errors:
            return rejected(errors.errors), []
    changed = [k for k, v in changes.items() if getattr(row, k) != v]
    for key in changed:
        setattr(row, key, changes[key])
    if not changed:
        return Outcome(UNCHANGED, row.id), []
    row.updated_at = now
    return Outcome(UPDATED, row.id), changed


@dataclass
class CustomerRefs:
    """Customers referenced by external id: found (their id), or refused (why)."""

    ids: dict[str, int] = field(default_factory=dict)
    refused: dict[str, FieldError] = field(default_factory=dict)
    created: int = 0

    def error(self, key: str, create: bool, path: str) -> FieldError | None:
        """Why ``key`` cannot be used; absent keys are fine when they may be created."""
        if key in self.refused:
            return self.refused[key]
        if key not in self.ids and not create:
            return FieldError("NOT_FOUND", f"no customer {key!r}", [path])
        return None


async def find_customers(session: AsyncSession, keys: set[str], path: str) -> CustomerRefs:
    """Live customers by external id, or by the alias a merge left behind."""
    refs = CustomerRefs()
    found = await session.execute(
        select(Customer.external_id, Customer.id, Customer.deleted_at).where(
            among(session, Customer.external_id, keys)
        )
    )
    rows = {key: (pk, deleted) for key, pk, deleted in found}
    missing = keys - rows.keys()
    if missing:
        aliased = await session.execute(
            select(CustomerMerge.external_id, Customer.id, Customer.deleted_at)
            .join(Customer, Customer.id == CustomerMerge.survivor_id)
            .where(among(session, CustomerMerge.external_id, missing))
        )
        rows.update({key: (pk, deleted) for key, pk, deleted in aliased})
    for key, (pk, deleted) in rows.items():
        if deleted is None:
            refs.ids[key] = pk
        else:
            refs.refused[key] = FieldError("DELETED", f"customer {key!r} is deleted", [path])
    return refs


async def create_referenced(session: AsyncSession, refs: CustomerRefs, keys: set[str]) -> None:
    """Create the customers ``keys`` name that do not exist yet (orders refer to them).

    Such a customer is named after its external id and is at the ``customer`` stage: it is
    known only from what refers to it until its own record is imported.
    """
    absent = sorted(keys - refs.ids.keys())
    if not absent:
        return
    now = utcnow()
    written = await insert_new(
        session,
        Customer.__table__,
        [
            new_customer_row({"external_id": key, "name": key, "lifecycle_stage": "customer"}, now)
            for key in absent
        ],
    )
    for row in written:
        refs.ids[row["external_id"]] = row["id"]
    refs.created += len(absent)
    await emit_many(
        session, [created_event("customer.created", Customer.__table__, row) for row in written]
    )


# --- products ----------------------------------------------------------------------------


def check_products(items: Sequence[dict[str, Any]]) -> Checked:
    checked = Checked.of(len(items))
    for index, item in enumerate(items):
        errors = Collector()
        sku = clean_text(item.get("sku"), errors, "input", "sku", max_length=64, required=True)
        if errors.errors:
            checked.outcomes[index] = rejected(errors.errors)
        else:
            checked.items.append((index, {**item, "sku": sku}))
    return checked


async def write_products(
    session: AsyncSession, checked: Checked, default_currency: str
) -> BatchResult:
    """The other fields are checked here: a price is rounded in the stored product's currency."""
    for run in chunks(checked.items, lambda item: item["sku"]):
        await _write_products(session, run, checked.outcomes, default_currency)
    return checked.result()


async def import_products(
    session: AsyncSession, items: Sequence[dict[str, Any]], default_currency: str
) -> BatchResult:
    """Upsert products by SKU; a new product without a currency gets ``default_currency``."""
    return await write_products(session, check_products(items), default_currency)


async def _write_products(
    session: AsyncSession,
    run: list[tuple[int, dict[str, Any]]],
    outcomes: list[Outcome | None],
    default_currency: str,
) -> None:
    now = utcnow()
    existing = {
        row.sku: row
        for row in await session.scalars(
            select(Product).where(among(session, Product.sku, [item["sku"] for _, item in run]))
        )
    }
    new: list[tuple[int, dict[str, Any]]] = []
    updated: list[tuple[int, Product, list[str]]] = []
    for index, item in run:
        errors = Collector()
        row = existing.get(item["sku"])
        if row is None:
            defaults = {"name": None, "price": None, "currency": default_currency}
            values = products.validate_fields({**defaults, **item}, None, errors)
            if not errors.errors:
                new.append((index, {"category": None, **values, "created_at": now}))
        else:
            changes = products.validate_fields(item, row, errors)
            if not errors.errors:
                changed = [k for k, v in changes.items() if getattr(row, k) != v]
                for key in changed:
                    setattr(row, key, changes[key])
                if changed:
                    row.updated_at = now
                    updated.append((index, row, changed))
                outcomes[index] = Outcome(UPDATED if changed else UNCHANGED, row.id)
        if errors.errors:
            outcomes[index] = rejected(errors.errors)
    written = await insert_new(
        session,
        Product.__table__,
        [{**values, "updated_at": now, "version": 1} for _, values in new],
    )
    events = []
    for (index, _), row in zip(new, written, strict=True):
        outcomes[index] = Outcome(INSERTED, row["id"])
        events.append((index, created_event("product.created", Product.__table__, row)))
    await session.flush()
    events += [(i, changed_event("product.updated", row, fields)) for i, row, fields in updated]
    await emit_in_order(session, events)
