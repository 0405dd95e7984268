"""Contributions: what hooks return to tell the core what a plugin adds."""

from __future__ import annotations

from crm_graph.auth.permissions import Permissions
from crm_graph.contributions import (
    EXTENDABLE_TYPES,
    EventType,
    NodeLookup,
    PluginMetadata,
    SchemaContribution,
    Storage,
)

__all__ = [
    "EXTENDABLE_TYPES",
    "EventType",
    "NodeLookup",
    "Permissions",
    "PluginMetadata",
    "SchemaContribution",
    "Storage",
]
