"""What one running app holds: settings, engine, plugins, events and auth. Hangs off the
Starlette app; command-line tools get the same, complete, from :func:`open_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_graph.auth.authenticate import Authenticator
from crm_graph.auth.event_access import EventAccess
from crm_graph.auth.link_tokens import LinkTokens
from crm_graph.auth.permissions import build_policy
from crm_graph.db.engine import create_engine, read_session, write_session
from crm_graph.events.catalog import event_types
from crm_graph.events.service import EventService
from crm_graph.events.webhooks.targets import Resolve, TargetPolicy, system_resolve
from crm_graph.plugins_manager import PluginSet, create_plugin_manager
from crm_graph.scheduler.service import Scheduler
from crm_graph.settings import Settings


@dataclass
class AppContext:
    """Passed to ``crm_startup``/``crm_shutdown`` and reachable from every request.

    Complete once built: its services are assembled here, from the settings, the engine and
    the plugins, so the server and a command-line tool hold the same thing.
    """

    settings: Settings
    engine: AsyncEngine
    plugins: PluginSet
    # How webhook target names are resolved (the system's resolver unless one is given).
    resolve: Resolve = system_resolve
    # Which addresses webhooks may reach, checked at creation and at each connection.
    webhook_targets: TargetPolicy = field(init=False)
    # The event log, hub and background tasks (started by the server's lifespan only).
    events: EventService = field(init=False)
    # What each reader may see of each event's payload (see crm_graph.auth.event_access).
    event_access: EventAccess = field(init=False)
    # Authentication, roles and rate limits (see crm_graph.auth).
    auth: Authenticator = field(init=False)
    # Signed link tokens for public routes (``CRM_SECRET_KEY``; required in production).
    tokens: LinkTokens = field(init=False)
    # Plugins' periodic and one-shot jobs (started by the server's lifespan only).
    scheduler: Scheduler = field(init=False)
    # Per-plugin state that lives as long as the app (e.g. background jobs), by plugin name.
    plugin_state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tokens = LinkTokens(self.settings)
        self.webhook_targets = TargetPolicy(
            self.settings.webhook_allow_private_targets, self.resolve
        )
        self.auth = Authenticator(
            self.settings, build_policy(self.settings, self.plugins), self.engine
        )
        types = event_types(self.plugins)
        self.event_access = EventAccess(self.auth.policy, types)
        # Webhooks deliver what their creators may read, under this app's policy.
        self.events = EventService(self, types, self.event_access.webhook_audience())
        self.scheduler = Scheduler(self)

    def plugin_settings(self, name: str) -> Any:
        """The validated settings model of plugin ``name`` (``None`` if it declares none)."""
        return self.plugins.get(name).settings

    def write(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A unit of work: everything inside commits together or not at all."""
        return write_session(self.engine)

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        return read_session(self.engine)


def build_app(
    settings: Settings, plugins: Iterable[Any] | None = None, resolve: Resolve | None = None
) -> AppContext:
    """The one way an AppContext is made, for the server and for tools alike.

    Plugins are chosen as the server chooses them (``plugins=None`` discovers them); a plugin
    that cannot load, or conflicts with another, stops here. ``resolve`` replaces the system's
    name resolution for webhook targets (a split-horizon resolver, or a test's).
    """
    return AppContext(
        settings=settings,
        engine=create_engine(
            settings.database_url,
            echo=settings.sql_echo,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
        ),
        plugins=create_plugin_manager(settings, plugins),
        resolve=resolve or system_resolve,
    )


@asynccontextmanager
async def open_app(
    settings: Settings | None = None, plugins: Iterable[Any] | None = None
) -> AsyncIterator[AppContext]:
    """A complete AppContext outside the web server, for command-line tools and scripts.

    The engine is disposed of on exit. The event service is there (its log, its event types)
    but not started: only the server follows the log and delivers webhooks.
    """
    context = build_app(settings or Settings(), plugins)
    try:
        yield context
    finally:
        await context.engine.dispose()
