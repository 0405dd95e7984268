"""Reading the event log by position, the sequencer, opaque cursors and retention.

Positions are dense (1, 2, 3, ...) and become visible in increasing order: on SQLite they are
taken inside the (serialised) writing transaction; on PostgreSQL one sequencer at a time
(an advisory lock) numbers the committed rows that have none, in insertion order, and commits
before the next can start. A reader that asks for ``position > n`` can therefore never skip an
event, and a hole in what it reads means retention deleted events it had not seen.
Retention also takes the settled webhook deliveries along (pending ones are never deleted).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_graph.db.engine import is_sqlite, read_session, write_session
from crm_graph.events.models import EventRecord, EventStore, WebhookAttempt, WebhookDelivery

POSITIONS_CHANNEL = "crm_events"
# A webhook delivery in one of these states is done with: retention may delete it.
SETTLED = ("succeeded", "dead")
# Number the oldest unnumbered events after the store's last position, move that position on
# and notify the readers; no row when there was nothing to number.
_NUMBER = text(
    """
    WITH pending AS (
        SELECT id, row_number() OVER (ORDER BY id) AS rn FROM event_log
        WHERE position IS NULL ORDER BY id LIMIT :batch
    ), base AS (
        SELECT last_position FROM event_store WHERE id = 1
    ), numbered AS (
        UPDATE event_log SET position = base.last_position + pending.rn
        FROM pending, base WHERE event_log.id = pending.id
        RETURNING event_log.position
    ), stored AS (
        UPDATE event_store SET last_position = (SELECT max(position) FROM numbered)
        WHERE id = 1 AND EXISTS (SELECT 1 FROM numbered)
        RETURNING last_position
    )
    SELECT (SELECT count(*) FROM numbered), last_position,
           pg_notify(:channel, last_position::text)
    FROM stored
    """
)
SEQUENCER_LOCK = 0x63726D5F657674  # "crm_evt": the one advisory lock the sequencer takes
SEQUENCE_BATCH = 5000


class CursorError(ValueError):
    """A cursor that cannot be used; ``code`` is INVALID_CURSOR, CURSOR_WRONG_STORE or
    CURSOR_EXPIRED (then ``oldest_cursor`` is where reading can start again)."""

    def __init__(self, code: str, message: str, oldest_cursor: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.oldest_cursor = oldest_cursor


def _encode_cursor(epoch: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{epoch}:{position}".encode()).decode().rstrip("=")


class EventLog:
    """The log of one database. ``epoch`` is loaded once by :meth:`open`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sqlite = is_sqlite(str(engine.url))
        self.epoch = ""

    async def open(self) -> None:
        self.epoch = (await self.state()).epoch

    async def state(self) -> EventStore:
        async with read_session(self.engine) as session:
            row = await session.get(EventStore, 1)
        if row is None:
            raise RuntimeError("the event store row is missing: run `crm-graph migrate`")
        return row

    def cursor(self, position: int) -> str:
        return _encode_cursor(self.epoch, position)

    async def position_of(self, cursor: str) -> int:
        """The position a cursor stands for, checked against this store and its retention."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            epoch, number = raw.split(":", 1)
            position = int(number)
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise CursorError("INVALID_CURSOR", f"{cursor[:80]!r} is not an event cursor") from exc
        # Only the form we hand out: decoders and int() also take padding, stray characters,
        # leading zeros and non-ASCII digits.
        if position < 0 or _encode_cursor(epoch, position) != cursor:
            raise CursorError("INVALID_CURSOR", f"{cursor[:80]!r} is not an event cursor")
        state = await self.state()
        if epoch != state.epoch or position > state.last_position:
            raise CursorError(
                "CURSOR_WRONG_STORE",
                "this cursor belongs to another event store (a different or restored database); "
                "start again from eventStream.oldestCursor",
            )
        self.check_retained(position, state.pruned_through)
        return position

    def check_retained(self, position: int, pruned_through: int) -> None:
        if position < pruned_through:
            raise CursorError(
                "CURSOR_EXPIRED",
                "events after this cursor were deleted by retention; the oldest available "
                "cursor is in extensions.oldestCursor",
                self.cursor(pruned_through),
            )

    @staticmethod
    def _after(after: int, types: Sequence[str] | None) -> ColumnElement[bool]:
        condition = EventRecord.position > after
        return condition & EventRecord.type.in_(types) if types else condition

    async def read(
        self, after: int, limit: int, types: Sequence[str] | None = None
    ) -> list[EventRecord]:
        """Up to ``limit`` events after ``after``, oldest first (optionally of some types)."""
        stmt = select(EventRecord).where(self._after(after, types))
        async with read_session(self.engine) as session:
            return list(await session.scalars(stmt.order_by(EventRecord.position).limit(limit)))

    async def count(self, after: int, types: Sequence[str] | None = None) -> int:
        """How many events follow ``after`` (optionally of some types)."""
        stmt = select(func.count()).where(self._after(after, types))
        async with read_session(self.engine) as session:
            return await session.scalar(stmt) or 0

    async def read_contiguous(self, after: int, limit: int) -> list[EventRecord]:
        """Like :meth:`read`, but a hole after ``after`` (pruned events) is CURSOR_EXPIRED."""
        rows = await self.read(after, limit)
        if rows and rows[0].position != after + 1:
            self.check_retained(after, rows[0].position - 1)
        return rows

    async def sequence(self) -> int | None:
        """PostgreSQL: number the committed, unnumbered events; the new last position or None.

        The advisory lock is held until commit, so the next run starts after these positions
        are visible and can only hand out larger ones.
        """
        last: int | None = None
        while True:
            async with write_session(self.engine) as session:
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK}
                )
                # One statement after the lock (its snapshot sees every earlier run): fewer
                # round trips, each of which may wait behind a burst of sends in this process.
                numbered = (
                    await session.execute(
                        _NUMBER, {"batch": SEQUENCE_BATCH, "channel": POSITIONS_CHANNEL}
                    )
                ).first()
                if numbered is None:
                    return last
                count, last, _notified = numbered
            if count < SEQUENCE_BATCH:
                return last

    async def prune(self, older_than: datetime) -> int:
        """Delete the events before ``older_than`` (a prefix of the log), and the webhook
        deliveries that settled before it with their attempt log; how many events went."""
        async with write_session(self.engine) as session:
            await prune_deliveries(session, older_than)
            through = await session.scalar(
                select(func.max(EventRecord.position)).where(
                    EventRecord.occurred_at < older_than, EventRecord.position.is_not(None)
                )
            )
            store = await session.get(EventStore, 1)
            if through is None or store is None or through <= store.pruned_through:
                return 0
            result = await session.execute(
                delete(EventRecord).where(EventRecord.position <= through)
            )
            store.pruned_through = through
            return result.rowcount or 0


async def delete_deliveries(session: AsyncSession, *where: ColumnElement[bool]) -> int:
    """Delete the deliveries matching ``where`` with their attempt log; how many went.

    Attempts go first (they point at their delivery). A delivery that starts matching between
    the two statements (another transaction settled it) and already has attempts is left for
    next time rather than breaking the foreign key.
    """
    matching = select(WebhookDelivery.id).where(*where)
    await session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(matching)))
    logged = select(WebhookAttempt.id).where(WebhookAttempt.delivery_id == WebhookDelivery.id)
    result = await session.execute(delete(WebhookDelivery).where(*where, ~logged.exists()))
    return result.rowcount or 0


async def prune_deliveries(session: AsyncSession, older_than: datetime) -> int:
    """Delete the deliveries that settled (succeeded or died) before ``older_than``, with their
    attempt log; pending ones stay, however old. How many went.

    Retention of the event log calls this with its own cutoff: a delivery settles after its
    event occurred, so by then the event is gone too. ``next_attempt_at`` (the last attempt's
    due time) narrows the search on the due index; ``updated_at`` is when it settled.
    """
    return await delete_deliveries(
        session,
        WebhookDelivery.status.in_(SETTLED),
        WebhookDelivery.next_attempt_at < older_than,
        WebhookDelivery.updated_at < older_than,
    )
