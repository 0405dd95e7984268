"""Writing events: :func:`emit` adds an event row inside the caller's unit of work
(:func:`emit_many` adds many at once).

The row commits or rolls back with the change it describes (a transactional outbox). On SQLite
writers are serialised, so the position is taken right here from the store row; on PostgreSQL
the position stays NULL and the sequencer assigns it after commit, woken by a NOTIFY that
PostgreSQL only delivers if the transaction commits.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.db.batch_writes import insert_records
from crm_graph.db.models import utcnow
from crm_graph.events.models import EventRecord, EventStore
from crm_graph.ids import to_global_id

# session.info keys: set by emit, read after commit (wake readers) and by the auth layer (actor).
EMITTED = "crm_events_emitted"
ACTOR = "crm_actor"
WRITTEN_CHANNEL = "crm_events_written"


async def emit(
    session: AsyncSession,
    type: str,
    entity_type: str | None,
    entity_id: int | str | None,
    payload: dict[str, Any],
    actor: str | None = None,
) -> EventRecord:
    """Record event ``type`` about ``entity_type``/``entity_id`` in the current transaction.

    ``entity_id`` may be a primary key (turned into the entity's global ID) or a global ID.
    ``payload`` must be JSON-serialisable; ``actor`` defaults to ``session.info["crm_actor"]``.
    """
    if isinstance(entity_id, int):
        entity_id = to_global_id(entity_type or "", entity_id)
    record = EventRecord(
        uid=new_uids(1)[0],
        type=type,
        entity_type=entity_type,
        entity_id=entity_id,
        payload=payload,
        actor=actor if actor is not None else session.info.get(ACTOR),
    )
    if session.bind.dialect.name == "sqlite":
        record.position = await session.scalar(
            update(EventStore)
            .where(EventStore.id == 1)
            .values(last_position=EventStore.last_position + 1)
            .returning(EventStore.last_position)
        )
    else:
        await session.execute(text(f"NOTIFY {WRITTEN_CHANNEL}"))
    session.add(record)
    await session.flush()
    session.info[EMITTED] = True
    return record


async def emit_many(
    session: AsyncSession,
    events: Sequence[tuple[str, str | None, int | str | None, Any]],
    actor: str | None = None,
) -> None:
    """Record many events, ``(type, entity_type, entity_id, payload)`` each, in the current
    transaction: what :func:`emit` does for one, set-based (one position update and one bulk
    insert), for bulk imports that write thousands of changes per transaction. A payload may
    be JSON already (:func:`crm_graph.db.jsonable.fragment`)."""
    if not events:
        return
    actor = actor if actor is not None else session.info.get(ACTOR)
    positions: Iterable[int | None] = repeat(None)
    if session.bind.dialect.name == "sqlite":
        last = await session.scalar(
            update(EventStore)
            .where(EventStore.id == 1)
            .values(last_position=EventStore.last_position + len(events))
            .returning(EventStore.last_position)
        )
        positions = range(last - len(events) + 1, last + 1)
    else:
        await session.execute(text(f"NOTIFY {WRITTEN_CHANNEL}"))
    now = utcnow()
    records = [
        (
            uid,
            position,
            type,
            entity_type,
            to_global_id(entity_type or "", entity_id) if isinstance(entity_id, int) else entity_id,
            payload,
            actor,
            now,
        )
        for uid, position, (type, entity_type, entity_id, payload) in zip(
            new_uids(len(events)), positions, events, strict=False
        )
    ]
    await insert_records(session, EventRecord.__table__, _COLUMNS, records, audited=False)
    session.info[EMITTED] = True


_COLUMNS = (
    "uid",
    "position",
    "type",
    "entity_type",
    "entity_id",
    "payload",
    "actor",
    "occurred_at",
)
_VARIANT = "89ab"  # a UUID's variant digit: its top bits are 10 (RFC 9562)


def new_uids(count: int) -> list[str]:
    """``count`` new event uids: version 7 UUIDs (RFC 9562) as text, from one read of the
    system's random source.

    Version 7 starts with the time in milliseconds, so new uids land at the end of the
    ``uid`` index instead of all over it: a random (version 4) uid per event made each batch
    of a bulk import rewrite most of that index's pages (on a million order rows a third of
    the event log's writing time). The other 74 bits are random, so uids stay unguessable and
    unique.
    """
    stamp = f"{time.time_ns() // 1_000_000:012x}"
    raw = os.urandom(10 * count).hex()
    return [
        f"{stamp[:8]}-{stamp[8:]}-7{h[:3]}-{_VARIANT[int(h[3], 16) & 3]}{h[4:7]}-{h[7:19]}"
        for h in (raw[i : i + 20] for i in range(0, 20 * count, 20))
    ]
