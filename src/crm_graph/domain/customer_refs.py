"""Customers that imported orders and interactions name by external id: found, refused
(deleted), or created from the reference."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.scope import held_out_of_sight
from crm_graph.db.batch_writes import among
from crm_graph.db.models import Customer, CustomerMerge, utcnow
from crm_graph.domain import customers
from crm_graph.domain.batches import created_event, insert_new
from crm_graph.domain.customer_imports import new_customer_row
from crm_graph.domain.errors import Collector, FieldError
from crm_graph.domain.values import clean_text
from crm_graph.events.outbox import emit_many

CUSTOMER_PATH = "customerExternalId"


def clean_customer_key(item: dict[str, Any], errors: Collector) -> str | None:
    return clean_text(
        item.get("customer_external_id"),
        errors,
        "input",
        "customerExternalId",
        max_length=200,
        required=True,
    )


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
        hidden = sorted(missing - rows.keys())
        for key in await held_out_of_sight(session, Customer.external_id, hidden):
            refs.refused[key] = FieldError(
                customers.EXTERNAL_ID_UNAVAILABLE, customers.unavailable(key), [path]
            )
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
