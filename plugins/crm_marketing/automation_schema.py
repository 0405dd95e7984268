"""GraphQL of automations: ``MarketingAutomation``, its runs, and the mutations that create,
pause and resume one (built-ins to start from: welcome, post-purchase, win-back)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from crm_graph.plugin import (
    CustomerRow,
    CustomerType,
    Related,
    RequestContext,
    UserError,
    batch_field,
    input_id,
    perform,
    requires,
    table_field,
)
from crm_marketing import automations, ids
from crm_marketing.segment_schema import AudienceFilterInput, AudienceSegmentType, filter_tree
from crm_marketing.settings import AUTOMATIONS_READ, AUTOMATIONS_WRITE
from crm_marketing.tables import MarketingSegment

RUNS_SHOWN = 100


@strawberry.enum(name="MarketingAutomationAction")
class MarketingAutomationAction(Enum):
    SEND_EMAIL = automations.SEND_EMAIL
    ADD_TAG = automations.ADD_TAG
    CREATE_TASK = automations.CREATE_TASK


@strawberry.enum(name="MarketingAutomationBuiltIn", description="Automations to start from.")
class MarketingAutomationBuiltIn(Enum):
    WELCOME = "welcome"
    POST_PURCHASE = "post_purchase"
    WIN_BACK = "win_back"


@strawberry.type(name="MarketingAutomationRun", description="A customer's one enrolment.")
class MarketingAutomationRunType:
    customer: CustomerType | None = table_field(
        Related(CustomerRow, key="id", parent_key="customer_id")
    )
    status: str = strawberry.field(description="scheduled, done or skipped.")
    reason: str | None = strawberry.field(description="Why skipped (no_consent, paused...).")
    due_at: datetime
    done_at: datetime | None
    task_id: strawberry.ID | None = strawberry.field(
        description="The task a CREATE_TASK action created: its global ID (a SalesTask)."
    )


async def automation_runs(parents: list[Any], context: RequestContext) -> list[Any]:
    async with context.app.read() as session:
        found = await automations.runs_of(session, [p.id for p in parents], RUNS_SHOWN)
    return [found.get(p.id, []) for p in parents]


async def automation_enrolled(parents: list[Any], context: RequestContext) -> list[int]:
    async with context.app.read() as session:
        counts = await automations.enrolled(session, [p.id for p in parents])
    return [counts.get(p.id, 0) for p in parents]


@strawberry.type(name="MarketingAutomation", description="An event-triggered flow.")
class MarketingAutomationType:
    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.automation_id(self.id))  # type: ignore[attr-defined]

    name: str
    trigger: str = strawberry.field(description="The event type that enrols a customer.")
    segment: AudienceSegmentType | None = table_field(
        Related(MarketingSegment, key="id", parent_key="segment_id"),
        description="For a segment.entered trigger: the segment.",
    )
    condition: JSON | None
    delay_seconds: int

    @strawberry.field
    def action(self) -> MarketingAutomationAction:
        return MarketingAutomationAction(self.action)  # type: ignore[attr-defined]

    subject: str | None = strawberry.field(
        description="The e-mail's subject, or the task's title (CREATE_TASK); a template."
    )
    sender: str | None
    text_template: str | None = strawberry.field(
        description="The e-mail's text, or the task's notes (CREATE_TASK); a template."
    )
    html_template: str | None
    tag: str | None
    active: bool
    created_at: datetime
    enrolled: int = batch_field(
        automation_enrolled, metadata=requires(AUTOMATIONS_READ), description="Customers enrolled."
    )
    runs: list[MarketingAutomationRunType] = batch_field(
        automation_runs, metadata=requires(AUTOMATIONS_READ), description="The first 100 runs."
    )


@strawberry.input
class CreateMarketingAutomationInput:
    built_in: MarketingAutomationBuiltIn | None = strawberry.field(
        default=None, description="Start from a built-in; the other fields override it."
    )
    name: str | None = None
    trigger: str | None = None
    segment_id: strawberry.ID | None = None
    condition: AudienceFilterInput | None = None
    delay_seconds: int | None = None
    action: MarketingAutomationAction | None = None
    subject: str | None = None
    sender: str | None = None
    text_template: str | None = None
    html_template: str | None = None
    tag: str | None = None


@strawberry.input
class SetMarketingAutomationActiveInput:
    id: strawberry.ID
    active: bool


@strawberry.type
class MarketingAutomationPayload:
    automation: MarketingAutomationType | None
    errors: list[UserError]


def _fields(input: CreateMarketingAutomationInput) -> dict[str, Any]:
    fields = dict(automations.BUILT_INS[input.built_in.value]) if input.built_in else {}
    given = {
        "name": input.name,
        "trigger": input.trigger,
        "delay_seconds": input.delay_seconds,
        "action": input.action.value if input.action else None,
        "subject": input.subject,
        "sender": input.sender,
        "text_template": input.text_template,
        "html_template": input.html_template,
        "tag": input.tag,
        "condition": filter_tree(input.condition) if input.condition else None,
    }
    fields.update({key: value for key, value in given.items() if value is not None})
    if input.segment_id is not None:
        fields["segment_id"] = input_id(input.segment_id, "AudienceSegment", "input", "segmentId")
    return fields


@strawberry.type
class AutomationQueries:
    @strawberry.field(description="Marketing automations.", metadata=requires(AUTOMATIONS_READ))
    async def marketing_automations(self, info: Info) -> list[MarketingAutomationType]:
        async with info.context.app.read() as session:
            return await automations.every(session)  # type: ignore[return-value]


@strawberry.type
class AutomationMutations:
    @strawberry.mutation(
        description="A new, active automation: a trigger (event type, condition), a delay and "
        "an action; each customer is enrolled once.",
        metadata=requires(AUTOMATIONS_WRITE),
    )
    async def create_marketing_automation(
        self, info: Info, input: CreateMarketingAutomationInput
    ) -> MarketingAutomationPayload:
        app, pii = info.context.app, info.context.principal.has("pii:read")
        automation, errors = await perform(
            info, lambda session: automations.create(session, app, _fields(input), pii)
        )
        return MarketingAutomationPayload(automation=automation, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Pause (runs waiting are skipped) or resume an automation.",
        metadata=requires(AUTOMATIONS_WRITE),
    )
    async def set_marketing_automation_active(
        self, info: Info, input: SetMarketingAutomationActiveInput
    ) -> MarketingAutomationPayload:
        automation, errors = await perform(
            info,
            lambda session: automations.set_active(
                session, input_id(input.id, "MarketingAutomation", "input", "id"), input.active
            ),
        )
        return MarketingAutomationPayload(automation=automation, errors=errors)  # type: ignore[arg-type]
