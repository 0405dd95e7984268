"""GraphQL of the security layer: the caller, API keys, the audit log, consent and GDPR.

Composed into the core schema by ``schema/build.py`` (Query and Mutation fields, and fields on
``Customer``). Every operation field declares its permission with ``metadata=requires(...)``.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from crm_graph.auth import keys
from crm_graph.auth.audit import audit_select
from crm_graph.auth.declare import AUTHENTICATED, requires
from crm_graph.auth.guard import principal_of, require
from crm_graph.auth.models import ApiKey, AuditEntry, CustomerConsent
from crm_graph.auth.personal import PII_PERMISSION
from crm_graph.auth.principal import Principal
from crm_graph.auth.users import user_of
from crm_graph.db import models
from crm_graph.db.paging import Ordering
from crm_graph.domain import api_keys, consent, customers, gdpr
from crm_graph.ids import to_global_id
from crm_graph.schema.context import RequestContext
from crm_graph.schema.lists import connection
from crm_graph.schema.mutations.base import perform
from crm_graph.schema.mutations.customers import CustomerPayload
from crm_graph.schema.plugin_fields import query_field, table_field
from crm_graph.schema.types.common import (
    Connection,
    UserError,
    id_arg,
    input_id,
    page_args,
    row_type,
)
from crm_graph.schema.users import UserType

NEWEST_FIRST = Ordering("audit.newest", (AuditEntry.occurred_at,), descending=True)


def _hash_key(info: Info) -> bytes:
    return info.context.app.settings.audit_hash_key.get_secret_value().encode()


@strawberry.type(description="Who is calling, and what they may do.")
class Viewer:
    id: str = strawberry.field(description="`key:<n>` for an API key, `user:<sub>` for a token.")
    name: str
    role: str
    user_id: str | None = strawberry.field(description="The owner id of records they create.")
    permissions: list[str] = strawberry.field(description="Granted permissions with scopes.")


@strawberry.type(name="ApiKey", description="An API key; its secret is never shown again.")
@row_type(ApiKey, "ApiKey")
class ApiKeyType:
    name: str
    prefix: str = strawberry.field(description="The first characters, to recognise the key.")
    role: str
    user_id: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = strawberry.field(description="Precise to about a minute.")
    revoked_at: datetime | None


@strawberry.type(name="AuditEntry", description="One committed mutation.")
@row_type(AuditEntry, "AuditEntry")
class AuditEntryType:
    occurred_at: datetime
    actor: str = strawberry.field(description="`key:<n>` or `user:<sub>`.")
    actor_name: str
    actor_role: str
    operation: str = strawberry.field(description="The mutation field, e.g. `updateCustomer`.")
    target_ids: list[strawberry.ID] = strawberry.field(
        description="Global IDs of the changed records and of the customers they belong to."
    )
    changes: JSON = strawberry.field(
        description="`[{type, id, action, fields: {column: {before, after}}}]`; personal data "
        "values are keyed hashes."
    )
    request_id: str | None


@strawberry.enum(description="A channel a customer can consent to be contacted on.")
class ConsentChannel(Enum):
    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    POST = "post"
    PUSH = "push"
    OTHER = "other"


@strawberry.type(name="Consent", description="Consent given or withdrawn; the newest counts.")
@row_type(CustomerConsent, "CustomerConsent")
class ConsentType:
    @strawberry.field
    def channel(self) -> ConsentChannel:
        return ConsentChannel(self.channel)

    granted: bool
    source: str | None
    recorded_at: datetime
    actor: str | None


@strawberry.input
class AuditLogFilter:
    actor: str | None = None
    operation: str | None = None
    target_id: strawberry.ID | None = strawberry.field(
        default=None, description="Entries about this record (or about this customer's records)."
    )
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None


@strawberry.type
class CustomerSecurityFields:
    """Fields merged onto ``Customer``: its owner, consent records and erasure."""

    @strawberry.field(description="The user id whose record this is (ownership scopes).")
    def owner_id(self) -> str | None:
        return self.owner_id  # type: ignore[attr-defined]

    owner: UserType | None = table_field(
        user_of("owner_id"),
        description="The user whose record this is (`ownerId`'s user).",
        metadata=requires("users:read"),
    )

    @strawberry.field(description="When GDPR erasure removed the personal data, if it did.")
    def erased_at(self) -> datetime | None:
        return self.erased_at  # type: ignore[attr-defined]

    @strawberry.field(description="Consent records, newest first.")
    async def consents(self, info: Info) -> list[ConsentType]:
        rows = await info.context.loaders.customer_consents.load(self.id)  # type: ignore[attr-defined]
        return sorted(rows, key=lambda r: (r.recorded_at, r.id), reverse=True)


async def viewer_of(context: RequestContext) -> Viewer:
    """The caller, as its credential says: no read."""
    principal = cast(Principal, context.principal)
    return Viewer(
        id=principal.id,
        name=principal.name,
        role=principal.role,
        user_id=principal.user_id,
        permissions=principal.permissions(context.app.auth.policy),
    )


@strawberry.type
class SecurityQueries:
    viewer: Viewer = query_field(
        viewer_of, description="The caller.", metadata=requires(AUTHENTICATED)
    )

    @strawberry.field(description="API keys, oldest first.", metadata=requires("keys:manage"))
    async def api_keys(self, info: Info, include_revoked: bool = False) -> list[ApiKeyType]:
        async with info.context.app.read() as session:
            return await keys.list_keys(session, include_revoked)  # type: ignore[return-value]

    @strawberry.field(
        description="Committed mutations, newest first.", metadata=requires("audit:read")
    )
    async def audit_log(
        self,
        info: Info,
        filter: AuditLogFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[AuditEntryType]:
        f = filter or AuditLogFilter()
        stmt = audit_select(
            actor=f.actor,
            operation=f.operation,
            target_id=str(f.target_id) if f.target_id else None,
            occurred_after=f.occurred_after,
            occurred_before=f.occurred_before,
        )
        return await connection(
            info, stmt, AuditEntry, NEWEST_FIRST, page_args(first, after, last, before)
        )

    @strawberry.field(
        description="Everything held about a customer, core and plugins (GDPR access). Needs "
        "`pii:read` too: the export is the personal data in clear.",
        metadata=requires("gdpr:export"),
    )
    async def export_customer_data(self, info: Info, id: strawberry.ID) -> JSON | None:
        require(info, PII_PERMISSION)  # masked, it would be no export at all
        pk = id_arg(id, "Customer")
        async with info.context.app.read() as session:
            return await gdpr.export_customer(session, info.context.app.plugins, pk)


@strawberry.input
class CreateApiKeyInput:
    name: str
    role: str
    user_id: str | None = strawberry.field(
        default=None, description="Owner id of the records it creates; defaults to the name."
    )
    expires_at: datetime | None = None
    replace: bool = strawberry.field(
        default=False, description="Revoke the active key of the same name first."
    )


@strawberry.type
class CreateApiKeyPayload:
    api_key: ApiKeyType | None
    key: str | None = strawberry.field(description="The secret: shown this once only.")
    errors: list[UserError]


@strawberry.input
class RevokeApiKeyInput:
    id: strawberry.ID


@strawberry.type
class ApiKeyPayload:
    api_key: ApiKeyType | None
    errors: list[UserError]


@strawberry.input
class AssignCustomerOwnerInput:
    id: strawberry.ID
    owner_id: str | None = strawberry.field(description="A user id; null leaves it unowned.")
    expected_version: int | None = None


@strawberry.input
class RecordConsentInput:
    customer_id: strawberry.ID
    channel: ConsentChannel
    granted: bool
    source: str | None = strawberry.field(
        default=None, description="Where the decision came from, e.g. `signup form`."
    )


@strawberry.type
class ConsentPayload:
    consent: ConsentType | None
    errors: list[UserError]


@strawberry.input
class EraseCustomerInput:
    id: strawberry.ID


@strawberry.type
class EraseCustomerPayload:
    erased_id: strawberry.ID | None
    errors: list[UserError]


@strawberry.type
class SecurityMutations:
    @strawberry.mutation(
        description="Create an API key; the payload shows its secret once.",
        metadata=requires("keys:manage"),
    )
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        policy = info.context.app.auth.policy
        roles = set(policy.roles)
        wanted = policy.grants(input.role)
        if wanted is not None and not principal_of(info).may_grant(wanted):
            refused = UserError(
                code="FORBIDDEN",
                message=f"a key of role {input.role!r} would hold permissions you do not have",
                field=["input", "role"],
            )
            return CreateApiKeyPayload(api_key=None, key=None, errors=[refused])
        result, errors = await perform(
            info,
            lambda s: api_keys.create_key(
                s,
                name=input.name,
                role=input.role,
                roles=roles,
                user_id=input.user_id,
                expires_at=input.expires_at,
                replace=input.replace,
            ),
        )
        key, secret = result if result else (None, None)
        return CreateApiKeyPayload(api_key=key, key=secret, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Revoke an API key: refused from its very next request.",
        metadata=requires("keys:manage"),
    )
    async def revoke_api_key(self, info: Info, input: RevokeApiKeyInput) -> ApiKeyPayload:
        async def work(session: AsyncSession) -> ApiKey:
            pk = input_id(input.id, "ApiKey", "input", "id")
            return await api_keys.revoke_key(session, pk)

        row, errors = await perform(info, work)
        return ApiKeyPayload(api_key=row, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Give a customer another owner.", metadata=requires("customers:assign")
    )
    async def assign_customer_owner(
        self, info: Info, input: AssignCustomerOwnerInput
    ) -> CustomerPayload:
        async def work(session: AsyncSession) -> models.Customer:
            pk = input_id(input.id, "Customer", "input", "id")
            return await customers.assign_owner(session, pk, input.owner_id, input.expected_version)

        row, errors = await perform(info, work)
        return CustomerPayload(customer=row, errors=errors)

    @strawberry.mutation(
        description="Record consent given or withdrawn on a channel.",
        metadata=requires("customers:write"),
    )
    async def record_consent(self, info: Info, input: RecordConsentInput) -> ConsentPayload:
        async def work(session: AsyncSession) -> CustomerConsent:
            pk = input_id(input.customer_id, "Customer", "input", "customerId")
            return await consent.record_consent(
                session, pk, input.channel.value, input.granted, input.source
            )

        row, errors = await perform(info, work)
        return ConsentPayload(consent=row, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="GDPR erasure: irreversibly anonymise a customer's personal data everywhere "
        "(core, plugins, stored events); orders stay, linked to the anonymised record.",
        metadata=requires("gdpr:erase"),
    )
    async def erase_customer(self, info: Info, input: EraseCustomerInput) -> EraseCustomerPayload:
        app = info.context.app

        async def work(session: AsyncSession) -> models.Customer:
            pk = input_id(input.id, "Customer", "input", "id")
            return await gdpr.erase_customer(session, app.plugins, pk, _hash_key(info))

        row, errors = await perform(info, work)
        if row is None:
            return EraseCustomerPayload(erased_id=None, errors=errors)
        await gdpr.compact(app.engine)
        return EraseCustomerPayload(erased_id=to_global_id("Customer", row.id), errors=[])  # type: ignore[arg-type]
