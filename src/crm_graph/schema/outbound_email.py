"""Outbound e-mail over GraphQL, for admins: the queue by status and tag, and settling a
message in doubt (resend it or record what became of it)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crm_graph.auth.declare import personal_data, requires
from crm_graph.db.paging import Ordering
from crm_graph.domain import outbound_email as domain
from crm_graph.mail.models import OutboundEmail
from crm_graph.schema.lists import connection
from crm_graph.schema.mutations.base import perform
from crm_graph.schema.types.common import Connection, UserError, input_id, page_args, row_type

MANAGE = requires("emails:manage")
NEWEST_FIRST = Ordering("outbound_email.id.desc", (), descending=True)


@strawberry.enum
class OutboundEmailStatus(Enum):
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"


@strawberry.enum
class OutboundEmailSettlement(Enum):
    RESEND = "resend"
    SENT = "sent"
    FAILED = "failed"


@strawberry.type(
    name="OutboundEmail",
    description="A queued e-mail and its delivery. IN_DOUBT: the connection ended after the "
    "message was sent and before the server's reply; it is not resent unless an admin says so.",
)
@row_type(OutboundEmail, "OutboundEmail")
class OutboundEmailType:
    message_id: str = strawberry.field(description="The `Message-ID` header, fixed when queued.")
    sender: str
    to: list[str] = strawberry.field(
        metadata=personal_data("email"), resolver=lambda root: root.recipients
    )
    subject: str = strawberry.field(metadata=personal_data())
    owner: str = strawberry.field(description="Who queued it: `core` or a plugin's name.")
    tag: str | None = strawberry.field(description="The owner's reference, e.g. a campaign.")
    status: OutboundEmailStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime


@strawberry.input
class SettleOutboundEmailInput:
    id: strawberry.ID
    action: OutboundEmailSettlement = strawberry.field(
        description="RESEND queues it again with the same Message-ID; SENT or FAILED records "
        "what became of it."
    )


@strawberry.type
class OutboundEmailPayload:
    email: OutboundEmailType | None
    errors: list[UserError]


@strawberry.type
class OutboundEmailQueries:
    @strawberry.field(metadata=MANAGE, description="Outbound e-mail, newest first.")
    async def outbound_emails(
        self,
        info: Info,
        status: OutboundEmailStatus | None = None,
        tag: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[OutboundEmailType]:
        stmt = domain.emails_select(status.value if status else None, tag)
        return await connection(
            info, stmt, OutboundEmail, NEWEST_FIRST, page_args(first, after, None, None)
        )


@strawberry.type
class OutboundEmailMutations:
    @strawberry.mutation(
        metadata=MANAGE,
        description="Resend, or mark, an e-mail in doubt, failed or waiting (not one being "
        "sent or sent).",
    )
    async def settle_outbound_email(
        self, info: Info, input: SettleOutboundEmailInput
    ) -> OutboundEmailPayload:
        async def work(session: AsyncSession) -> OutboundEmail:
            pk = input_id(input.id, "OutboundEmail", "input", "id")
            return await domain.settle(session, pk, input.action.value)

        row, errors = await perform(info, work)
        return OutboundEmailPayload(email=row, errors=errors)
