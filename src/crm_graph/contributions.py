"""The dataclasses plugins return from hooks (re-exported by :mod:`crm_graph.plugin`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

EXTENDABLE_TYPES = (
    "Customer",
    "Order",
    "Interaction",
    "Product",
    "Query",
    "Mutation",
    "Subscription",
)


@dataclass(frozen=True)
class PluginMetadata:
    """Who the plugin is and which core versions it works with (a PEP 440 specifier)."""

    name: str
    version: str
    requires_core: str = ">=0.1"
    description: str = ""
    settings: type[BaseModel] | None = None


@dataclass(frozen=True)
class Storage:
    """Tables a plugin owns and the folder holding its Alembic migration branch."""

    tables: list[Any]
    migrations: Path


@dataclass(frozen=True)
class SchemaContribution:
    """GraphQL types, and fields to merge onto existing types (see ``crm_schema``)."""

    types: list[type] = field(default_factory=list)
    extend: dict[str, list[type]] = field(default_factory=dict)


@dataclass(frozen=True)
class EventType:
    """An event type a plugin emits (see ``crm_event_types``), listed by ``Query.eventTypes``.

    ``payload_schema`` is the JSON Schema of the event's payload; ``entity_type`` names the
    GraphQL type whose global ID is the event's ``entityId`` (``None`` when there is none).
    """

    name: str
    description: str
    payload_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    entity_type: str | None = None
