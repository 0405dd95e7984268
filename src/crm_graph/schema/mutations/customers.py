"""Customer mutations: create, update, upsert by external id, delete (soft) and restore."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from crm_graph.auth.declare import requires
from crm_graph.db import models
from crm_graph.domain import customers as domain
from crm_graph.schema.mutations.base import fields_of, perform
from crm_graph.schema.types.common import UserError, input_id
from crm_graph.schema.types.customer import Customer
from crm_graph.schema.types.enums import AddressKind, LifecycleStage


@strawberry.input(description="A postal address; the country may be a code or a name.")
class AddressInput:
    kind: AddressKind = AddressKind.OTHER
    lines: list[str] = strawberry.field(default_factory=list, description="Street lines.")
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str


@strawberry.input(description="Customer fields a client may send; left out = unchanged.")
class CustomerFieldsInput:
    email: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    company: str | None = strawberry.UNSET
    lifecycle_stage: LifecycleStage | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    attributes: JSON | None = strawberry.UNSET
    addresses: list[AddressInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces every address; null or [] clears them."
    )
    birth_date: date | None = strawberry.field(
        default=strawberry.UNSET, description="Not in the future, not before 1900."
    )
    preferred_language: str | None = strawberry.field(
        default=strawberry.UNSET, description="A BCP 47 language tag (en-GB, pt_br, zh-Hant)."
    )
    time_zone: str | None = strawberry.field(
        default=strawberry.UNSET, description="An IANA time zone name (Europe/Berlin)."
    )


def customer_fields(data: CustomerFieldsInput) -> dict[str, Any]:
    """The customer fields the client sent, as the domain takes them (addresses as dicts)."""
    fields = fields_of(data, domain.FIELDS)
    if fields.get("addresses") is not None:
        fields["addresses"] = [
            {**vars(address), "kind": address.kind.value} for address in fields["addresses"]
        ]
    return fields


@strawberry.input
class CreateCustomerInput(CustomerFieldsInput):
    name: str
    external_id: str | None = strawberry.UNSET


@strawberry.input
class UpdateCustomerInput(CustomerFieldsInput):
    id: strawberry.ID
    expected_version: int | None = None
    name: str | None = strawberry.UNSET
    external_id: str | None = strawberry.UNSET


@strawberry.input
class UpsertCustomerInput(CustomerFieldsInput):
    external_id: str
    name: str | None = strawberry.UNSET


@strawberry.input
class DeleteCustomerInput:
    id: strawberry.ID
    expected_version: int | None = None


@strawberry.input
class RestoreCustomerInput:
    id: strawberry.ID


@strawberry.type
class CustomerPayload:
    customer: Customer | None
    errors: list[UserError]


@strawberry.type
class UpsertCustomerPayload:
    customer: Customer | None
    created: bool
    errors: list[UserError]


@strawberry.type
class CustomerMutations:
    @strawberry.mutation(metadata=requires("customers:write"))
    async def create_customer(self, info: Info, input: CreateCustomerInput) -> CustomerPayload:
        region = info.context.app.settings.default_phone_region
        fields = customer_fields(input)
        row, errors = await perform(info, lambda s: domain.create_customer(s, fields, region))
        return CustomerPayload(customer=row, errors=errors)

    @strawberry.mutation(metadata=requires("customers:write"))
    async def update_customer(self, info: Info, input: UpdateCustomerInput) -> CustomerPayload:
        region = info.context.app.settings.default_phone_region
        changes = customer_fields(input)

        async def work(session: AsyncSession) -> models.Customer:
            pk = input_id(input.id, "Customer", "input", "id")
            row, _changed = await domain.update_customer(
                session, pk, changes, region, input.expected_version
            )
            return row

        row, errors = await perform(info, work)
        return CustomerPayload(customer=row, errors=errors)

    @strawberry.mutation(metadata=requires("customers:write"))
    async def upsert_customer(
        self, info: Info, input: UpsertCustomerInput
    ) -> UpsertCustomerPayload:
        region = info.context.app.settings.default_phone_region
        fields = {**customer_fields(input), "external_id": input.external_id}
        result, errors = await perform(info, lambda s: domain.upsert_customer(s, fields, region))
        row, created = (result[0], result[1]) if result else (None, False)
        return UpsertCustomerPayload(customer=row, created=created, errors=errors)

    @strawberry.mutation(
        description="Soft delete: hidden from lists until restored.",
        metadata=requires("customers:write"),
    )
    async def delete_customer(self, info: Info, input: DeleteCustomerInput) -> CustomerPayload:
        async def work(session: AsyncSession) -> models.Customer:
            pk = input_id(input.id, "Customer", "input", "id")
            return await domain.delete_customer(session, pk, input.expected_version)

        row, errors = await perform(info, work)
        return CustomerPayload(customer=row, errors=errors)

    @strawberry.mutation(metadata=requires("customers:write"))
    async def restore_customer(self, info: Info, input: RestoreCustomerInput) -> CustomerPayload:
        async def work(session: AsyncSession) -> models.Customer:
            return await domain.restore_customer(
                session, input_id(input.id, "Customer", "input", "id")
            )

        row, errors = await perform(info, work)
        return CustomerPayload(customer=row, errors=errors)
