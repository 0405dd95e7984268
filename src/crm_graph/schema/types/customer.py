"""The Customer type. Its root value is the ``Customer`` row itself (no copying)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from crm_graph.auth.declare import personal_data, requires
from crm_graph.db import models
from crm_graph.ids import to_global_id
from crm_graph.schema.lists import child_connection
from crm_graph.schema.types.common import Connection, Node, page_args
from crm_graph.schema.types.enums import (
    InteractionOrderBy,
    LifecycleStage,
    OrderOrderBy,
    ordering,
)

if TYPE_CHECKING:
    from crm_graph.schema.types.interaction import Interaction
    from crm_graph.schema.types.order import Order

OrderRef = Annotated["Order", strawberry.lazy("crm_graph.schema.types.order")]
InteractionRef = Annotated["Interaction", strawberry.lazy("crm_graph.schema.types.interaction")]


@strawberry.type(description="A person or organisation the business deals with.")
class Customer(Node):
    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, models.Customer)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return to_global_id("Customer", self.id)  # type: ignore[arg-type]

    external_id: str | None
    name: str
    email: str | None = strawberry.field(metadata=personal_data("email"))
    phone: str | None = strawberry.field(
        description="E.164, e.g. +14155550123.", metadata=personal_data("phone")
    )
    company: str | None
    lifecycle_stage: LifecycleStage
    tags: list[str]
    attributes: JSON = strawberry.field(description="Custom attributes: a JSON object.")
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int = strawberry.field(
        description="Pass as expectedVersion to detect conflicting edits."
    )

    @strawberry.field(
        description="The customer's orders, newest first unless orderBy says otherwise.",
        metadata=requires("orders:read"),
    )
    async def orders(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: OrderOrderBy | None = None,
    ) -> Connection[OrderRef]:
        loaders = info.context.loaders
        return await child_connection(
            info,
            self.id,  # type: ignore[arg-type]
            loaders.customer_orders,
            loaders.customer_order_count,
            models.Order,
            ordering(models.Order, order_by or OrderOrderBy()),
            page_args(first, after, last, before),
        )

    @strawberry.field(
        description="The customer's interactions, newest first by default.",
        metadata=requires("interactions:read"),
    )
    async def interactions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: InteractionOrderBy | None = None,
    ) -> Connection[InteractionRef]:
        loaders = info.context.loaders
        return await child_connection(
            info,
            self.id,  # type: ignore[arg-type]
            loaders.customer_interactions,
            loaders.customer_interaction_count,
            models.Interaction,
            ordering(models.Interaction, order_by or InteractionOrderBy()),
            page_args(first, after, last, before),
        )


@strawberry.input
class CustomerFilter:
    search: str | None = strawberry.field(
        default=None, description="Text in name, e-mail or phone."
    )
    lifecycle_stages: list[LifecycleStage] | None = None
    tags: list[str] | None = strawberry.field(
        default=None, description="Customers having all these tags."
    )
    created_after: datetime | None = None
    created_before: datetime | None = None
    include_deleted: bool = False
