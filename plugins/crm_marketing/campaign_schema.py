"""GraphQL of e-mail campaigns: ``EmailCampaign``, its statistics and send log, queries and
mutations. Sending needs ``campaigns:send`` only: addresses stay on the server, so a
marketer without ``pii:read`` sends to a segment without ever seeing one."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from crm_graph.plugin import (
    Collector,
    CustomerRow,
    CustomerType,
    MoneyType,
    Related,
    RequestContext,
    RowLookup,
    UserError,
    batch_field,
    input_id,
    lookup_field,
    money,
    perform,
    query_error,
    requires,
    rows_field,
    table_field,
)
from crm_marketing import campaigns, hygiene, ids, stats
from crm_marketing.segment_schema import AudienceSegmentType
from crm_marketing.settings import CAMPAIGNS_READ, CAMPAIGNS_SEND, CAMPAIGNS_WRITE, NAME
from crm_marketing.tables import MarketingCampaign, MarketingSegment

MAX_SENDS = 100


@strawberry.enum(name="EmailCampaignStatus")
class EmailCampaignStatus(Enum):
    DRAFT = campaigns.DRAFT
    SCHEDULED = campaigns.SCHEDULED
    SENDING = campaigns.SENDING
    SENT = campaigns.SENT
    CANCELLED = campaigns.CANCELLED


@strawberry.enum(name="EmailSendStatus", description="A recipient's message, or why none.")
class EmailSendStatus(Enum):
    QUEUED = campaigns.QUEUED
    SENT = "sent"
    FAILED = campaigns.FAILED
    IN_DOUBT = "in_doubt"
    SUPPRESSED = campaigns.SUPPRESSED
    BOUNCED = hygiene.BOUNCED


@strawberry.type(name="EmailCampaignReturn", description="A campaign's returns in one currency.")
class EmailCampaignReturnType:
    currency: str
    orders: int
    revenue: MoneyType
    roi: float | None


@strawberry.type(
    name="EmailCampaignStats",
    description="What became of a campaign's messages. `sent`: accepted by the mail server; "
    "`delivered`: sent and not reported bounced; "
    "`inDoubt`: the connection ended before the server's answer (never resent on its own); "
    "`suppressed`: members who got no message (no e-mail consent in force, on the "
    "suppression list, no address), counted by reason.",
)
class EmailCampaignStatsType:
    recipients: int
    queued: int
    sent: int
    delivered: int
    failed: int
    in_doubt: int
    bounced: int = strawberry.field(description="Sent, then reported bounced.")
    suppressed: int
    suppressed_no_consent: int
    suppressed_on_list: int
    suppressed_no_email: int
    unsubscribed: int
    opened: int = strawberry.field(description="Recipients who opened or clicked.")
    clicked: int = strawberry.field(description="Recipients who followed a link.")
    ordered: int = strawberry.field(description="Orders attributed to the campaign.")
    revenue: list[MoneyType] = strawberry.field(
        description="Attributed revenue (paid and fulfilled orders), one amount per currency."
    )
    cost: MoneyType
    roi: float | None = strawberry.field(
        description="(revenue - cost) / cost in the cost's currency; null on a zero cost."
    )
    returns: list[EmailCampaignReturnType] = strawberry.field(
        description="Orders, revenue and ROI per currency (ROI only in the cost's currency: "
        "no conversion is made)."
    )


@strawberry.type(name="EmailCampaignVariant", description="One arm of an A/B test.")
class EmailCampaignVariantType:
    name: str = strawberry.field(description="A (the campaign's own content) or B.")
    recipients: int = strawberry.field(description="Recipients sent this variant.")
    conversions: int = strawberry.field(description="Of them, those with an attributed order.")
    conversion_rate: float


@strawberry.type(
    name="EmailCampaignAbTest",
    description="Variant B against A by conversion: a two-proportion z-test (pooled), its "
    "two-sided p-value, and the winner when p < 0.05 (null: no significant difference yet).",
)
class EmailCampaignAbTestType:
    variants: list[EmailCampaignVariantType]
    z_score: float | None
    p_value: float | None
    winner: str | None


async def campaign_ab_tests(parents: list[Any], context: RequestContext) -> list[Any]:
    ids_ = [p.id for p in parents]
    window = timedelta(days=context.app.plugin_settings(NAME).attribution_days)
    async with context.app.read() as session:
        returns = await stats.attribution(ids_, session, window)
        verdicts = await stats.ab_tests(ids_, session, returns)
    found = []
    for parent in parents:
        verdict = verdicts[parent.id]
        found.append(
            None
            if verdict is None
            else EmailCampaignAbTestType(
                variants=[
                    EmailCampaignVariantType(
                        name=arm.name,
                        recipients=arm.recipients,
                        conversions=arm.conversions,
                        conversion_rate=arm.rate,
                    )
                    for arm in verdict.arms
                ],
                z_score=verdict.z,
                p_value=verdict.p_value,
                winner=verdict.winner,
            )
        )
    return found


@strawberry.type(name="EmailCampaignSend", description="One recipient of a campaign.")
class EmailCampaignSendType:
    customer: CustomerType | None = table_field(
        Related(CustomerRow, key="id", parent_key="customer_id"),
        description="The recipient (null once erased).",
    )

    @strawberry.field
    def status(self) -> EmailSendStatus:
        return EmailSendStatus(self.status)  # type: ignore[attr-defined]

    reason: str | None = strawberry.field(description="Why suppressed or failed.")
    variant: str | None = strawberry.field(description="A or B in an A/B test.")
    message_id: str | None = strawberry.field(
        description="The message's Message-ID (what a bounce report names)."
    )
    created_at: datetime
    delivered_at: datetime | None
    unsubscribed_at: datetime | None


async def campaign_stats(parents: list[Any], context: RequestContext) -> list[Any]:
    ids = [p.id for p in parents]
    window = timedelta(days=context.app.plugin_settings(NAME).attribution_days)
    async with context.app.read() as session:
        counts = await stats.delivery(ids, session)
        returns = await stats.attribution(ids, session, window)
    found = []
    for parent in parents:
        got = returns[parent.id]
        currencies = sorted(got.revenue)
        found.append(
            EmailCampaignStatsType(
                **counts[parent.id],
                ordered=got.ordered,
                revenue=[money(got.revenue[c], c) for c in currencies],
                cost=money(got.cost, got.currency),
                roi=got.roi(got.currency),
                returns=[
                    EmailCampaignReturnType(
                        currency=c,
                        orders=got.orders_by_currency[c],
                        revenue=money(got.revenue[c], c),
                        roi=got.roi(c),
                    )
                    for c in currencies
                ],
            )
        )
    return found


async def campaign_sends(
    parents: list[Any],
    context: RequestContext,
    first: int = 50,
    status: EmailSendStatus | None = None,
) -> list[Any]:
    """The first recipients of each campaign (by id), optionally of one status."""
    if not 1 <= first <= MAX_SENDS:
        raise query_error("INVALID_ARGUMENT", f"first must be 1 to {MAX_SENDS}", "first")
    wanted = status.value if status is not None else None
    async with context.app.read() as session:
        return [await campaigns.sends(session, p.id, first, wanted) for p in parents]


@strawberry.type(name="EmailCampaign", description="An e-mail campaign to one audience segment.")
class EmailCampaignType:
    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.campaign_id(self.id))  # type: ignore[attr-defined]

    name: str
    segment: AudienceSegmentType | None = table_field(
        Related(MarketingSegment, key="id", parent_key="segment_id")
    )
    subject: str = strawberry.field(description="A template, like the bodies.")
    sender: str
    reply_to: str | None
    text_template: str
    html_template: str | None

    @strawberry.field
    def status(self) -> EmailCampaignStatus:
        return EmailCampaignStatus(self.status)  # type: ignore[attr-defined]

    send_rate: float = strawberry.field(description="Throttle: messages per second.")

    @strawberry.field(description="What the campaign cost, for its ROI.")
    def cost(self) -> MoneyType:
        return money(Decimal(self.cost), self.currency)  # type: ignore[attr-defined]

    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    stats: EmailCampaignStatsType = batch_field(
        campaign_stats, metadata=requires(CAMPAIGNS_READ), description="Counts of the send log."
    )
    variant_subject: str | None
    variant_text_template: str | None
    variant_html_template: str | None
    variant_split: float = strawberry.field(description="The share of recipients sent variant B.")
    ab_test: EmailCampaignAbTestType | None = batch_field(
        campaign_ab_tests,
        metadata=requires(CAMPAIGNS_READ),
        description="The A/B test's verdict (null when the campaign tests no variant).",
    )
    sends: list[EmailCampaignSendType] = batch_field(
        campaign_sends,
        metadata=requires(CAMPAIGNS_READ),
        description="The send log: one row per member of the segment.",
    )


@strawberry.input
class CreateEmailCampaignInput:
    name: str
    segment_id: strawberry.ID
    subject: str
    sender: str
    text_template: str
    html_template: str | None = None
    reply_to: str | None = None
    send_rate: float | None = None
    cost: Decimal | None = None
    currency: str | None = None
    variant_subject: str | None = None
    variant_text_template: str | None = None
    variant_html_template: str | None = None
    variant_split: float | None = strawberry.field(
        default=None, description="The share of recipients (0 to 0.9) sent variant B."
    )


@strawberry.input
class UpdateEmailCampaignInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    segment_id: strawberry.ID | None = strawberry.UNSET
    subject: str | None = strawberry.UNSET
    sender: str | None = strawberry.UNSET
    text_template: str | None = strawberry.UNSET
    html_template: str | None = strawberry.UNSET
    reply_to: str | None = strawberry.UNSET
    send_rate: float | None = strawberry.UNSET
    cost: Decimal | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    variant_subject: str | None = strawberry.UNSET
    variant_text_template: str | None = strawberry.UNSET
    variant_html_template: str | None = strawberry.UNSET
    variant_split: float | None = strawberry.UNSET


@strawberry.input
class SendEmailCampaignInput:
    id: strawberry.ID
    send_at: datetime | None = strawberry.field(default=None, description="Default: now.")


@strawberry.input
class EmailCampaignIdInput:
    id: strawberry.ID


@strawberry.type
class EmailCampaignPayload:
    campaign: EmailCampaignType | None
    errors: list[UserError]


FIELDS = (
    "name",
    "segment_id",
    "subject",
    "sender",
    "text_template",
    "html_template",
    "reply_to",
    "send_rate",
    "cost",
    "currency",
    "variant_subject",
    "variant_text_template",
    "variant_html_template",
    "variant_split",
)
REQUIRED = ("name", "segment_id", "subject", "sender", "text_template")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _fields(input: Any) -> dict[str, Any]:
    """The input's given values by column name; a required one given as null is an error."""
    given = {
        key: getattr(input, key) for key in FIELDS if getattr(input, key) is not strawberry.UNSET
    }
    errors = Collector()
    for key in REQUIRED:
        if key in given and given[key] is None:
            errors.add("REQUIRED", f"{_camel(key)} cannot be null", "input", _camel(key))
    errors.check()
    for key in ("send_rate", "cost", "currency", "variant_split"):  # null: as left out
        if key in given and given[key] is None:
            del given[key]
    if given.get("segment_id") is not None:
        given["segment_id"] = input_id(given["segment_id"], "AudienceSegment", "input", "segmentId")
    return given


def _pk(value: str) -> int:
    return input_id(value, "EmailCampaign", "input", "id")


async def _save(info: Info, campaign_id: str | None, input: Any) -> EmailCampaignPayload:
    app = info.context.app

    async def work(session: Any) -> MarketingCampaign:
        pk = _pk(campaign_id) if campaign_id is not None else None
        settings = app.plugin_settings(NAME)
        currency = app.settings.default_currency
        return await campaigns.save(session, settings, currency, pk, _fields(input))

    campaign, errors = await perform(info, work)
    return EmailCampaignPayload(campaign=campaign, errors=errors)  # type: ignore[arg-type]


@strawberry.type
class CampaignQueries:
    email_campaigns: list[EmailCampaignType] = rows_field(
        MarketingCampaign,
        campaigns.every,
        ("-id",),
        permission=CAMPAIGNS_READ,
        description="E-mail campaigns, newest first.",
    )
    email_campaign: EmailCampaignType | None = lookup_field(
        RowLookup(MarketingCampaign, CAMPAIGNS_READ), description="One e-mail campaign."
    )


@strawberry.type
class CampaignMutations:
    @strawberry.mutation(
        description="A draft campaign; its templates are checked (a mistake names its line).",
        metadata=requires(CAMPAIGNS_WRITE),
    )
    async def create_email_campaign(
        self, info: Info, input: CreateEmailCampaignInput
    ) -> EmailCampaignPayload:
        return await _save(info, None, input)

    @strawberry.mutation(description="Change a draft campaign.", metadata=requires(CAMPAIGNS_WRITE))
    async def update_email_campaign(
        self, info: Info, input: UpdateEmailCampaignInput
    ) -> EmailCampaignPayload:
        return await _save(info, input.id, input)

    @strawberry.mutation(
        description="Send a draft to its segment now or at `sendAt`: to every member with e-mail "
        "consent in force, throttled; the others are counted as suppressed.",
        metadata=requires(CAMPAIGNS_SEND),
    )
    async def send_email_campaign(
        self, info: Info, input: SendEmailCampaignInput
    ) -> EmailCampaignPayload:
        campaign, errors = await perform(
            info, lambda session: campaigns.schedule(session, _pk(input.id), input.send_at)
        )
        return EmailCampaignPayload(campaign=campaign, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Cancel a scheduled campaign.", metadata=requires(CAMPAIGNS_SEND)
    )
    async def cancel_email_campaign(
        self, info: Info, input: EmailCampaignIdInput
    ) -> EmailCampaignPayload:
        campaign, errors = await perform(
            info, lambda session: campaigns.cancel(session, _pk(input.id))
        )
        return EmailCampaignPayload(campaign=campaign, errors=errors)  # type: ignore[arg-type]


@strawberry.input
class ReportEmailBounceInput:
    message_id: str = strawberry.field(description="The bounced message's Message-ID.")
    permanent: bool = strawberry.field(description="A hard bounce: the address is suppressed.")


@strawberry.type
class EmailCampaignSendPayload:
    send: EmailCampaignSendType | None
    errors: list[UserError]


@strawberry.input
class RequestEmailOptInInput:
    customer_id: strawberry.ID
    sender: str


@strawberry.type
class RequestEmailOptInPayload:
    customer: CustomerType | None
    errors: list[UserError]


@strawberry.type
class HygieneMutations:
    @strawberry.mutation(
        description="Report a bounce of a campaign message (from a DSN or a mail system's "
        "webhook); a permanent one suppresses the address.",
        metadata=requires(CAMPAIGNS_WRITE),
    )
    async def report_email_bounce(
        self, info: Info, input: ReportEmailBounceInput
    ) -> EmailCampaignSendPayload:
        app = info.context.app
        send, errors = await perform(
            info,
            lambda session: hygiene.report_bounce(session, app, input.message_id, input.permanent),
        )
        return EmailCampaignSendPayload(send=send, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="E-mail the customer a link confirming their subscription (double opt-in).",
        metadata=requires(CAMPAIGNS_WRITE),
    )
    async def request_email_opt_in(
        self, info: Info, input: RequestEmailOptInInput
    ) -> RequestEmailOptInPayload:
        app = info.context.app

        async def work(session: Any) -> Any:
            errors = Collector()
            sender = campaigns.check_address(input.sender, errors, "input", "sender")
            customer_id = input_id(input.customer_id, "Customer", "input", "customerId")
            errors.check()
            return await hygiene.request_opt_in(session, app, customer_id, sender)  # type: ignore[arg-type]

        customer, errors = await perform(info, work)
        return RequestEmailOptInPayload(customer=customer, errors=errors)  # type: ignore[arg-type]
