"""The Customer type. Its root value is the ``Customer`` row itself (no copying)."""

from __future__ import annotations

from datetime import date, datetime
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
    AddressKind,
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


@strawberry.type(
    description="A postal address. Without pii:read only its kind and country are shown: "
    "street lines come back empty and the other fields as ***."
)
class PostalAddress:
    """Its root value is the stored address, a dict (crm_graph.domain.addresses)."""

    @strawberry.field
    def kind(self) -> AddressKind:
        return self["kind"]  # type: ignore[index]

    @strawberry.field(description="Street lines, in order.")
    def lines(self) -> list[str]:
        return self.get("lines") or []  # type: ignore[attr-defined]

    @strawberry.field
    def city(self) -> str | None:
        return self.get("city")  # type: ignore[attr-defined]

    @strawberry.field(description="An ISO 3166-2 subdivision code (BY, NSW) when it names one.")
    def region(self) -> str | None:
        return self.get("region")  # type: ignore[attr-defined]

    @strawberry.field
    def postal_code(self) -> str | None:
        return self.get("postal_code")  # type: ignore[attr-defined]

    @strawberry.field(description="ISO 3166-1 alpha-2, e.g. DE.")
    def country(self) -> str:
        return self["country"]  # type: ignore[index]


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

    @strawberry.field(description="Postal addresses, in order.", metadata=personal_data("address"))
    def addresses(self) -> list[PostalAddress]:
        return self.addresses  # type: ignore[attr-defined]

    birth_date: date | None = strawberry.field(metadata=personal_data())
    preferred_language: str | None = strawberry.field(
        description="A BCP 47 language tag, e.g. de-AT."
    )
    time_zone: str | None = strawberry.field(
        description="An IANA time zone name, e.g. Europe/Vienna."
    )
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
    countries: list[str] | None = strawberry.field(
        default=None, description="Customers with an address in one of these countries."
    )
    preferred_languages: list[str] | None = strawberry.field(
        default=None,
        description="BCP 47 tags; a tag also finds its more specific ones (de finds de-AT).",
    )
    time_zones: list[str] | None = strawberry.field(default=None, description="IANA names.")
    born_after: date | None = strawberry.field(
        default=None, description="Birth date on or after this day (needs pii:read)."
    )
    born_before: date | None = strawberry.field(
        default=None, description="Birth date before this day (needs pii:read)."
    )
