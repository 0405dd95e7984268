"""The Interaction type (root value: the ``Interaction`` row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from crm_graph.auth.declare import personal_data, requires
from crm_graph.db import models
from crm_graph.ids import to_global_id
from crm_graph.schema.types.common import Node
from crm_graph.schema.types.customer import Customer
from crm_graph.schema.types.enums import InteractionChannel, InteractionDirection


@strawberry.type(description="A touch point with a customer: an e-mail, a call, a meeting...")
class Interaction(Node):
    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, models.Interaction)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return to_global_id("Interaction", self.id)  # type: ignore[arg-type]

    channel: InteractionChannel
    direction: InteractionDirection
    subject: str | None = strawberry.field(metadata=personal_data())
    body: str | None = strawberry.field(metadata=personal_data())
    occurred_at: datetime
    created_at: datetime

    @strawberry.field(metadata=requires("customers:read"))
    async def customer(self, info: Info) -> Customer:
        return await info.context.loaders.customer.load(self.customer_id)  # type: ignore[attr-defined]


@strawberry.input
class InteractionFilter:
    customer_id: strawberry.ID | None = None
    channels: list[InteractionChannel] | None = None
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None
