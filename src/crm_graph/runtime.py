"""What one running app holds: settings, engine and plugins. Hangs off the Starlette app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_graph.db.engine import create_engine, read_session, write_session
from crm_graph.plugins_manager import PluginSet, create_plugin_manager
from crm_graph.settings import Settings

if TYPE_CHECKING:
    from crm_graph.auth.authenticate import Authenticator
    from crm_graph.events.service import EventService


@dataclass
class AppContext:
    """Passed to ``crm_startup``/``crm_shutdown`` and reachable from every request."""

    settings: Settings
    engine: AsyncEngine
    plugins: PluginSet
    # The event log, hub and background tasks (set by create_app, started by its lifespan).
    events: EventService = field(init=False)
    # Authentication, roles and rate limits (set by create_app; see crm_graph.auth).
    auth: Authenticator = field(init=False)
    # Per-plugin state that lives as long as the app (e.g. background jobs), by plugin name.
    plugin_state: dict[str, Any] = field(default_factory=dict)

    def plugin_settings(self, name: str) -> Any:
        """The validated settings model of plugin ``name`` (``None`` if it declares none)."""
        return self.plugins.get(name).settings

    def write(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A unit of work: everything inside commits together or not at all."""
        return write_session(self.engine)

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        return read_session(self.engine)


@asynccontextmanager
async def open_app(
    settings: Settings | None = None, plugins: Iterable[Any] | None = None
) -> AsyncIterator[AppContext]:
    """An AppContext outside the web server, for command-line tools and scripts.

    Plugins are chosen as the server chooses them (``plugins=None`` discovers them); the engine
    is disposed of on exit. Server-only services (the event hub) are not started.
    """
    settings = settings or Settings()
    context = AppContext(
        settings=settings,
        engine=create_engine(settings.database_url, echo=settings.sql_echo),
        plugins=create_plugin_manager(settings, plugins),
    )
    try:
        yield context
    finally:
        await context.engine.dispose()
