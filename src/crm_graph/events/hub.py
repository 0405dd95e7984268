"""Fan-out in one process: a single tail reads the log once and feeds every subscriber.

Each subscriber has a bounded buffer. One that falls behind is dropped from the fan-out and
reads what it missed from the log itself, then rejoins, so a slow client costs a bounded amount
of memory and loses nothing. Live rows are de-duplicated against what was replayed by
position, which makes the switch from replay to live free of gaps and duplicates. Idle
subscribers that would get identical answers are served as a group (:class:`Subscriber`).
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
# A leader that forwards nothing for this long is taken to be stuck on its own socket.
STUCK_SECONDS = 0.5
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
    """The bounded buffer between the tail and one subscription, and how far it has read.

    Subscribers whose answers are identical (the same ``key``: same selection, variables and
    grants) can be served as a group: one of them, the leader, is woken and executes each
    event; the answer it stores is then written to each follower's socket by ``send_now``,
    from the leader's task. A thousand sockets on one selection then cost one task switch and
    one execution per event instead of a thousand.
    """

    def __init__(
        self,
        capacity: int,
        last: int,
        key: Any = None,
        send_now: Callable[[EventRecord], bool] | None = None,
    ) -> None:
        self.capacity = capacity
        self.rows: deque[EventRecord] = deque()
        self.lagging = False
        self.ready = asyncio.Event()
        self.last = last  # the position delivered (or skipped as unwanted) last
        self.quiet_since = time.monotonic()
        self.parked = False  # waiting for rows in :meth:`Hub.stream`
        self.key = key
        # Writes the stored answer of an event at once; False when it cannot (no answer
        # stored, a socket that is not writable now): the subscriber then catches up itself.
        self.send_now = send_now
        self.leader: Subscriber | None = None
        self.followers: list[Subscriber] = []
        self.current: EventRecord | None = None  # yielded, not yet forwarded
        self.progress_at = 0.0  # when, as a leader, it last took followers or forwarded

    def offer(self, rows: list[EventRecord]) -> None:
        if self.lagging:
            return
        if len(self.rows) + len(rows) > self.capacity:
            self.lagging = True
        else:
            self.rows.extend(rows)
        self.ready.set()

    def idle_at(self, head: int) -> bool:
        """Parked at ``head`` with nothing pending: it may lead or follow."""
        return (
            self.parked
            and self.key is not None
            and self.leader is None
            and not self.rows
            and not self.lagging
            and self.last == head
        )

    def forward(self, row: EventRecord, wanted: bool) -> None:
        """The leader has handled ``row`` (sent its answer, or skipped it as unwanted): the
        followers do the same. One that cannot take it catches up from the log by itself."""
        for follower in list(self.followers):
            if wanted and not follower.send_now(row):  # type: ignore[misc]
                self.followers.remove(follower)
                follower.fall_behind()
                continue
            follower.last = max(follower.last, row.position)  # type: ignore[type-var]
            if wanted:
                follower.quiet_since = time.monotonic()
        self.progress_at = time.monotonic()

    def release(self) -> None:
        """A leader with nothing pending lets its followers go: they are where it is."""
        for follower in self.followers:
            follower.leader = None
        self.followers.clear()

    def release_behind(self) -> None:
        """A leader that stops following the tail (it replays, or ends) sends its followers
        to the log, from their own positions."""
        for follower in self.followers:
            follower.fall_behind()
        self.followers.clear()

    def fall_behind(self) -> None:
        self.leader = None
        self.lagging = True
        self.ready.set()

    def hand_over(self) -> None:
        """A leader stuck on its own socket gives its followers what it has not forwarded
        yet: each goes on by itself, and a slow socket never holds the others."""
        pending = [self.current] if self.current is not None else []
        pending += self.rows
        for follower in self.followers:
            follower.leader = None
            follower.offer(pending)
        self.followers.clear()


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
        """Read everything past ``head`` once and offer it to every subscriber (or, for a
        group of idle subscribers with the same key, to its leader only). A leader that has
        not moved for ``STUCK_SECONDS`` hands its followers over."""
        now = time.monotonic()
        for subscriber in list(self.subscribers):
            if subscriber.followers and now - subscriber.progress_at > STUCK_SECONDS:
                subscriber.hand_over()
        while True:
            rows = await self.log.read(self.head, READ_BATCH)
            if not rows:
                return
            leaders: dict[Any, Subscriber] = {}
            woken = 0
            for subscriber in list(self.subscribers):
                if subscriber.leader is not None:
                    continue  # its leader forwards these rows
                if subscriber.idle_at(self.head):
                    # A leader that has started on the rows can take no more followers.
                    leader = leaders.get(subscriber.key)
                    if leader is None or not leader.parked:
                        leaders[subscriber.key] = subscriber
                    elif subscriber.send_now is not None:
                        subscriber.leader = leader
                        leader.followers.append(subscriber)
                        leader.progress_at = time.monotonic()
                        continue
                subscriber.offer(rows)
                woken += 1
                if woken % OFFER_CHUNK == 0:
                    # Let the loop poll I/O between chunks: woken subscribers run in the next
                    # iteration, so the sequencer and the next read are not queued behind a
                    # whole burst of sends.
                    await asyncio.sleep(0)
            self.head = rows[-1].position or self.head
            for callback in self.on_advance:
                callback()
            if len(rows) < READ_BATCH:
                return

    async def stream(
        self,
        after: int | None,
        wanted: EventFilter,
        key: Any = None,
        send_now: Callable[[EventRecord], bool] | None = None,
    ) -> AsyncIterator[EventRecord]:
        """Events after position ``after`` (replayed, then live), or live ones when None.

        ``key`` and ``send_now`` let the subscriber join a group (see :class:`Subscriber`):
        the consumer must have stored the answer of each event it received by the time it
        asks for the next one.
        """
        subscriber = Subscriber(self.capacity, self.head if after is None else after, key, send_now)
        self.subscribers.add(subscriber)
        replay = after is not None
        try:
            while True:
                if replay:
                    replay = False
                    subscriber.release_behind()
                    while True:
                        rows = await self.log.read_contiguous(subscriber.last, READ_BATCH)
                        for row in rows:
                            subscriber.last = row.position  # type: ignore[assignment]
                            if wanted.matches(row):
                                yield row
                                subscriber.quiet_since = time.monotonic()
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
                    subscriber.release()
                    if not await self._park(subscriber, wanted):
                        continue
                    row = heartbeat(subscriber.last)
                else:
                    row = subscriber.rows.popleft()
                    if row.position <= subscriber.last:  # type: ignore[operator]
                        continue
                    if row.position != subscriber.last + 1:
                        # Never expected; if it happens, the log (not the buffer) fills the hole.
                        subscriber.rows.appendleft(row)
                        replay = True
                        continue
                    subscriber.last = row.position
                    if not wanted.matches(row):
                        subscriber.forward(row, wanted=False)
                        if not self._beat_due(subscriber, wanted):
                            continue
                        row = heartbeat(subscriber.last)  # unwanted events keep coming
                subscriber.current = row
                yield row
                subscriber.current = None
                subscriber.quiet_since = time.monotonic()
                subscriber.forward(row, wanted=True)
        finally:
            self.subscribers.discard(subscriber)
            subscriber.release_behind()
            if subscriber.leader is not None:
                subscriber.leader.followers.remove(subscriber)

    async def _park(self, subscriber: Subscriber, wanted: EventFilter) -> bool:
        """Wait for rows; True when a narrow subscriber is due a heartbeat instead. A follower
        gets its heartbeats from its leader."""
        timeout = None
        if wanted.narrow:
            timeout = max(0.0, subscriber.quiet_since + self.heartbeat_seconds - time.monotonic())
        subscriber.parked = True
        try:
            woken = await wait_or_timeout(subscriber.ready, timeout)
        finally:
            subscriber.parked = False
        return not woken and subscriber.leader is None and self._beat_due(subscriber, wanted)

    def _beat_due(self, subscriber: Subscriber, wanted: EventFilter) -> bool:
        """A narrow subscriber gets a heartbeat when nothing matched for a heartbeat period."""
        quiet = time.monotonic() - subscriber.quiet_since
        return wanted.narrow and quiet >= self.heartbeat_seconds


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
