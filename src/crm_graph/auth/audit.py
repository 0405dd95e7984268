"""The audit log: one row per committed mutation, written inside the mutation's transaction.

Changes are collected from the unit of work itself (SQLAlchemy ``after_flush``), so core and
plugin mutations are covered alike without describing their changes by hand: every inserted,
updated or deleted row with its changed columns before and after. Values of personal-data
columns (column ``info={"pii": True}``) are stored as keyed hashes: the log can show that an
e-mail changed, and whether two values were equal, without holding the address.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, event, inspect, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from crm_graph.auth.models import AuditEntry
from crm_graph.auth.principal import Principal
from crm_graph.db.batch_writes import BULK_INSERTS, among
from crm_graph.db.jsonable import plain
from crm_graph.db.queries import json_array_contains
from crm_graph.ids import to_global_id

# The actor of work done outside any request: the command line, scripts.
SYSTEM = "system"
# Bookkeeping tables whose rows are not changes anybody made.
NOT_AUDITED = frozenset({"audit_log", "event_log", "event_store", "event_consumer"})


def pii_hash(value: Any, key: bytes) -> str:
    digest = hmac.new(key, repr(value).encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest[:32]}"


# session.info key: hash every value of this unit's audit row (set by GDPR erasure, whose own
# row would otherwise repeat the plain values of the rows it deletes).
REDACT = "crm_audit_redact"


def rehash(value: Any, key: bytes) -> Any:
    """Any text or structured value as a keyed hash; numbers, booleans and hashes as they are."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and value.startswith("hmac-sha256:"):
        return value
    return pii_hash(value if isinstance(value, str) else json.dumps(value, sort_keys=True), key)


def redacted(changes: list[dict[str, Any]], key: bytes) -> list[dict[str, Any]]:
    return [
        {
            **change,
            "fields": {
                name: {side: rehash(value, key) for side, value in values.items()}
                for name, values in change["fields"].items()
            },
        }
        for change in changes
    ]


def audit_select(
    actor: str | None = None,
    operation: str | None = None,
    target_id: str | None = None,
    occurred_after: datetime | None = None,
    occurred_before: datetime | None = None,
) -> Select[Any]:
    """Audit entries matching every given criterion (``target_id``: a global ID the mutation
    touched)."""
    stmt = select(AuditEntry)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if operation:
        stmt = stmt.where(AuditEntry.operation == operation)
    if target_id:
        target = literal(target_id[:200], String)
        stmt = stmt.where(json_array_contains(AuditEntry.__table__.c.target_ids, target))
    if occurred_after is not None:
        stmt = stmt.where(AuditEntry.occurred_at >= occurred_after)
    if occurred_before is not None:
        stmt = stmt.where(AuditEntry.occurred_at < occurred_before)
    return stmt


class AuditRecorder:
    """Collects the row changes of one session while it is attached."""

    def __init__(self, session: Session, hash_key: bytes) -> None:
        self.session = session
        self.hash_key = hash_key
        self.changes: dict[tuple[str, Any], dict[str, Any]] = {}
        # Customers the changed rows belong to: an entry about a customer's interaction or
        # plugin row is also about the customer (GDPR erasure finds it by this).
        self.customers: set[str] = set()
        event.listen(session, "after_flush", self._collect)

    def detach(self) -> None:
        event.remove(self.session, "after_flush", self._collect)

    def _value(self, column: Any, value: Any) -> Any:
        if value is not None and column.info.get("pii"):
            return pii_hash(value, self.hash_key)
        return plain(value)

    def _collect(self, session: Session, _context: Any) -> None:
        for action, rows in (
            ("insert", session.new),
            ("update", session.dirty),
            ("delete", session.deleted),
        ):
            for row in rows:
                table = getattr(row, "__tablename__", None)
                if table is None or table in NOT_AUDITED:
                    continue
                self._record(action, row)

    def _record(self, action: str, row: Any) -> None:
        state = inspect(row)
        type_name = type(row).__name__
        keys = state.mapper.primary_key_from_instance(row)
        pk = keys[0] if len(keys) == 1 else "-".join(str(k) for k in keys)
        entry = self.changes.setdefault(
            (type_name, pk),
            {"type": type_name, "id": to_global_id(type_name, pk), "action": action, "fields": {}},
        )
        if action == "delete":
            entry["action"] = "delete"
        owner = getattr(row, "customer_id", None)
        if isinstance(owner, int):
            self.customers.add(to_global_id("Customer", owner))
        for attr in state.mapper.column_attrs:
            column = attr.columns[0]
            current = getattr(row, attr.key)
            if action == "insert":
                if current is None:
                    continue
                before, after = None, current
            elif action == "delete":
                before, after = current, None
            else:
                history = state.attrs[attr.key].history
                if not history.has_changes():
                    continue
                before = history.deleted[0] if history.deleted else None
                after = current
            change = entry["fields"].setdefault(attr.key, {"before": self._value(column, before)})
            change["after"] = self._value(column, after)

    async def add_bulk(self, session: AsyncSession) -> None:
        """Record rows written by :func:`crm_graph.db.batch_writes.insert_rows` as inserts, their ids
        found through the table's unique key."""
        for table, rows in session.info.pop(BULK_INSERTS, []):
            mapper = next(
                (m for m in SQLModel._sa_registry.mappers if m.local_table is table), None
            )
            type_name = mapper.class_.__name__ if mapper is not None else table.name
            key = next((c.name for c in table.columns if c.unique and not c.primary_key), None)
            ids: dict[Any, int] = {}
            if key is not None:
                column = table.c[key]
                found = await session.execute(
                    select(table.c.id, column).where(among(session, column, [r[key] for r in rows]))
                )
                ids = {value: pk for pk, value in found.all()}
            for number, row in enumerate(rows):
                pk = row.get("id") or (ids.get(row[key]) if key else None)
                owner = row.get("customer_id")
                if isinstance(owner, int):
                    self.customers.add(to_global_id("Customer", owner))
                self.changes[(type_name, pk if pk is not None else f"bulk-{number}")] = {
                    "type": type_name,
                    "id": to_global_id(type_name, pk) if pk is not None else None,
                    "action": "insert",
                    "fields": {
                        name: {"before": None, "after": self._value(table.c[name], value)}
                        for name, value in row.items()
                        if value is not None
                    },
                }

    def entry(
        self, operation: str, principal: Principal | None, request_id: str | None
    ) -> AuditEntry:
        changes = list(self.changes.values())
        if self.session.info.get(REDACT):
            changes = redacted(changes, self.hash_key)
        return AuditEntry(
            actor=principal.id if principal else SYSTEM,
            actor_name=principal.name if principal else SYSTEM,
            actor_role=principal.role if principal else SYSTEM,
            operation=operation,
            target_ids=list(
                dict.fromkeys([*(c["id"] for c in changes if c["id"]), *sorted(self.customers)])
            ),
            changes=changes,
            request_id=request_id,
        )
