"""What one running app holds: settings, engine and plugins. Hangs off the Starlette app."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_graph.db.engine import read_session, write_session
from crm_graph.plugins_manager import PluginSet
from crm_graph.settings import Settings


@dataclass
class AppContext:
    """Passed to ``crm_startup``/``crm_shutdown`` and reachable from every request."""

    settings: Settings
    engine: AsyncEngine
    plugins: PluginSet

    def plugin_settings(self, name: str) -> Any:
        """The validated settings model of plugin ``name`` (``None`` if it declares none)."""
        return self.plugins.get(name).settings

    def write(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A unit of work: everything inside commits together or not at all."""
        return write_session(self.engine)

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        return read_session(self.engine)
