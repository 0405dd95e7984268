"""The dataclasses plugins return from hooks (re-exported by :mod:`crm_graph.plugin`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from crm_graph.auth.principal import Principal
    from crm_graph.runtime import AppContext
    from crm_graph.schema.plugin_fields import RowLookup

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
class NodeLookup:
    """How ``node(id:)`` and ``nodes(ids:)`` find the objects of a plugin's GraphQL type (see
    ``SchemaContribution.nodes``) when they are not one table's rows (a view built of several):
    strawberry serves these. A type over a table's rows declares a ``RowLookup`` instead,
    which both read paths run.

    ``permission`` is needed to look any up, as for the type's own queries. ``load`` is
    ``async (context: RequestContext, pks: list[int]) -> list[object | None]``: for each
    primary key, in order, what the type resolves from (a row or a view), or ``None`` where
    there is none *or the caller's scope does not see it*, so that a record outside the scope
    is answered as one that does not exist. It is called once per request and type for all
    the IDs asked for together.
    """

    permission: str
    load: Callable[..., Awaitable[list[Any]]]


@dataclass(frozen=True)
class SchemaContribution:
    """GraphQL types, fields to merge onto existing types, and how ``node(id:)`` finds the
    plugin's own types (``nodes``: GraphQL type name -> a ``RowLookup`` of the type's table,
    or a :class:`NodeLookup`; see ``crm_schema``)."""

    types: list[type] = field(default_factory=list)
    extend: dict[str, list[type]] = field(default_factory=dict)
    nodes: Mapping[str, NodeLookup | RowLookup] = field(default_factory=dict)


@dataclass(frozen=True)
class EventType:
    """An event type a plugin emits (see ``crm_event_types``), listed by ``Query.eventTypes``.

    ``payload_schema`` is the JSON Schema of the event's payload; ``entity_type`` names the
    GraphQL type whose global ID is the event's ``entityId`` (``None`` when there is none).

    Events reach callers who may not see everything in them (the ``events`` page,
    subscriptions, webhooks), so a type says what needs more than ``events:read``:
    ``personal_data`` maps each payload key holding personal data to its mask (``email``,
    ``phone`` or ``text``, as a column's ``info={"pii": ...}``), shown masked to readers
    without ``pii:read``; a dotted key reaches into nested objects (``contact.email``), through
    every item of a list on the way. ``permission``, when set, is needed (at scope ``all``:
    an event stream is not filtered by owner) to see the payload at all; without it the event
    still arrives, with a null payload.
    """

    name: str
    description: str
    payload_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    entity_type: str | None = None
    personal_data: Mapping[str, str] = field(default_factory=dict)
    permission: str | None = None


# A route anyone may call, without a credential: it checks its own token (see PluginRoute).
PUBLIC = "public"


@dataclass(frozen=True)
class PluginRoute:
    """An HTTP route a plugin serves under ``/p/<plugin name>`` (see ``crm_routes``).

    ``path`` is relative to that prefix (``/redeem/{token}``, Starlette's path syntax).
    ``permission`` is required, as on GraphQL fields: a permission name (the caller needs a
    credential and that permission), ``AUTHENTICATED`` (any valid credential) or ``PUBLIC``
    (no credential; the route checks a token of its own). ``endpoint`` is
    ``async (request, context: RouteContext) -> Response``.
    """

    path: str
    endpoint: Callable[..., Awaitable[Any]]
    permission: str
    methods: tuple[str, ...] = ("GET",)


class RouteError(Exception):
    """Raised by a route to answer ``status`` with one error (``code``, ``message``) in the
    shape every crm-graph error has: ``{"data": null, "errors": [...]}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class RouteContext:
    """What a plugin route gets next to the request: the app, the caller (``None`` on a
    public route) and the request id (also sent back as ``X-Request-Id``)."""

    app: AppContext
    principal: Principal | None
    request_id: str

    def require(self, permission: str) -> None:
        """Stop with 403 ``FORBIDDEN`` unless the caller holds ``permission``."""
        if self.principal is None or not self.principal.has(permission):
            raise RouteError(403, "FORBIDDEN", f"this needs the permission {permission!r}")
