"""Data quality in GraphQL: likely duplicate customers, a steward's decisions, and merging."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from crm_graph.auth.declare import requires
from crm_graph.auth.guard import personal_fields, principal_of
from crm_graph.auth.personal import shown
from crm_graph.db.jsonable import camel, plain
from crm_graph.domain import duplicates, merge
from crm_graph.domain.errors import ValidationFailed
from crm_graph.schema.mutations.base import perform
from crm_graph.schema.types.common import (
    Connection,
    Edge,
    PageInfo,
    UserError,
    id_arg,
    input_id,
    query_error,
)
from crm_graph.schema.types.customer import Customer

MAX_RESULTS = 100
# A merge plan shows customer fields: masked as the Customer type masks them.
PERSONAL_FIELDS = personal_fields(Customer)


@strawberry.enum
class DuplicateReasonCode(Enum):
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    NAME = "NAME"
    BIRTH_DATE = "BIRTH_DATE"
    ADDRESS = "ADDRESS"
    COMPANY = "COMPANY"


@strawberry.type(description="One piece of evidence that two customers are the same.")
class DuplicateReason:
    code: DuplicateReasonCode
    message: str = strawberry.field(
        description="In words; a value both customers share is masked without pii:read."
    )
    similarity: float = strawberry.field(description="1.0 for an exact match.")


def _reasons(reasons: Any, customer: Any, info: Info) -> list[DuplicateReason]:
    return [
        DuplicateReason(
            code=DuplicateReasonCode(r.code), message=r.message, similarity=r.similarity
        )
        for r in duplicates.explained(reasons, customer, principal_of(info))
    ]


@strawberry.type(description="A customer that is likely the same as the one asked about.")
class DuplicateCandidate:
    score: float = strawberry.field(
        description="The probability that both are one person (0.5 likely to 1.0 certain)."
    )
    reasons: list[DuplicateReason]
    customer_id: strawberry.Private[int]

    @strawberry.field
    async def customer(self, info: Info) -> Customer:
        return await info.context.loaders.customer.load(self.customer_id)


@strawberry.type(description="Two customers that are likely one.")
class DuplicatePair:
    score: float = strawberry.field(
        description="The probability that both are one person, learned from the data."
    )
    pair: strawberry.Private[duplicates.Pair]

    @strawberry.field(description="The two customers, the older one first.")
    async def customers(self, info: Info) -> list[Customer]:
        ids = [self.pair.customer_id, self.pair.other_id]
        return list(await info.context.loaders.customer.load_many(ids))

    @strawberry.field(description="The evidence, strongest kinds first.")
    async def reasons(self, info: Info) -> list[DuplicateReason]:
        first = await info.context.loaders.customer.load(self.pair.customer_id)
        return _reasons(self.pair.reasons, first, info)


@strawberry.type(
    description="Customers likely to be one: a pair, or a cluster of more linked by pairs."
)
class DuplicateGroup:
    group: strawberry.Private[duplicates.Group]

    @strawberry.field(description="The best score of its pairs.")
    def score(self) -> float:
        return self.group.score

    @strawberry.field(description="Every customer of the group, oldest first.")
    async def customers(self, info: Info) -> list[Customer]:
        return list(await info.context.loaders.customer.load_many(self.group.customer_ids))

    @strawberry.field(description="The likely duplicate pairs within the group, best first.")
    def pairs(self) -> list[DuplicatePair]:
        return [DuplicatePair(score=p.score, pair=p) for p in self.group.pairs]


@strawberry.input
class DuplicateFilter:
    min_score: float = strawberry.field(
        default=duplicates.MIN_SCORE, description="Pairs scoring at least this (0 to 1)."
    )
    reasons: list[DuplicateReasonCode] | None = strawberry.field(
        default=None, description="Pairs having every one of these reasons."
    )


def _first(first: int) -> int:
    if not 0 <= first <= MAX_RESULTS:
        raise query_error("INVALID_ARGUMENT", f"first must be between 0 and {MAX_RESULTS}", "first")
    return first


def _page(found: list[duplicates.Group], first: int, after: str | None) -> Connection[Any]:
    start = 0
    if after is not None:
        try:
            key = duplicates.cursor_key(after)
        except (ValueError, TypeError) as exc:
            raise query_error("INVALID_CURSOR", "not a cursor of this list", "after") from exc
        start = next((i for i, g in enumerate(found) if g.sort_key > key), len(found))
    window = found[start : start + first]
    edges = [Edge(node=DuplicateGroup(group=g), cursor=g.cursor()) for g in window]

    async def count() -> int:
        return len(found)

    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=start + first < len(found),
            has_previous_page=start > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        count=count,
    )


@strawberry.type
class DedupeQueries:
    @strawberry.field(
        description="Customers that are likely duplicates of this one, best first.",
        metadata=requires("customers:read"),
    )
    async def duplicate_candidates(
        self, info: Info, customer_id: strawberry.ID, first: int = 10
    ) -> list[DuplicateCandidate]:
        pk, limit = id_arg(customer_id, "Customer", "customerId"), _first(first)
        async with info.context.app.read() as session:
            try:
                found = await duplicates.duplicate_candidates(session, pk, limit)
            except ValidationFailed as exc:
                error = exc.errors[0]
                raise query_error(error.code, error.message, "customerId") from exc
        customer = await info.context.loaders.customer.load(pk)
        return [
            DuplicateCandidate(
                score=p.score, reasons=_reasons(p.reasons, customer, info), customer_id=p.other_id
            )
            for p in found
        ]

    @strawberry.field(
        description="Groups of likely duplicate customers (pairs, or clusters of more), best "
        "score first; dismissed pairs are left out.",
        metadata=requires("customers:read"),
    )
    async def duplicate_customers(
        self,
        info: Info,
        filter: DuplicateFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[DuplicateGroup]:
        f = filter or DuplicateFilter()
        if not 0 <= f.min_score <= 1:
            raise query_error(
                "INVALID_ARGUMENT", "minScore must be between 0 and 1", "filter.minScore"
            )
        limit = _first(first)
        async with info.context.app.read() as session:
            found = await duplicates.groups(
                session, f.min_score, [r.value for r in f.reasons or ()]
            )
        return _page(found, limit, after)


@strawberry.input
class MarkNotDuplicateInput:
    customer_ids: list[strawberry.ID] = strawberry.field(
        description="The two customers that are not one."
    )


@strawberry.type(description="Two customers a data steward said are not one.")
class DuplicateDismissal:
    dismissed_by: str | None = strawberry.field(description="The user id who said so.")
    dismissed_at: datetime
    ids: strawberry.Private[tuple[int, int]]

    @strawberry.field(description="The two customers, the older one first.")
    async def customers(self, info: Info) -> list[Customer]:
        return list(await info.context.loaders.customer.load_many(list(self.ids)))


@strawberry.type
class MarkNotDuplicatePayload:
    dismissal: DuplicateDismissal | None
    errors: list[UserError]


@strawberry.input
class MergeCustomersInput:
    survivor_id: strawberry.ID
    merged_ids: list[strawberry.ID]
    dry_run: bool = strawberry.field(
        default=False, description="Return the plan and write nothing."
    )


@strawberry.type(description="A field of the survivor after the merge, and where it comes from.")
class MergeFieldValue:
    field: str
    given: strawberry.Private[Any]
    python_name: strawberry.Private[str]
    source_ids: strawberry.Private[list[int]]

    @strawberry.field(
        description="Null when none of the customers has one; masked as the Customer field is."
    )
    def value(self, info: Info) -> JSON | None:
        kind = PERSONAL_FIELDS.get(self.python_name)
        value = self.given if kind is None else shown(principal_of(info), self.given, kind)
        return plain(value)  # a birth date as ISO 8601

    @strawberry.field(description="The customers the value comes from.")
    async def sources(self, info: Info) -> list[Customer]:
        return list(await info.context.loaders.customer.load_many(self.source_ids))


@strawberry.type(description="How many rows of one kind move to the survivor.")
class MergeMove:
    owner: str = strawberry.field(description='"core" or the plugin that owns the rows.')
    kind: str
    count: int


@strawberry.type
class MergePlan:
    dry_run: bool
    fields: list[MergeFieldValue]
    moves: list[MergeMove]
    aliases: list[str] = strawberry.field(
        description="External ids of merged customers that now find the survivor."
    )


@strawberry.type
class MergeCustomersPayload:
    plan: MergePlan | None
    errors: list[UserError]
    survivor_id: strawberry.Private[int | None]

    @strawberry.field(description="The survivor (as it is now: unchanged after a dry run).")
    async def survivor(self, info: Info) -> Customer | None:
        return (
            await info.context.loaders.customer.load(self.survivor_id) if self.survivor_id else None
        )


class _DryRun(Exception):
    """Carries a dry run's plan out of its transaction, which is rolled back."""

    def __init__(self, plan: merge.MergePlan) -> None:
        self.plan = plan


def _plan(plan: merge.MergePlan, dry_run: bool) -> MergePlan:
    return MergePlan(
        dry_run=dry_run,
        fields=[
            MergeFieldValue(
                field=camel(f.field), given=f.value, python_name=f.field, source_ids=f.sources
            )
            for f in plan.fields
        ],
        moves=[MergeMove(owner=m.owner, kind=m.kind, count=m.count) for m in plan.moves],
        aliases=plan.aliases,
    )


@strawberry.type
class MergeMutations:
    @strawberry.mutation(
        description="Remember that two customers are not one: their pair is never suggested "
        "again (who said so and when are kept).",
        metadata=requires("customers:write"),
    )
    async def mark_not_duplicate(
        self, info: Info, input: MarkNotDuplicateInput
    ) -> MarkNotDuplicatePayload:
        actor = principal_of(info).user_id

        async def work(session: AsyncSession) -> Any:
            ids = [
                input_id(value, "Customer", "input", "customerIds", str(index))
                for index, value in enumerate(input.customer_ids)
            ]
            return await duplicates.dismiss(session, ids, actor, "input", "customerIds")

        row, errors = await perform(info, work)
        dismissal = None
        if row is not None:
            dismissal = DuplicateDismissal(
                dismissed_by=row.dismissed_by,
                dismissed_at=row.dismissed_at,
                ids=(row.customer_id, row.other_id),
            )
        return MarkNotDuplicatePayload(dismissal=dismissal, errors=errors)

    @strawberry.mutation(
        description="Merge duplicates into a survivor: their interactions, orders and plugin "
        "rows move to it, their external ids stay as its aliases, and they are soft-deleted.",
        metadata=requires("customers:write"),
    )
    async def merge_customers(
        self, info: Info, input: MergeCustomersInput
    ) -> MergeCustomersPayload:
        plugins = info.context.app.plugins

        async def work(session: AsyncSession) -> merge.MergePlan:
            survivor = input_id(input.survivor_id, "Customer", "input", "survivorId")
            merged = [
                input_id(value, "Customer", "input", "mergedIds", str(index))
                for index, value in enumerate(input.merged_ids)
            ]
            plan = await merge.merge_customers(session, survivor, merged, plugins)
            if input.dry_run:
                raise _DryRun(plan)
            return plan

        result: Any
        try:
            result, errors = await perform(info, work)
        except _DryRun as dry:
            result, errors = dry.plan, []
        return MergeCustomersPayload(
            plan=_plan(result, input.dry_run) if result else None,
            errors=errors,
            survivor_id=result.survivor_id if result else None,
        )
