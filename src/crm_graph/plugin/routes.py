"""Routes: HTTP endpoints a plugin serves under ``/p/<plugin name>/`` (``crm_routes``)."""

from __future__ import annotations

from crm_graph.contributions import PUBLIC, PluginRoute, RouteContext, RouteError

__all__ = ["PUBLIC", "PluginRoute", "RouteContext", "RouteError"]
