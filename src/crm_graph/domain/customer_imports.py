"""Customers upserted in batches by external id (``attributes`` is a patch).

Every item goes through the same validation as the single-row mutations
(:func:`crm_graph.domain.customers.validate_fields`); a batch then looks its keys up with a
few statements and writes new rows with one bulk insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.scope import held_out_of_sight
from crm_graph.db.batch_writes import among
from crm_graph.db.models import Customer, CustomerMerge, row_defaults, utcnow
from crm_graph.domain import customers
from crm_graph.domain.batches import (
    INSERTED,
    UNCHANGED,
    UPDATED,
    BatchResult,
    Checked,
    Outcome,
    changed_event,
    chunks,
    created_event,
    emit_in_order,
    ids_by,
    insert_new,
    reject,
    rejected,
)
from crm_graph.domain.changes import apply_changes
from crm_graph.domain.errors import Collector
from crm_graph.domain.matching import changes_duplicates, rematch
from crm_graph.domain.values import clean_text


def new_customer_row(values: dict[str, Any], now: Any) -> dict[str, Any]:
    """Every column of a new customer: ``values`` over the model's defaults."""
    return {**row_defaults(Customer, now), **values}


def _patched(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Attributes after a patch: given keys replace, keys given as null are removed."""
    merged = {**current, **patch}
    return {k: v for k, v in merged.items() if v is not None}


def _removals(fields: dict[str, Any]) -> list[str]:
    """Take the keys an attribute patch removes (null: an empty cell) out of ``fields``, so the
    patch is checked as the attributes it sets. A removal is no attribute: a wide, sparse file
    (each row with few of its many attribute columns filled) stays within the limits on a
    customer's attributes, which the attributes after the patch are checked against again."""
    patch = fields.get("attributes")
    if not isinstance(patch, dict):
        return []
    removed = [key for key, value in patch.items() if value is None]
    if removed:
        fields["attributes"] = {k: v for k, v in patch.items() if v is not None}
    return removed


def check_customers(items: Sequence[dict[str, Any]], region: str) -> Checked:
    checked = Checked.of(len(items))
    for index, item in enumerate(items):
        errors = Collector()
        external_id = clean_text(
            item.get("external_id"), errors, "input", "externalId", max_length=200, required=True
        )
        fields = {k: v for k, v in item.items() if k != "external_id"}
        removed = _removals(fields)
        values = customers.validate_fields(fields, region, errors)
        if removed and "attributes" in values:
            values["attributes"] = {**values["attributes"], **dict.fromkeys(removed)}
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
    hidden = await held_out_of_sight(
        session, Customer.external_id, [k for k in keys if k not in existing]
    )
    new: list[tuple[int, dict[str, Any]]] = []
    updated: list[tuple[int, Customer, list[str]]] = []
    for index, values in run:
        key = values["external_id"]
        row = existing.get(key)
        if key in merged:
            outcomes[index] = rejected([customers.merged_alias(key)])
        elif key in hidden:
            outcomes[index] = reject(
                customers.EXTERNAL_ID_UNAVAILABLE, customers.unavailable(key), "externalId"
            )
        elif row is None:
            if not values.get("name"):
                outcomes[index] = reject("REQUIRED", "a new customer needs a name", "name")
            else:
                values["attributes"] = _patched({}, values.get("attributes") or {})
                new.append((index, new_customer_row(values, now)))
        elif row.deleted_at is not None:
            outcomes[index] = rejected([customers.deleted_by_external_id()])
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
    await rematch(
        session,
        [row["id"] for row in written]
        + [row.id for _, row, fields in updated if changes_duplicates(fields)],
    )


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
    changed = apply_changes(row, changes, now)
    return Outcome(UPDATED if changed else UNCHANGED, row.id), changed
