"""GraphQL of audience segments: ``AudienceSegment`` (a static list or a dynamic segment, never
to be confused with the analytics plugin's ``CustomerSegment`` clusters or its RFM segment
names), its filter input, queries and mutations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from enum import Enum
from typing import Any, Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from crm_graph.plugin import (
    AppContext,
    CustomerType,
    RequestContext,
    RowLookup,
    UserError,
    ValidationFailed,
    batch_field,
    governed_by,
    input_id,
    lookup_field,
    perform,
    query_error,
    query_field,
    requires,
    rows_field,
)
from crm_marketing import ids, segments
from crm_marketing.settings import SEGMENTS_READ, SEGMENTS_WRITE
from crm_marketing.tables import DYNAMIC, STATIC, MarketingSegment


@strawberry.enum(name="AudienceSegmentKind")
class AudienceSegmentKind(Enum):
    STATIC = STATIC
    DYNAMIC = DYNAMIC


@asynccontextmanager
async def _evaluated(app: AppContext) -> AsyncIterator[Any]:
    """A read session where segments:read decides which rows a filter sees, as
    segments:write does where a segment is saved: an ``orders.count`` condition counts a
    customer's orders whether or not the caller holds orders:read (only customers come out)."""
    async with app.read() as session:
        yield governed_by(session, SEGMENTS_READ)


def _check_first(first: int) -> None:
    if not 1 <= first <= segments.MAX_PREVIEW:
        raise query_error("INVALID_ARGUMENT", f"first must be 1 to {segments.MAX_PREVIEW}", "first")


async def segment_sizes(parents: list[Any], context: RequestContext) -> list[int]:
    """Members of each segment (materialised membership), one statement for all."""
    async with context.app.read() as session:
        found = await segments.sizes(session, [parent.id for parent in parents])
    return [found.get(parent.id, 0) for parent in parents]


async def segment_previews(
    parents: list[Any], context: RequestContext, first: int = 10
) -> list[Any]:
    """Who each segment holds now (a dynamic one's filter evaluated live, over the rows
    segments:read shows, as its membership is kept: see :func:`_evaluated`)."""
    _check_first(first)
    pii = context.principal.has("pii:read")
    found = []
    async with _evaluated(context.app) as session:
        for parent in parents:
            segment = await session.get(MarketingSegment, parent.id)
            filter_context = segments.filter_context(context.app, pii)
            found.append(await segments.preview(session, segment, filter_context, first))  # type: ignore[arg-type]
    return found


@strawberry.type(
    name="AudienceSegment",
    description="A marketing audience: a static list (members added or imported) or a dynamic "
    "segment (a filter tree over customers, their orders and, with the analytics plugin, "
    "their scores). Campaigns are sent to one.",
)
class AudienceSegmentType:
    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.segment_id(self.id))  # type: ignore[attr-defined]

    name: str
    description: str

    @strawberry.field
    def kind(self) -> AudienceSegmentKind:
        return AudienceSegmentKind(self.kind)  # type: ignore[attr-defined]

    filter: JSON | None = strawberry.field(description="A dynamic segment's filter tree.")
    created_at: datetime
    updated_at: datetime
    refreshed_at: datetime | None = strawberry.field(
        description="When a dynamic segment's membership was last recomputed in full."
    )
    size: int = batch_field(
        segment_sizes,
        parent_columns=("id",),
        description="How many customers the segment holds (its materialised membership).",
        metadata=requires(SEGMENTS_READ),
    )
    preview: list[CustomerType] = batch_field(
        segment_previews,
        parent_columns=("id",),
        description="The first customers (by id) the segment holds now: a dynamic segment's "
        "filter is evaluated live.",
        metadata=requires(SEGMENTS_READ),
    )


@strawberry.input(
    name="AudienceConditionInput",
    description="One condition: `field` (a customer field such as `email`, `lifecycleStage`, "
    "`createdAt`, `tags`, `attributes.<key>`; `orders.count`, `orders.totalSpent`, "
    "`orders.lastOrderedAt`; with the analytics plugin `analytics.rfmSegment`, "
    "`analytics.churnBand`, `analytics.churnProbability`, `analytics.predictedValue`), an "
    "`operator` (eq, neq, in, notIn, contains, startsWith, endsWith, gt, gte, lt, lte, "
    "before, after, inLastDays, notInLastDays, exists, notExists, notContains, containsAny, "
    "as the field's kind allows) and a `value`.",
)
class AudienceConditionInput:
    field: str
    operator: str
    value: JSON | None = None
    days: int | None = strawberry.field(
        default=None, description="Order aggregates: only orders of the last N days."
    )
    currency: str | None = strawberry.field(
        default=None, description="orders.totalSpent: the currency (default: the server's)."
    )


@strawberry.input(
    name="AudienceFilterInput",
    description="A filter tree node: exactly one of `and`, `or`, `not` and `condition`.",
)
class AudienceFilterInput:
    and_: list[AudienceFilterInput] | None = strawberry.field(default=None, name="and")
    or_: list[AudienceFilterInput] | None = strawberry.field(default=None, name="or")
    not_: Optional[AudienceFilterInput] = strawberry.field(default=None, name="not")  # noqa: UP045
    condition: AudienceConditionInput | None = None


def filter_tree(node: AudienceFilterInput) -> dict[str, Any]:
    """The input as the plain tree :mod:`crm_marketing.filters` checks (keys as given)."""
    tree: dict[str, Any] = {}
    if node.and_ is not None:
        tree["and"] = [filter_tree(child) for child in node.and_]
    if node.or_ is not None:
        tree["or"] = [filter_tree(child) for child in node.or_]
    if node.not_ is not None:
        tree["not"] = filter_tree(node.not_)
    if node.condition is not None:
        c = node.condition
        tree["condition"] = {
            key: value
            for key, value in {
                "field": c.field,
                "operator": c.operator,
                "value": c.value,
                "days": c.days,
                "currency": c.currency,
            }.items()
            if value is not None
        }
    return tree


@strawberry.type(
    name="AudienceFilterPreview",
    description="An unsaved filter tree evaluated now: what a dynamic segment with it would hold.",
)
class AudienceFilterPreview:
    size: int | None = strawberry.field(
        description="How many customers the filter matches (null when it has errors)."
    )
    preview: list[CustomerType] = strawberry.field(
        description="The first customers (by id) it matches, masked as a segment's preview is."
    )
    errors: list[UserError] = strawberry.field(
        description="The filter's problems, as saving it would report them, at their path "
        "under the `filter` argument (`filter.and.1.condition.value`)."
    )


@strawberry.input
class CreateAudienceSegmentInput:
    name: str
    kind: AudienceSegmentKind
    description: str = ""
    filter: AudienceFilterInput | None = None


@strawberry.input
class UpdateAudienceSegmentInput:
    id: strawberry.ID
    name: str | None = None
    description: str | None = None
    filter: AudienceFilterInput | None = None


@strawberry.input
class AudienceSegmentIdInput:
    id: strawberry.ID


@strawberry.input
class AudienceSegmentMembersInput:
    segment_id: strawberry.ID
    customers: list[str] = strawberry.field(
        description="Customers by global ID or e-mail address (a file's lines, one each)."
    )


@strawberry.type
class AudienceSegmentPayload:
    segment: AudienceSegmentType | None
    errors: list[UserError]


@strawberry.type
class RefreshAudienceSegmentPayload:
    segment: AudienceSegmentType | None
    entered: int
    left: int
    errors: list[UserError]


def _context(context: RequestContext) -> segments.FilterContext:
    return segments.filter_context(context.app, context.principal.has("pii:read"))


async def filter_preview(
    context: RequestContext, filter: AudienceFilterInput, first: int = 10
) -> AudienceFilterPreview:
    """What a dynamic segment with ``filter`` would hold now, or the filter's user errors."""
    _check_first(first)
    try:
        async with _evaluated(context.app) as session:
            size, preview = await segments.evaluate(
                session, filter_tree(filter), _context(context), first, "filter"
            )
    except ValidationFailed as exc:
        return AudienceFilterPreview(
            size=None, preview=[], errors=[UserError.from_domain(e) for e in exc.errors]
        )
    return AudienceFilterPreview(size=size, preview=preview, errors=[])  # type: ignore[arg-type]


def _pk(value: str, *path: str) -> int:
    return input_id(value, "AudienceSegment", *path)


@strawberry.type
class SegmentQueries:
    audience_segments: list[AudienceSegmentType] = rows_field(
        MarketingSegment,
        segments.every,
        ("name",),
        permission=SEGMENTS_READ,
        description="Audience segments and static lists, by name.",
    )
    audience_segment: AudienceSegmentType | None = lookup_field(
        RowLookup(MarketingSegment, SEGMENTS_READ), description="One audience segment."
    )

    audience_filter_preview: AudienceFilterPreview = query_field(
        filter_preview,
        description="Evaluate a filter tree without saving it: the size and first customers a "
        "dynamic segment with it would have now, or its user errors (for a segment builder's "
        "live preview).",
        metadata=requires(SEGMENTS_READ),
    )


@strawberry.type
class SegmentMutations:
    @strawberry.mutation(
        description="A new static list or dynamic segment (materialised at once).",
        metadata=requires(SEGMENTS_WRITE),
    )
    async def create_audience_segment(
        self, info: Info, input: CreateAudienceSegmentInput
    ) -> AudienceSegmentPayload:
        tree = filter_tree(input.filter) if input.filter is not None else None
        segment, errors = await perform(
            info,
            lambda session: segments.create(
                session,
                info.context.app,
                _context(info.context),
                name=input.name,
                description=input.description,
                kind=input.kind.value,
                tree=tree,
            ),
        )
        return AudienceSegmentPayload(segment=segment, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Rename a segment or change its filter (applied at once).",
        metadata=requires(SEGMENTS_WRITE),
    )
    async def update_audience_segment(
        self, info: Info, input: UpdateAudienceSegmentInput
    ) -> AudienceSegmentPayload:
        tree = filter_tree(input.filter) if input.filter is not None else None

        async def work(session: Any) -> MarketingSegment:
            return await segments.update(
                session,
                _context(info.context),
                _pk(input.id, "input", "id"),
                name=input.name,
                description=input.description,
                tree=tree,
            )

        segment, errors = await perform(info, work)
        return AudienceSegmentPayload(segment=segment, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Delete a segment and its memberships.", metadata=requires(SEGMENTS_WRITE)
    )
    async def delete_audience_segment(
        self, info: Info, input: AudienceSegmentIdInput
    ) -> AudienceSegmentPayload:
        segment, errors = await perform(
            info, lambda session: segments.remove(session, _pk(input.id, "input", "id"))
        )
        return AudienceSegmentPayload(segment=segment, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Add customers to a static list (by ID or e-mail address); all or nothing.",
        metadata=requires(SEGMENTS_WRITE),
    )
    async def add_audience_segment_members(
        self, info: Info, input: AudienceSegmentMembersInput
    ) -> AudienceSegmentPayload:
        return await _members(info, input, add=True)

    @strawberry.mutation(
        description="Remove customers from a static list (by ID or e-mail address).",
        metadata=requires(SEGMENTS_WRITE),
    )
    async def remove_audience_segment_members(
        self, info: Info, input: AudienceSegmentMembersInput
    ) -> AudienceSegmentPayload:
        return await _members(info, input, add=False)

    @strawberry.mutation(
        description="Recompute a dynamic segment's membership now.",
        metadata=requires(SEGMENTS_WRITE),
    )
    async def refresh_audience_segment(
        self, info: Info, input: AudienceSegmentIdInput
    ) -> RefreshAudienceSegmentPayload:
        async def work(session: Any) -> tuple[MarketingSegment, tuple[int, int]]:
            segment = await segments.get(session, _pk(input.id, "input", "id"), "input", "id")
            context = segments.filter_context(info.context.app, True)
            return segment, await segments.refresh(session, segment, context)

        result, errors = await perform(info, work)
        if result is None:
            return RefreshAudienceSegmentPayload(segment=None, entered=0, left=0, errors=errors)
        segment, (entered, left) = result
        return RefreshAudienceSegmentPayload(
            segment=segment,  # type: ignore[arg-type]
            entered=entered,
            left=left,
            errors=[],
        )


async def _members(
    info: Info, input: AudienceSegmentMembersInput, *, add: bool
) -> AudienceSegmentPayload:
    async def work(session: Any) -> MarketingSegment:
        return await segments.change_members(
            session, _pk(input.segment_id, "input", "segmentId"), input.customers, add=add
        )

    segment, errors = await perform(info, work)
    return AudienceSegmentPayload(segment=segment, errors=errors)  # type: ignore[arg-type]
