"""Writing events: :func:`emit` adds an event row inside the caller's unit of work.

The row commits or rolls back with the change it describes (a transactional outbox). On SQLite
writers are serialised, so the position is taken right here from the store row; on PostgreSQL
the position stays NULL and the sequencer assigns it after commit, woken by a NOTIFY that
PostgreSQL only delivers if the transaction commits.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.events.models import EventRecord, EventStore
from crm_graph.schema.ids import to_global_id

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
        uid=str(uuid.uuid4()),
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
