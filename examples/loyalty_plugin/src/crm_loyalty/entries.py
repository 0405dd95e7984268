"""Loyalty entries as a kind of records: ``crm-graph import loyalty_entries FILE`` awards the
points of each row (a rejects file says why a row was not), ``crm-graph export loyalty_entries``
writes them back in the same columns, so an export imports back unchanged.

Each row is checked by the rules of the ``awardLoyaltyPoints`` mutation (:func:`check_award`).
An entry equal in every column to one already recorded is left unchanged, so importing a
file twice awards its points once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    INSERTED,
    UNCHANGED,
    BatchResult,
    Checked,
    Collector,
    Columns,
    CustomerRow,
    DataKind,
    ImportContext,
    Outcome,
    cell_time,
    find_customers,
    rejected,
    to_global_id,
    utcnow,
    write_records,
)
from crm_loyalty.accounts import add_points, check_award
from crm_loyalty.config import NAME
from crm_loyalty.models import LoyaltyEntry

COLUMNS = Columns(("customer_external_id", "points", "reason"), ("awarded_at",))
CUSTOMER = "customerExternalId"


def check_entries(items: list[dict[str, Any]], context: ImportContext) -> Checked:
    """Each row's customer, points, reason and time, by the rules of one award."""
    settings = context.plugin_settings[NAME]
    checked = Checked.of(len(items))
    for index, item in enumerate(items):
        errors = Collector()
        customer = str(item.get("customer_external_id") or "").strip()
        if not customer:
            errors.add("REQUIRED", "must not be empty", "input", CUSTOMER)
        points = _points(item.get("points"), errors)
        reason = check_award(points, str(item.get("reason") or ""), settings, errors)
        awarded_at = cell_time(item.get("awarded_at"), errors, "input", "awardedAt")
        if errors.errors:
            checked.outcomes[index] = rejected(errors.errors)
        else:
            checked.items.append((index, (customer, points, reason, awarded_at)))
    return checked


def _points(value: Any, errors: Collector) -> int:
    text = str(value if value is not None else "").strip()
    if not text.lstrip("-").isdigit():
        errors.add("INVALID_VALUE", "points must be a whole number", "input", "points")
        return 1  # checked no further
    return int(text)


async def write_entries(
    session: AsyncSession, checked: Checked, context: ImportContext
) -> BatchResult:
    """Record the new entries and add their points to the balances; customers must exist."""
    refs = await find_customers(session, {key for _, (key, *_) in checked.items}, CUSTOMER)
    known = await _recorded(
        session, [refs.ids[key] for _, (key, *_) in checked.items if key in refs.ids]
    )
    new: list[tuple[int, LoyaltyEntry]] = []
    now = utcnow()
    for index, (key, points, reason, awarded_at) in checked.items:
        error = refs.error(key, False, CUSTOMER)
        if error is not None:
            checked.outcomes[index] = rejected([error])
            continue
        identity = (refs.ids[key], points, reason, awarded_at or now)
        if identity in known:
            checked.outcomes[index] = Outcome(UNCHANGED, known[identity])
            continue
        entry = LoyaltyEntry(
            customer_id=identity[0], points=points, reason=reason, created_at=identity[3]
        )
        known[identity] = None
        new.append((index, entry))
    session.add_all([entry for _, entry in new])
    gained: dict[int, int] = {}
    for _, entry in new:
        gained[entry.customer_id] = gained.get(entry.customer_id, 0) + entry.points
    await add_points(session, gained)
    await session.flush()
    for index, entry in new:
        checked.outcomes[index] = Outcome(INSERTED, entry.id)
    return checked.result()


async def _recorded(
    session: AsyncSession, customer_ids: list[int]
) -> dict[tuple[Any, ...], int | None]:
    """The entries of these customers by (customer, points, reason, time)."""
    found = await session.execute(
        select(
            LoyaltyEntry.customer_id,
            LoyaltyEntry.points,
            LoyaltyEntry.reason,
            LoyaltyEntry.created_at,
            LoyaltyEntry.id,
        ).where(LoyaltyEntry.customer_id.in_(set(customer_ids)))
    )
    return {tuple(row[:4]): row[4] for row in found}


async def export_entries(
    session: AsyncSession, out: TextIO, fmt: str, since: datetime | None
) -> int:
    """Every entry (recorded since ``since``) in the import's columns, oldest first."""
    return await write_records(out, fmt, COLUMNS.columns, _rows(session, since))


async def _rows(session: AsyncSession, since: datetime | None) -> AsyncIterator[dict[str, Any]]:
    statement = (
        select(LoyaltyEntry, CustomerRow.external_id)
        .join(CustomerRow, CustomerRow.id == LoyaltyEntry.customer_id)
        .order_by(LoyaltyEntry.id)
    )
    if since is not None:
        statement = statement.where(LoyaltyEntry.created_at >= since)
    for entry, external_id in await session.execute(statement):
        yield {
            "customer_external_id": external_id or to_global_id("Customer", entry.customer_id),
            "points": entry.points,
            "reason": entry.reason,
            "awarded_at": entry.created_at,
        }


LOYALTY_ENTRIES = DataKind("loyalty_entries", COLUMNS, check_entries, write_entries, export_entries)
