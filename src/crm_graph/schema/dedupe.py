"""Data quality in GraphQL: likely duplicate customers, and merging them into one."""

from __future__ import annotations

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
from crm_graph.schema.types.common import UserError, id_arg, input_id, query_error
from crm_graph.schema.types.customer import Customer

MAX_RESULTS = 100
# A merge plan shows customer fields: masked as the Customer type masks them.
PERSONAL_FIELDS = personal_fields(Customer)


@strawberry.enum
class DuplicateReasonCode(Enum):
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    NAME = "NAME"
    COMPANY = "COMPANY"


@strawberry.type(description="One piece of evidence that two customers are the same.")
class DuplicateReason:
    code: DuplicateReasonCode
    message: str
    similarity: float = strawberry.field(description="1.0 for an exact match.")


def _reasons(match: duplicates.Match, info: Info) -> list[DuplicateReason]:
    """The reasons in words, the values both customers share as the caller may see them."""
    return [
        DuplicateReason(
            code=DuplicateReasonCode(r.code), message=r.message, similarity=r.similarity
        )
        for r in duplicates.explained(match, principal_of(info))
    ]


@strawberry.type(description="A customer that is likely the same as the one asked about.")
class DuplicateCandidate:
    score: float = strawberry.field(description="From 0.5 (possible) to 1.0 (certain).")
    reasons: list[DuplicateReason]
    customer_id: strawberry.Private[int]

    @strawberry.field
    async def customer(self, info: Info) -> Customer:
        return await info.context.loaders.customer.load(self.customer_id)


@strawberry.type(description="Two customers that are likely one.")
class DuplicatePair:
    score: float = strawberry.field(description="From 0.5 (possible) to 1.0 (certain).")
    reasons: list[DuplicateReason]
    ids: strawberry.Private[tuple[int, int]]

    @strawberry.field(description="The two customers, the older one first.")
    async def customers(self, info: Info) -> list[Customer]:
        return list(await info.context.loaders.customer.load_many(list(self.ids)))


def _first(first: int) -> int:
    if not 0 <= first <= MAX_RESULTS:
        raise query_error("INVALID_ARGUMENT", f"first must be between 0 and {MAX_RESULTS}", "first")
    return first


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
        return [
            DuplicateCandidate(score=m.score, reasons=_reasons(m, info), customer_id=m.other_id)
            for m in found
        ]

    @strawberry.field(
        description="The likeliest duplicate pairs among all customers, best first.",
        metadata=requires("customers:read"),
    )
    async def duplicate_customers(self, info: Info, first: int = 20) -> list[DuplicatePair]:
        limit = _first(first)
        async with info.context.app.read() as session:
            found = await duplicates.duplicate_pairs(session, limit)
        return [
            DuplicatePair(
                score=m.score,
                reasons=_reasons(m, info),
                ids=(min(m.customer_id, m.other_id), max(m.customer_id, m.other_id)),
            )
            for m in found
        ]


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
