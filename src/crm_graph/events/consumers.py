"""Durable readers of the log with leases: one process at a time works for each consumer.

A consumer row holds the position its work has reached. A process takes the lease, works
outside any transaction, then advances the position only while it still holds the lease; if
it dies, the lease expires and another process repeats the unfinished part (at least once).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_graph.db.engine import read_session, write_session
from crm_graph.db.models import utcnow
from crm_graph.events.models import EventConsumer
from crm_graph.events.store import EventLog


async def caught_up(engine: AsyncEngine, name: str, log: EventLog) -> bool:
    """True when ``name`` exists and no event is past its position (a read-only check, so an
    idle consumer never takes SQLite's write lock)."""
    async with read_session(engine) as session:
        position = await session.scalar(
            select(EventConsumer.position).where(EventConsumer.name == name)
        )
    return position is not None and not await log.read(position, 1)


async def claim(
    engine: AsyncEngine, name: str, owner: str, lease_seconds: float, start: int
) -> int | None:
    """Take or renew the lease of ``name``; its position, or None while another holds it.

    A consumer seen for the first time starts at ``start`` (it does not replay history).
    """
    now = utcnow()
    try:
        async with write_session(engine) as session:
            row = await session.get(EventConsumer, name, with_for_update=True)
            if row is None:
                session.add(
                    EventConsumer(
                        name=name,
                        position=start,
                        lease_owner=owner,
                        lease_until=now + timedelta(seconds=lease_seconds),
                    )
                )
                return start
            held = row.lease_until is not None and row.lease_until > now
            if row.lease_owner != owner and held:
                return None
            row.lease_owner = owner
            row.lease_until = now + timedelta(seconds=lease_seconds)
            row.updated_at = now
            return row.position
    except IntegrityError:  # another process created the row first
        return None


async def advance(
    engine: AsyncEngine, name: str, owner: str, position: int, lease_seconds: float
) -> bool:
    """Store the new position (and renew the lease) if ``owner`` still holds the lease."""
    now = utcnow()
    async with write_session(engine) as session:
        result = await session.execute(
            update(EventConsumer)
            .where(EventConsumer.name == name, EventConsumer.lease_owner == owner)
            .values(
                position=position,
                lease_until=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
        )
    return result.rowcount == 1
