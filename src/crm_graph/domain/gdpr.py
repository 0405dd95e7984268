"""GDPR: export everything held about a customer, and erase it irreversibly.

Plugins take part through ``crm_customer_export`` and ``crm_customer_erase``, in the caller's
unit of work; a plugin without them still has its rows pointing at the customer exported and
deleted (:mod:`crm_graph.domain.plugin_rows`).

Erasure anonymises the customer row (and the customers merged into it), deletes their
interactions and consent records, blanks merge aliases, replaces the payloads of stored events
about them, and re-hashes every plain value in audit rows that touched them. Orders stay for
accounting, pointing at the anonymised row. On SQLite the file is then vacuumed and the WAL
truncated, so no old page still holds the data.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import String, Text, cast, delete, literal, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_graph.auth.audit import REDACT, redacted
from crm_graph.auth.models import AuditEntry, CustomerConsent
from crm_graph.db.jsonable import row_json
from crm_graph.db.models import Customer, CustomerMerge, Interaction, Order, OrderLine, utcnow
from crm_graph.db.queries import json_array_contains
from crm_graph.domain.errors import fail
from crm_graph.domain.matching import rematch
from crm_graph.domain.plugin_rows import linked_tables
from crm_graph.events.models import EventRecord
from crm_graph.ids import to_global_id
from crm_graph.plugins_manager import PluginSet

EXPORT_FORMAT = "crm-graph.customer-export/1"
ERASED_NAME = "Erased customer"
ERASED_VALUES: dict[str, Any] = {
    "name": ERASED_NAME,
    "tags": [],
    "attributes": {},
    "addresses": [],
}


async def _awaited(results: list[tuple[str, Any]]) -> dict[str, Any]:
    return {name: (await r if asyncio.iscoroutine(r) else r) for name, r in results}


async def export_customer(
    session: AsyncSession, plugins: PluginSet, customer_id: int
) -> dict[str, Any] | None:
    """The export document, or None when there is no such customer (in the caller's scope)."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return None
    orders = list(await session.scalars(select(Order).where(Order.customer_id == customer_id)))
    lines = list(
        await session.scalars(
            select(OrderLine).where(OrderLine.order_id.in_([o.id for o in orders]))
        )
    )

    async def rows(model: Any, *where: Any) -> list[dict[str, Any]]:
        return [row_json(r) for r in await session.scalars(select(model).where(*where))]

    hooked = plugins.implementers("crm_customer_export")
    plugin_data = await _awaited(
        plugins.each(plugins.hook.crm_customer_export, session=session, customer_id=customer_id)
    )
    for plugin, model in linked_tables(plugins, hooked):
        plugin_data.setdefault(plugin, {})[model.__tablename__] = await rows(
            model, model.customer_id == customer_id
        )
    return {
        "format": EXPORT_FORMAT,
        "exportedAt": utcnow().isoformat(),
        "customer": row_json(customer),
        "interactions": await rows(Interaction, Interaction.customer_id == customer_id),
        "orders": [
            {**row_json(o), "lines": [row_json(ln) for ln in lines if ln.order_id == o.id]}
            for o in orders
        ],
        "consents": await rows(CustomerConsent, CustomerConsent.customer_id == customer_id),
        "mergedCustomers": await rows(CustomerMerge, CustomerMerge.survivor_id == customer_id),
        "plugins": plugin_data,
    }


async def _with_merged(session: AsyncSession, customer_id: int) -> list[int]:
    """The customer and every customer merged into it, directly or through others."""
    ids, frontier = [customer_id], [customer_id]
    while frontier:
        merged = await session.scalars(
            select(CustomerMerge.merged_id).where(CustomerMerge.survivor_id.in_(frontier))
        )
        frontier = [m for m in merged if m not in ids]
        ids.extend(frontier)
    return ids


def _anonymise(customer: Customer) -> None:
    now = utcnow()
    for column in Customer.__table__.columns:
        if column.info.get("pii"):
            setattr(customer, column.key, ERASED_VALUES.get(column.key))
    customer.deleted_at = customer.deleted_at or now
    customer.erased_at = customer.updated_at = now


async def _redact_audit(session: AsyncSession, customer_gids: list[str], key: bytes) -> None:
    column = AuditEntry.__table__.c.target_ids
    touched = or_(*(json_array_contains(column, literal(g, String)) for g in customer_gids))
    for entry in await session.scalars(select(AuditEntry).where(touched)):
        entry.changes = redacted(entry.changes, key)


async def _scrub_events(session: AsyncSession, gids: list[str]) -> None:
    payload = cast(EventRecord.payload, Text)
    await session.execute(
        update(EventRecord)
        .where(
            or_(
                EventRecord.entity_id.in_(gids),
                *(payload.contains(f'"{gid}"', autoescape=True) for gid in gids),
            )
        )
        .values(payload={"erased": True})
    )


async def erase_customer(
    session: AsyncSession, plugins: PluginSet, customer_id: int, hash_key: bytes
) -> Customer:
    """Anonymise everything personal about the customer, in the caller's transaction."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise fail("NOT_FOUND", "no such customer", "input", "id")
    if customer.erased_at is not None:
        raise fail("ERASED", "the customer is already erased", "input", "id")
    if session.bind.dialect.name == "sqlite":
        await session.execute(text("PRAGMA secure_delete=ON"))
    session.info[REDACT] = True
    ids = await _with_merged(session, customer_id)
    customer_gids = [to_global_id("Customer", i) for i in ids]
    gids = list(customer_gids)
    for row in await session.scalars(select(Customer).where(Customer.id.in_(ids))):
        _anonymise(row)
    for model in (Interaction, CustomerConsent):
        for row in await session.scalars(select(model).where(model.customer_id.in_(ids))):
            gids.append(to_global_id(type(row).__name__, row.id))
            await session.delete(row)
    await session.execute(
        update(CustomerMerge)
        .where(or_(CustomerMerge.merged_id.in_(ids), CustomerMerge.survivor_id.in_(ids)))
        .values(external_id=None)
    )
    hooked = plugins.implementers("crm_customer_erase")
    for erased in ids:
        await _awaited(
            plugins.each(plugins.hook.crm_customer_erase, session=session, customer_id=erased)
        )
    for _plugin, model in reversed(linked_tables(plugins, hooked)):
        await session.execute(delete(model).where(model.customer_id.in_(ids)))
    await session.flush()
    await rematch(session, ids)  # erased customers are deleted: no keys, no pairs
    await _scrub_events(session, gids)
    await _redact_audit(session, customer_gids, hash_key)
    return customer


async def compact(engine: AsyncEngine, attempts: int = 50) -> None:
    """SQLite: rebuild the file from live rows only and empty the WAL, so erased values are
    gone from the bytes on disk (PostgreSQL reclaims dead rows with its own VACUUM)."""
    if engine.dialect.name != "sqlite":
        return

    def pragma(statement: str) -> Any:
        def call(connection: Any) -> tuple[Any, ...] | None:
            cursor = connection.connection.dbapi_connection.cursor()
            try:
                cursor.execute(statement)
                return cursor.fetchone()
            finally:
                cursor.close()

        return call

    async with engine.connect() as connection:
        await connection.run_sync(pragma("PRAGMA secure_delete=ON"))
        await connection.run_sync(pragma("VACUUM"))
        for _ in range(attempts):
            busy, *_rest = await connection.run_sync(pragma("PRAGMA wal_checkpoint(TRUNCATE)"))
            if not busy:
                return
            await asyncio.sleep(0.02)
