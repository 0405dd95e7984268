"""The event log over GraphQL: ``events`` (polling), ``eventStream``, ``eventTypes`` and the
``events``/``customerChanged`` subscriptions. Resolvers only parse arguments and read the log."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON
from strawberry.types import Info

from crm_graph.auth.declare import requires
from crm_graph.auth.guard import principal_of
from crm_graph.events.hub import EventFilter
from crm_graph.events.models import EventRecord
from crm_graph.events.service import EventService
from crm_graph.events.store import CursorError
from crm_graph.schema.context import RequestContext
from crm_graph.schema.fanout import direct_sender
from crm_graph.schema.plugin_fields import query_field
from crm_graph.schema.types.common import Connection, Edge, PageInfo, id_arg, query_error

DEFAULT_EVENTS_PAGE = 50
READ = requires("events:read")


# What Event's cursor and payload answer, from the row and the request context (also the
# compiled read path's bindings, crm_graph.schema.planner.bindings).
def event_cursor(row: EventRecord, context: Any) -> str:
    return context.app.events.log.cursor(row.position)


def event_payload(row: EventRecord, context: Any) -> Any:
    return context.app.event_access.visible(row, context.principal)


@strawberry.type(
    description="Something that happened, from the ordered event log. Receivers de-duplicate "
    "on `id`; `cursor` resumes a subscription or `events` query right after this event. "
    "Events of type `heartbeat` are never stored: they only move a quiet subscriber's cursor."
)
class Event:
    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, EventRecord)

    @strawberry.field(description="Unique and stable: the same event always has the same id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.uid)  # type: ignore[attr-defined]

    @strawberry.field(description="Opaque position in the log, tied to this event store.")
    def cursor(self, info: Info) -> str:
        return event_cursor(self, info.context)  # type: ignore[arg-type]

    type: str
    entity_type: str | None = strawberry.field(description="GraphQL type of the entity.")
    entity_id: strawberry.ID | None = strawberry.field(description="Global ID of the entity.")

    @strawberry.field(
        description="The entity as JSON with its version; updates add `changedFields`. "
        "Personal data (an entity's personal fields, the keys an event type declares personal) "
        "is masked without `pii:read`; null when the caller may not read the entity or the "
        "event type's payload (the event still arrives, so the cursor moves on). A payload stored before "
        "input was checked, with values no JSON reader accepts, arrives with them as text and "
        "`unreadable` listing each (`field`, `message`)."
    )
    def payload(self, info: Info) -> JSON | None:
        principal_of(info)  # a caller, or UNAUTHENTICATED
        return event_payload(self, info.context)  # type: ignore[arg-type]

    actor: str | None
    occurred_at: datetime


@strawberry.type(description="Where the log starts and ends, and how long events are kept.")
class EventStream:
    oldest_cursor: str = strawberry.field(
        description="Replaying `after` this cursor yields every event still stored."
    )
    latest_cursor: str = strawberry.field(description="The cursor of the newest event.")
    retention_days: int


@strawberry.type(name="EventType", description="An event type and the JSON Schema of its payload.")
class EventTypeInfo:
    name: str
    description: str
    owner: str = strawberry.field(description="`core` or the name of the declaring plugin.")
    entity_type: str | None
    payload_schema: JSON


def _events(info: Info) -> EventService:
    return info.context.app.events


def cursor_error(exc: CursorError, argument: str) -> GraphQLError:
    extensions: dict[str, Any] = {"code": exc.code, "field": argument}
    if exc.oldest_cursor is not None:
        extensions["oldestCursor"] = exc.oldest_cursor
    return GraphQLError(str(exc), extensions=extensions)


async def _position(info: Info, after: str | None, argument: str = "after") -> int | None:
    if after is None:
        return None
    try:
        return await _events(info).log.position_of(after)
    except CursorError as exc:
        raise cursor_error(exc, argument) from exc


async def stream_bounds(context: RequestContext) -> EventStream:
    """Where the stored log starts and ends, for a reader choosing its first cursor."""
    log = context.app.events.log
    state = await log.state()
    return EventStream(
        oldest_cursor=log.cursor(state.pruned_through),
        latest_cursor=log.cursor(state.last_position),
        retention_days=context.app.settings.event_retention_days,
    )


@strawberry.type
class EventQueries:
    @strawberry.field(description="Stored events after a cursor, oldest first.", metadata=READ)
    async def events(
        self,
        info: Info,
        after: str | None = None,
        types: list[str] | None = None,
        first: int | None = None,
    ) -> Connection[Event]:
        maximum = info.context.app.settings.max_page_size
        size = DEFAULT_EVENTS_PAGE if first is None else first
        if not 0 <= size <= maximum:
            raise query_error("INVALID_ARGUMENT", f"first must be between 0 and {maximum}", "first")
        service = _events(info)
        start = await _position(info, after)
        if start is None:
            start = (await service.log.state()).pruned_through
        rows = await service.log.read(start, size + 1, types)
        page = rows[:size]
        cursors = [service.log.cursor(r.position) for r in page]  # type: ignore[arg-type]

        async def count() -> int:
            return await service.log.count(start, types)

        return Connection(
            edges=[Edge(node=row, cursor=c) for row, c in zip(page, cursors, strict=True)],
            page_info=PageInfo(
                has_next_page=len(rows) > size,
                has_previous_page=after is not None,
                start_cursor=cursors[0] if cursors else None,
                end_cursor=cursors[-1] if cursors else None,
            ),
            count=count,
        )

    event_stream: EventStream = query_field(
        stream_bounds, description="The bounds of the stored event log.", metadata=READ
    )

    @strawberry.field(
        description="Every event type of this server: core and plugins.", metadata=READ
    )
    def event_types(self, info: Info) -> list[EventTypeInfo]:
        return [
            EventTypeInfo(
                name=t.name,
                description=t.description,
                owner=owner,
                entity_type=t.entity_type,
                payload_schema=t.payload_schema,
            )
            for owner, t in _events(info).types
        ]


@strawberry.type
class EventSubscriptions:
    @strawberry.subscription(
        description="With `after`: every stored event after that cursor, then live ones, with "
        "no gap and no duplicate. Without: live events only. With `types`, a heartbeat event "
        "carries the current cursor when nothing matched for a while.",
        metadata=READ,
    )
    async def events(
        self, info: Info, after: str | None = None, types: list[str] | None = None
    ) -> AsyncGenerator[Event, None]:
        start = await _position(info, after)
        wanted = EventFilter(types=frozenset(types) if types else None)
        async for row in _stream(info, start, wanted):
            yield row

    @strawberry.subscription(
        description="Events about one customer (same log and cursors).", metadata=READ
    )
    async def customer_changed(
        self, info: Info, id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[Event, None]:
        id_arg(id, "Customer")
        start = await _position(info, after)
        wanted = EventFilter(entity_type="Customer", entity_id=str(id))
        async for row in _stream(info, start, wanted):
            yield row


async def _stream(
    info: Info, start: int | None, wanted: EventFilter
) -> AsyncGenerator[EventRecord, None]:
    direct = direct_sender(info)
    key, send_now = (direct.key, direct.send_now) if direct is not None else (None, None)
    stream = _events(info).hub.stream(start, wanted, key, send_now)
    try:
        async for row in stream:
            if direct is None or not await direct.send(row):
                yield row
    except CursorError as exc:
        raise cursor_error(exc, "after") from exc
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
