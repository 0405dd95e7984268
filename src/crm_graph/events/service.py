"""The event machinery of one app: the log, the in-process hub and the background tasks.

Started and stopped by the app's lifespan; it hangs off :class:`AppContext` as ``events``,
never off a global, so two apps in one process keep separate buses.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from crm_graph.contributions import EventType
from crm_graph.db.models import utcnow
from crm_graph.events.handlers import plugin_handlers
from crm_graph.events.hub import Hub, SharedResults
from crm_graph.events.loops import run_forever
from crm_graph.events.notify import listen
from crm_graph.events.outbox import EMITTED, WRITTEN_CHANNEL
from crm_graph.events.store import POSITIONS_CHANNEL, EventLog
from crm_graph.events.webhooks.claims import Audience
from crm_graph.events.webhooks.dispatcher import dispatch, ensure_dispatcher
from crm_graph.events.webhooks.workers import Deliverer

if TYPE_CHECKING:  # the app context holds the event service: no import at run time
    from crm_graph.runtime import AppContext


class EventService:
    def __init__(
        self, app: AppContext, types: list[tuple[str, EventType]], audience: Audience
    ) -> None:
        """``types`` are the app's event types (see :func:`crm_graph.events.catalog.event_types`);
        ``audience`` decides what each webhook delivery carries (its creator's view)."""
        self.app = app
        self.audience = audience
        settings = app.settings
        self.log = EventLog(app.engine)
        self.hub = Hub(self.log, settings.event_subscriber_buffer, settings.event_heartbeat_seconds)
        self.types = types
        self.owner = uuid.uuid4().hex  # this process's identity for leases
        self.sequencer_wake = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []
        self.deliverer: Deliverer | None = None  # its HTTP client lives from start to stop
        # Answers shared by every subscriber of the same selection (crm_graph.schema.fanout).
        self.shared = SharedResults()

    async def start(self) -> None:
        await self.log.open()
        await self.hub.open()
        event.listen(Session, "after_commit", self._after_commit)
        settings = self.app.settings
        # Readers are woken: by this process's commits, by PostgreSQL's notifications and by
        # the tail's advance. Only SQLite's tail polls often, for other processes' events;
        # every other wait is the slow safety poll (a lost notification, a dead process's
        # lease to take over).
        safety = settings.event_safety_poll_seconds
        tail_interval = settings.event_poll_interval_seconds if self.log.sqlite else safety
        self._loop("event tail", self.hub.pump, self.hub.wake, tail_interval)
        if not self.log.sqlite:
            self._loop("event sequencer", self._sequence, self.sequencer_wake, safety)
            channels = {
                POSITIONS_CHANNEL: self.hub.wake.set,
                WRITTEN_CHANNEL: self.sequencer_wake.set,
            }
            self.tasks.append(asyncio.create_task(listen(self.app.engine.url, channels)))
        self._loop(
            "event retention",
            self._prune,
            asyncio.Event(),
            self.app.settings.event_prune_interval_seconds,
        )
        deliver = asyncio.Event()
        start = self.hub.head
        self._follow("webhook dispatcher", lambda: self._dispatch(deliver, start))
        if self.app.settings.webhook_workers > 0:
            self.deliverer = Deliverer(
                self.app.engine,
                self.app.settings,
                self.owner,
                self.audience,
                self.app.webhook_targets,
            )
            self._loop("webhook deliveries", self.deliverer.step, deliver, safety)
        for handler in plugin_handlers(self.app, self.log, self.owner, self.hub.head):
            self._follow(f"plugin {handler.plugin!r} event handler", handler.step)

    async def stop(self) -> None:
        if event.contains(Session, "after_commit", self._after_commit):
            event.remove(Session, "after_commit", self._after_commit)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        self.hub.on_advance.clear()
        if self.deliverer is not None:
            await self.deliverer.close()
            self.deliverer = None

    def _loop(
        self, name: str, step: Callable[[], Awaitable[Any]], wake: asyncio.Event, interval: float
    ) -> None:
        self.tasks.append(asyncio.create_task(run_forever(name, step, wake, interval), name=name))

    def _follow(self, name: str, step: Callable[[], Awaitable[Any]]) -> None:
        """A consumer of the log: runs when the hub advances, and on the safety poll."""
        wake = asyncio.Event()
        self.hub.on_advance.append(wake.set)
        self._loop(name, step, wake, self.app.settings.event_safety_poll_seconds)

    async def _dispatch(self, deliver: asyncio.Event, start: int) -> None:
        """Create the dispatcher's position here, not at startup: a busy database delays it
        instead of failing the start."""
        await ensure_dispatcher(self.app.engine, start)
        if await dispatch(self.app.engine):
            deliver.set()

    async def _sequence(self) -> None:
        if await self.log.sequence() is not None:
            self.hub.wake.set()

    async def _prune(self) -> None:
        days = self.app.settings.event_retention_days
        await self.log.prune(utcnow() - timedelta(days=days))

    def _after_commit(self, session: Session) -> None:
        """A unit of work of this app that emitted events committed: wake the readers now."""
        if getattr(session.bind, "pool", None) is not self.app.engine.sync_engine.pool:
            return
        if session.info.pop(EMITTED, False):
            (self.hub.wake if self.log.sqlite else self.sequencer_wake).set()
