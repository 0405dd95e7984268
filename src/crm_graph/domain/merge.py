"""Merging duplicate customers into one survivor, atomically.

The survivor keeps its own values; a field it lacks takes the first value found among the
merged customers (in the order given). Tags and addresses are united, custom attributes
combined (the survivor's win), and the lifecycle stage is the furthest along the funnel. Interactions,
orders and every plugin's rows (``crm_customer_merge``; the rows of a plugin without it that
point at the customers, :mod:`crm_graph.domain.plugin_rows`) move to the survivor; the merged
customers are soft-deleted, and their external ids stay findable as aliases of the survivor.
A dry run is the same work in a transaction that is rolled back.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.db.models import Customer, CustomerMerge, Interaction, Order, utcnow
from crm_graph.domain import customers
from crm_graph.domain.errors import Collector
from crm_graph.domain.matching import rematch
from crm_graph.domain.plugin_rows import linked_tables
from crm_graph.events.payloads import entity_event
from crm_graph.ids import to_global_id
from crm_graph.plugins_manager import PluginError, PluginSet

MAX_MERGED = 50
CORE = "core"
FIRST_FOUND = (
    "name",
    "email",
    "phone",
    "company",
    "birth_date",
    "preferred_language",
    "time_zone",
)
FUNNEL = ("subscriber", "lead", "prospect", "opportunity", "customer", "evangelist")


@dataclass(frozen=True)
class FieldValue:
    """The survivor's value of ``field`` after the merge, and the customers it came from."""

    field: str
    value: Any
    sources: list[int]


@dataclass(frozen=True)
class Move:
    owner: str  # "core" or the plugin's name
    kind: str
    count: int


@dataclass
class MergePlan:
    survivor_id: int
    merged_ids: list[int]
    fields: list[FieldValue] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)


async def _customers(
    session: AsyncSession, survivor_id: int, merged_ids: list[int]
) -> tuple[Customer, list[Customer]]:
    errors = Collector()
    if not merged_ids:
        errors.add("REQUIRED", "name at least one customer to merge", "input", "mergedIds")
    if len(merged_ids) > MAX_MERGED:
        errors.add("TOO_MANY", f"at most {MAX_MERGED} customers at once", "input", "mergedIds")
    if len(set(merged_ids)) != len(merged_ids):
        errors.add("DUPLICATE", "a customer is named twice", "input", "mergedIds")
    if survivor_id in merged_ids:
        errors.add(
            "INVALID_VALUE", "the survivor cannot be merged into itself", "input", "mergedIds"
        )
    errors.check()
    ids = [survivor_id, *merged_ids]
    # Lock the rows (PostgreSQL; SQLite's write transaction is exclusive already).
    rows = {
        c.id: c
        for c in await session.scalars(
            select(Customer).where(Customer.id.in_(ids)).with_for_update()
        )
    }
    paths = [
        ("input", "survivorId"),
        *[("input", "mergedIds", str(i)) for i in range(len(merged_ids))],
    ]
    for pk, path in zip(ids, paths, strict=True):
        row = rows.get(pk)
        if row is None:
            errors.add("NOT_FOUND", "no such customer", *path)
        elif row.deleted_at is not None:
            errors.add("DELETED", "the customer is deleted", *path)
    errors.check()
    return rows[survivor_id], [rows[pk] for pk in merged_ids]


def plan_fields(survivor: Customer, merged: list[Customer]) -> list[FieldValue]:
    """What the survivor's fields will be, and where each value comes from."""
    everyone = [survivor, *merged]
    values = []
    for name in FIRST_FOUND:
        source = next((c for c in everyone if getattr(c, name)), survivor)
        values.append(FieldValue(name, getattr(source, name), [source.id]))
    stage = max(
        everyone,
        key=lambda c: FUNNEL.index(c.lifecycle_stage) if c.lifecycle_stage in FUNNEL else -1,
    )
    if survivor.lifecycle_stage not in FUNNEL:
        stage = survivor
    values.append(FieldValue("lifecycle_stage", stage.lifecycle_stage, [stage.id]))
    tags: list[str] = []
    for customer in everyone:
        tags.extend(t for t in customer.tags if t not in tags)
    values.append(FieldValue("tags", tags, [c.id for c in everyone if c.tags]))
    addresses: list[dict[str, Any]] = []
    for customer in everyone:
        addresses.extend(a for a in customer.addresses if a not in addresses)
    values.append(FieldValue("addresses", addresses, [c.id for c in everyone if c.addresses]))
    attributes: dict[str, Any] = {}
    for customer in reversed(everyone):
        attributes.update(customer.attributes)
    values.append(FieldValue("attributes", attributes, [c.id for c in everyone if c.attributes]))
    return values


async def _move(
    session: AsyncSession, model: Any, survivor_id: int, merged_ids: list[int], **extra: Any
) -> int:
    result = await session.execute(
        update(model)
        .where(model.customer_id.in_(merged_ids))
        .values(customer_id=survivor_id, **extra)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


async def merge_customers(
    session: AsyncSession, survivor_id: int, merged_ids: list[int], plugins: PluginSet
) -> MergePlan:
    """Merge ``merged_ids`` into ``survivor_id`` inside the caller's unit of work."""
    survivor, merged = await _customers(session, survivor_id, merged_ids)
    plan = MergePlan(survivor_id, merged_ids, fields=plan_fields(survivor, merged))
    errors = Collector()  # united tags and attributes must still fit a customer's limits
    customers.validate_fields(
        {v.field: v.value for v in plan.fields if v.field in ("tags", "attributes", "addresses")},
        "",
        errors,
    )
    errors.check()
    now = utcnow()
    plan.moves.append(
        Move(CORE, "interactions", await _move(session, Interaction, survivor_id, merged_ids))
    )
    moved_orders = await _move(
        session, Order, survivor_id, merged_ids, version=Order.version + 1, updated_at=now
    )
    plan.moves.append(Move(CORE, "orders", moved_orders))
    hooked = plugins.implementers("crm_customer_merge")
    for name, model in linked_tables(plugins, hooked):
        moved = await _move(session, model, survivor_id, merged_ids)
        plan.moves.append(Move(name, model.__tablename__, moved))
    for name, result in plugins.each(
        plugins.hook.crm_customer_merge,
        session=session,
        survivor_id=survivor_id,
        merged_ids=merged_ids,
    ):
        counts = await result if inspect.isawaitable(result) else result
        if not isinstance(counts, dict):
            raise PluginError(f"plugin {name!r}: crm_customer_merge must return a dict of counts")
        plan.moves.extend(Move(name, kind, int(count)) for kind, count in sorted(counts.items()))

    earlier = await session.execute(
        update(CustomerMerge)
        .where(CustomerMerge.survivor_id.in_(merged_ids))
        .values(survivor_id=survivor_id)
        .execution_options(synchronize_session=False)
    )
    plan.moves.append(Move(CORE, "aliases", earlier.rowcount))
    for customer in merged:
        if customer.external_id:
            plan.aliases.append(customer.external_id)
        session.add(
            CustomerMerge(
                merged_id=customer.id,
                survivor_id=survivor_id,
                external_id=customer.external_id,
                merged_at=now,
            )
        )
        customer.external_id = None
        customer.deleted_at = customer.updated_at = now
    changed = [v for v in plan.fields if getattr(survivor, v.field) != v.value]
    for value in changed:
        setattr(survivor, value.field, value.value)
    survivor.updated_at = now
    await session.flush()
    await rematch(session, [survivor_id, *merged_ids])
    await entity_event(
        session,
        "customer.merged",
        survivor,
        mergedIds=[to_global_id("Customer", pk) for pk in merged_ids],
    )
    return plan


async def alias_owner(session: AsyncSession, external_id: str) -> int | None:
    """The survivor a merged customer's external id now stands for, if it is an alias."""
    return await session.scalar(
        select(CustomerMerge.survivor_id).where(CustomerMerge.external_id == external_id)
    )


async def find_by_external_id(session: AsyncSession, external_id: str) -> Customer | None:
    """The customer with this external id, or the survivor it was merged into."""
    found = await session.scalar(select(Customer).where(Customer.external_id == external_id))
    if found is not None:
        return found
    survivor = await alias_owner(session, external_id)
    return await session.get(Customer, survivor) if survivor else None
