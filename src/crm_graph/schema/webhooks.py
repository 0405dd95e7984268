"""Webhooks over GraphQL: endpoints, their deliveries and attempt log, and replaying an event."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crm_graph.auth.declare import requires
from crm_graph.auth.guard import principal_of
from crm_graph.db.paging import Ordering
from crm_graph.domain import webhook_endpoints as domain
from crm_graph.events.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from crm_graph.events.webhooks.targets import TargetPolicy
from crm_graph.ids import to_global_id
from crm_graph.schema.events import Event
from crm_graph.schema.lists import connection
from crm_graph.schema.mutations.base import fields_of, perform
from crm_graph.schema.types.common import (
    Connection,
    UserError,
    id_arg,
    input_id,
    page_args,
    row_type,
)

MANAGE = requires("webhooks:manage")
NEWEST_FIRST = Ordering("webhook_delivery.id.desc", (), descending=True)
OLDEST_FIRST = Ordering("webhook_endpoint.id.asc", (), descending=False)


@strawberry.enum
class WebhookStatus(Enum):
    ACTIVE = "active"
    PAUSED = "paused"
    DISABLED = "disabled"


@strawberry.enum
class WebhookDeliveryStatus(Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    DEAD = "dead"


@strawberry.type(description="An HTTPS endpoint that receives signed events (Standard Webhooks).")
@row_type(WebhookEndpoint, "Webhook")
class Webhook:
    url: str
    description: str | None
    event_types: list[str] = strawberry.field(
        description="Types sent; empty means every type except `webhook.*`."
    )
    status: WebhookStatus
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int


@strawberry.type(name="WebhookAttempt", description="One HTTP attempt of a delivery.")
@row_type(WebhookAttempt)
class WebhookAttemptLog:
    number: int
    started_at: datetime
    finished_at: datetime | None = strawberry.field(
        description="Null while running. An attempt whose worker stopped mid-way is closed "
        "with an error once its lease expires."
    )
    status_code: int | None
    latency_ms: int | None
    response_body: str | None = strawberry.field(description="The first 1,000 characters.")
    error: str | None


@strawberry.type(
    name="WebhookDelivery",
    description="One event to one webhook, retried until it succeeds or dies.",
)
@row_type(WebhookDelivery, "WebhookDelivery")
class WebhookDeliveryType:
    @strawberry.field
    def webhook_id(self) -> strawberry.ID:
        return to_global_id("Webhook", self.webhook_id)  # type: ignore[arg-type]

    @strawberry.field(description="The `id` of the delivered event (the `webhook-id` header).")
    def event_id(self) -> strawberry.ID:
        return strawberry.ID(self.event_uid)  # type: ignore[attr-defined]

    @strawberry.field(description="The event, while it is within retention.")
    async def event(self, info: Info) -> Event | None:
        return await info.context.loaders.event_by_uid.load(self.event_uid)  # type: ignore[attr-defined]

    @strawberry.field(description="Every attempt, oldest first.")
    async def attempt_log(self, info: Info) -> list[WebhookAttemptLog]:
        return await info.context.loaders.webhook_attempts.load(self.id)  # type: ignore[attr-defined]

    status: WebhookDeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    updated_at: datetime


@strawberry.input
class CreateWebhookInput:
    url: str
    event_types: list[str] = strawberry.field(
        default_factory=list, description="Empty: every type except `webhook.*`."
    )
    description: str | None = None


@strawberry.input
class UpdateWebhookInput:
    id: strawberry.ID
    expected_version: int | None = None
    url: str | None = strawberry.UNSET
    event_types: list[str] | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    status: WebhookStatus | None = strawberry.field(
        default=strawberry.UNSET, description="PAUSED holds deliveries; ACTIVE resumes them."
    )


@strawberry.input
class WebhookIdInput:
    id: strawberry.ID
    expected_version: int | None = None


@strawberry.input
class RedeliverEventInput:
    webhook_id: strawberry.ID
    event_id: strawberry.ID


@strawberry.type
class CreateWebhookPayload:
    webhook: Webhook | None
    secret: str | None = strawberry.field(
        description="The signing secret (`whsec_...`). Shown only here: store it now."
    )
    errors: list[UserError]


@strawberry.type
class WebhookPayload:
    webhook: Webhook | None
    errors: list[UserError]


@strawberry.type
class RedeliverEventPayload:
    delivery: WebhookDeliveryType | None
    errors: list[UserError]


def _known_types(info: Info) -> list[str]:
    return [t.name for _owner, t in info.context.app.events.types]


def _targets(info: Info) -> TargetPolicy:
    return info.context.app.webhook_targets


@strawberry.type
class WebhookQueries:
    @strawberry.field(metadata=MANAGE)
    async def webhook(self, info: Info, id: strawberry.ID) -> Webhook | None:
        async with info.context.app.read() as session:
            return await session.get(WebhookEndpoint, id_arg(id, "Webhook"))

    @strawberry.field(metadata=MANAGE, description="Webhooks, oldest first.")
    async def webhooks(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Webhook]:
        return await connection(
            info,
            select(WebhookEndpoint),
            WebhookEndpoint,
            OLDEST_FIRST,
            page_args(first, after, None, None),
        )

    @strawberry.field(metadata=MANAGE, description="A webhook's deliveries, newest first.")
    async def webhook_deliveries(
        self,
        info: Info,
        webhook_id: strawberry.ID,
        status: WebhookDeliveryStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WebhookDeliveryType]:
        stmt = domain.deliveries_select(
            id_arg(webhook_id, "Webhook", "webhookId"), status.value if status else None
        )
        return await connection(
            info, stmt, WebhookDelivery, NEWEST_FIRST, page_args(first, after, None, None)
        )


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(metadata=MANAGE, description="Create a webhook; returns its secret once.")
    async def create_webhook(self, info: Info, input: CreateWebhookInput) -> CreateWebhookPayload:
        fields = {"url": input.url, "event_types": input.event_types}
        fields["description"] = input.description
        known, allow = _known_types(info), _targets(info)
        creator = principal_of(info)
        row, errors = await perform(
            info, lambda s: domain.create_endpoint(s, fields, known, allow, creator)
        )
        return CreateWebhookPayload(webhook=row, secret=row.secret if row else None, errors=errors)

    @strawberry.mutation(metadata=MANAGE, description="Change a webhook, pause or resume it.")
    async def update_webhook(self, info: Info, input: UpdateWebhookInput) -> WebhookPayload:
        changes = fields_of(input, ("url", "event_types", "description", "status"))
        known, allow = _known_types(info), _targets(info)

        async def work(session: AsyncSession) -> WebhookEndpoint:
            pk = input_id(input.id, "Webhook", "input", "id")
            return await domain.update_endpoint(
                session, pk, changes, known, allow, principal_of(info), input.expected_version
            )

        row, errors = await perform(info, work)
        return WebhookPayload(webhook=row, errors=errors)

    @strawberry.mutation(metadata=MANAGE, description="Delete a webhook and its delivery log.")
    async def delete_webhook(self, info: Info, input: WebhookIdInput) -> WebhookPayload:
        async def work(session: AsyncSession) -> WebhookEndpoint:
            pk = input_id(input.id, "Webhook", "input", "id")
            return await domain.delete_endpoint(session, pk, input.expected_version)

        row, errors = await perform(info, work)
        return WebhookPayload(webhook=row, errors=errors)

    @strawberry.mutation(metadata=MANAGE, description="Send a stored event to a webhook again.")
    async def redeliver_event(
        self, info: Info, input: RedeliverEventInput
    ) -> RedeliverEventPayload:
        async def work(session: AsyncSession) -> WebhookDelivery:
            pk = input_id(input.webhook_id, "Webhook", "input", "webhookId")
            return await domain.redeliver(session, pk, str(input.event_id))

        row, errors = await perform(info, work)
        return RedeliverEventPayload(delivery=row, errors=errors)
