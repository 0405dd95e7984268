"""Logging interactions."""

from __future__ import annotations

from datetime import datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crm_graph.auth.declare import requires
from crm_graph.db import models
from crm_graph.domain import interactions as domain
from crm_graph.schema.mutations.base import fields_of, perform
from crm_graph.schema.types.common import UserError, input_id
from crm_graph.schema.types.enums import InteractionChannel, InteractionDirection
from crm_graph.schema.types.interaction import Interaction


@strawberry.input
class LogInteractionInput:
    customer_id: strawberry.ID
    channel: InteractionChannel
    direction: InteractionDirection = InteractionDirection.INBOUND
    subject: str | None = None
    body: str | None = None
    occurred_at: datetime | None = None


@strawberry.type
class InteractionPayload:
    interaction: Interaction | None
    errors: list[UserError]


@strawberry.type
class InteractionMutations:
    @strawberry.mutation(metadata=requires("interactions:write"))
    async def log_interaction(self, info: Info, input: LogInteractionInput) -> InteractionPayload:
        fields = fields_of(input, ("channel", "direction", "subject", "body", "occurred_at"))

        async def work(session: AsyncSession) -> models.Interaction:
            pk = input_id(input.customer_id, "Customer", "input", "customerId")
            return await domain.log_interaction(session, pk, **fields)

        row, errors = await perform(info, work)
        return InteractionPayload(interaction=row, errors=errors)
