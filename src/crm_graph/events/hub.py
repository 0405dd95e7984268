"""Fan-out in one process: a single tail reads the log once and feeds every subscriber.

Each subscriber has a bounded buffer. One that falls behind is dropped from the fan-out and
reads what it missed from the log itself, then rejoins, so a slow client costs a bounded amount
of memory and loses nothing. Live rows are de-duplicated against what was replayed by
position, which makes the switch from replay to live free of gaps and duplicates.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from crm_graph.events.catalog import HEARTBEAT
from crm_graph.events.loops import wait_or_timeout
from crm_graph.events.models import EventRecord
from crm_graph.events.store import EventLog

READ_BATCH = 500
OFFER_CHUNK = 64
# Bytes of encoded answers kept: every distinct selection of the last many events (answers are
# typically under 2 KB). A subscriber catching up from further back executes its events
# itself, as without sharing.
SHARED_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class EventFilter:
    """Which events a subscriber wants; a narrow one gets heartbeats."""

    types: frozenset[str] | None = None
    entity_type: str | None = None
    entity_id: str | None = None

    @property
    def narrow(self) -> bool:
        return bool(self.types) or self.entity_id is not None

    def matches(self, row: EventRecord) -> bool:
        if self.types and row.type not in self.types:
            return False
        if self.entity_id is not None:
            return row.entity_type == self.entity_type and row.entity_id == self.entity_id
        return True


class Subscriber:
    """The bounded buffer between the tail and one subscription."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.rows: deque[EventRecord] = deque()
        self.lagging = False
        self.ready = asyncio.Event()

    def offer(self, rows: list[EventRecord]) -> None:
        if self.lagging:
            return
        if len(self.rows) + len(rows) > self.capacity:
            self.lagging = True
        else:
            self.rows.extend(rows)
        self.ready.set()


def heartbeat(position: int) -> EventRecord:
    """A transient event (never stored) telling a quiet subscriber how far it has read."""
    return EventRecord(
        uid=f"heartbeat-{uuid.uuid4()}", position=position, type=HEARTBEAT, payload={}
    )


class Hub:
    def __init__(self, log: EventLog, capacity: int, heartbeat_seconds: float) -> None:
        self.log = log
        self.capacity = capacity
        self.heartbeat_seconds = heartbeat_seconds
        self.head = 0
        self.subscribers: set[Subscriber] = set()
        self.wake = asyncio.Event()
        self.on_advance: list[Callable[[], None]] = []

    async def open(self) -> None:
        self.head = (await self.log.state()).last_position

    async def pump(self) -> None:
        """Read everything past ``head`` once and offer it to every subscriber."""
        while True:
            rows = await self.log.read(self.head, READ_BATCH)
            if not rows:
                return
            for index, subscriber in enumerate(list(self.subscribers), start=1):
                subscriber.offer(rows)
                if index % OFFER_CHUNK == 0:
                    # Let the loop poll I/O between chunks: woken subscribers run in the next
                    # iteration, so the sequencer and the next read are not queued behind a
                    # whole burst of sends.
                    await asyncio.sleep(0)
            self.head = rows[-1].position or self.head
            for callback in self.on_advance:
                callback()
            if len(rows) < READ_BATCH:
                return

    async def stream(self, after: int | None, wanted: EventFilter) -> AsyncIterator[EventRecord]:
        """Events after position ``after`` (replayed, then live), or live ones when None."""
        subscriber = Subscriber(self.capacity)
        self.subscribers.add(subscriber)
        last = self.head if after is None else after
        replay = after is not None
        quiet_since = time.monotonic()
        try:
            while True:
                if replay:
                    replay = False
                    while True:
                        rows = await self.log.read_contiguous(last, READ_BATCH)
                        for row in rows:
                            last = row.position  # type: ignore[assignment]
                            if wanted.matches(row):
                                yield row
                                quiet_since = time.monotonic()
                        if len(rows) < READ_BATCH:
                            break
                    continue
                if not subscriber.rows:
                    if subscriber.lagging:
                        # Rejoin the fan-out first, then read what was missed from the log.
                        subscriber.lagging = False
                        replay = True
                        continue
                    subscriber.ready.clear()
                    timeout = None
                    if wanted.narrow:
                        timeout = max(0.0, quiet_since + self.heartbeat_seconds - time.monotonic())
                    if not await wait_or_timeout(subscriber.ready, timeout):
                        yield heartbeat(last)
                        quiet_since = time.monotonic()
                    continue
                row = subscriber.rows.popleft()
                if row.position <= last:  # type: ignore[operator]
                    continue
                if row.position != last + 1:
                    # Never expected; if it happens, the log (not the buffer) fills the hole.
                    subscriber.rows.appendleft(row)
                    replay = True
                    continue
                last = row.position
                if wanted.matches(row):
                    yield row
                    quiet_since = time.monotonic()
        finally:
            self.subscribers.discard(subscriber)


class SharedResults:
    """Subscription answers (:mod:`crm_graph.schema.fanout`) as JSON text by (event uid,
    selection key); the oldest are evicted past ``budget`` bytes. Only text is kept: decoded
    answers would take several times as much."""

    def __init__(self, budget: int = SHARED_BYTES) -> None:
        self.budget = budget
        self.size = 0
        self.answers: dict[tuple[str, Any], str] = {}

    def get(self, key: tuple[str, Any]) -> str | None:
        return self.answers.get(key)

    def put(self, key: tuple[str, Any], answer: str) -> None:
        replaced = self.answers.pop(key, None)  # two subscribers may both miss, then both put
        self.size += len(answer) - len(replaced or "")
        self.answers[key] = answer
        while self.size > self.budget:
            self.size -= len(self.answers.pop(next(iter(self.answers))))
