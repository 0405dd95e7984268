"""Running each plugin's ``crm_event`` hook after commit, isolated from everything else.

Every plugin with a handler is its own durable consumer (``plugin:<name>``), so a slow or
failing plugin holds back only itself. A handler that raises is logged and skipped past.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from crm_graph.events import consumers
from crm_graph.events.loops import logger
from crm_graph.events.store import EventLog

if TYPE_CHECKING:  # the app context holds the event service: no import at run time
    from crm_graph.runtime import AppContext

BATCH = 100
LEASE_SECONDS = 60.0


class PluginHandler:
    def __init__(self, app: AppContext, log: EventLog, plugin: str, owner: str, start: int) -> None:
        self.app, self.log, self.plugin, self.owner = app, log, plugin, owner
        self.hook = app.plugins.only(plugin, "crm_event")  # its own wrappers apply, not others'
        self.consumer = f"plugin:{plugin}"
        self.start = start  # where a plugin seen for the first time begins: server start

    async def step(self) -> None:
        """Handle everything past this plugin's position (if this process holds its lease)."""
        if await consumers.caught_up(self.app.engine, self.consumer, self.log):
            return
        position = await consumers.claim(
            self.app.engine, self.consumer, self.owner, LEASE_SECONDS, self.start
        )
        if position is None:
            return
        while True:
            rows = await self.log.read(position, BATCH)
            for row in rows:
                await self.handle(row)
                position = row.position  # type: ignore[assignment]
            if rows and not await consumers.advance(
                self.app.engine, self.consumer, self.owner, position, LEASE_SECONDS
            ):
                return
            if len(rows) < BATCH:
                return

    async def handle(self, row: Any) -> None:
        try:
            for result in self.hook(event=row, app=self.app):
                if inspect.isawaitable(result):
                    await result
        except Exception:
            logger.exception(
                "plugin %r failed to handle event %s (%s)", self.plugin, row.uid, row.type
            )


def plugin_handlers(app: AppContext, log: EventLog, owner: str, start: int) -> list[PluginHandler]:
    """One handler per enabled plugin implementing ``crm_event``, ordered by plugin name."""
    return [
        PluginHandler(app, log, name, owner, start)
        for name in app.plugins.implementers("crm_event")
    ]
