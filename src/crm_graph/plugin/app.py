"""The app: what a running crm-graph holds (settings, engine, events, auth, plugins), and the
per-request context resolvers receive."""

from __future__ import annotations

from crm_graph.runtime import AppContext, open_app
from crm_graph.schema.context import RequestContext

__all__ = ["AppContext", "RequestContext", "open_app"]
