"""Interactions imported in batches, keyed by customer external id.

Interactions have no key of their own, so one equal in every field to an existing interaction
of the same customer counts as unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.db.batch_writes import among
from crm_graph.db.models import Interaction, row_defaults, utcnow
from crm_graph.domain import interactions
from crm_graph.domain.batches import (
    INSERTED,
    UNCHANGED,
    BatchResult,
    Checked,
    Outcome,
    created_event,
    emit_in_order,
    insert_new,
    rejected,
)
from crm_graph.domain.customer_refs import (
    CUSTOMER_PATH,
    clean_customer_key,
    create_referenced,
    find_customers,
)
from crm_graph.domain.errors import Collector
from crm_graph.domain.values import parse_datetime


def check_interactions(items: Sequence[dict[str, Any]]) -> Checked:
    checked = Checked.of(len(items))
    for index, item in enumerate(items):
        errors = Collector()
        key = clean_customer_key(item, errors)
        occurred_at = parse_datetime(item.get("occurred_at"), errors, "input", "occurredAt")
        values = interactions.validate_fields({**item, "occurred_at": occurred_at}, errors)
        if errors.errors:
            checked.outcomes[index] = rejected(errors.errors)
        else:
            checked.items.append((index, (key, values)))
    return checked


async def import_interactions(
    session: AsyncSession, items: Sequence[dict[str, Any]], create_customers: bool
) -> BatchResult:
    return await write_interactions(session, check_interactions(items), create_customers)


async def write_interactions(
    session: AsyncSession, checked: Checked, create_customers: bool
) -> BatchResult:
    """Add interactions; one already recorded with the same fields is left unchanged."""
    outcomes = checked.outcomes
    valid = [(index, key, values) for index, (key, values) in checked.items]
    refs = await find_customers(session, {key for _, key, _ in valid}, CUSTOMER_PATH)
    accepted = []
    for index, key, values in valid:
        error = refs.error(key, create_customers, CUSTOMER_PATH)
        if error is None:
            accepted.append((index, key, values))
        else:
            outcomes[index] = rejected([error])
    await create_referenced(session, refs, {key for _, key, _ in accepted})
    seen = await _existing_interactions(
        session, {refs.ids[key] for _, key, _ in accepted}, {v["occurred_at"] for *_, v in accepted}
    )
    new: list[tuple[int, dict[str, Any]]] = []
    repeated: list[tuple[int, dict[str, Any]]] = []  # equal to a new one of this batch
    defaults = row_defaults(Interaction, utcnow())
    for index, key, values in accepted:
        row = {"customer_id": refs.ids[key], **values}
        identity = tuple(row[k] for k in sorted(row))
        found = seen.get(identity)
        if isinstance(found, int):
            outcomes[index] = Outcome(UNCHANGED, found)
        elif found is not None:
            repeated.append((index, found))
        else:
            row = seen[identity] = {**defaults, **row}
            new.append((index, row))
    written = await insert_new(session, Interaction.__table__, [row for _, row in new])
    events = []
    for (index, _), row in zip(new, written, strict=True):
        outcomes[index] = Outcome(INSERTED, row["id"])
        events.append((index, created_event("interaction.logged", Interaction.__table__, row)))
    for index, row in repeated:
        outcomes[index] = Outcome(UNCHANGED, row["id"])
    await emit_in_order(session, events)
    return checked.result(refs.created)


async def _existing_interactions(
    session: AsyncSession, customer_ids: set[int], times: set[Any]
) -> dict[tuple[Any, ...], int]:
    if not customer_ids:
        return {}
    columns = ("body", "channel", "customer_id", "direction", "occurred_at", "subject")
    rows = await session.execute(
        select(*(getattr(Interaction, c) for c in columns), Interaction.id).where(
            among(session, Interaction.customer_id, customer_ids),
            among(session, Interaction.occurred_at, times),
        )
    )
    return {tuple(row[:-1]): row[-1] for row in rows}
