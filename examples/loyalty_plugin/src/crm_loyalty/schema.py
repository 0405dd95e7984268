"""The plugin's GraphQL: fields on Customer, a mutation, a subscription and their types."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crm_graph.plugin import (
    Collector,
    CustomerRow,
    CustomerType,
    NewOrderLine,
    OrderRow,
    OrderType,
    Related,
    RequestContext,
    UserError,
    UserType,
    ValidationFailed,
    batch_field,
    find_duplicates,
    id_arg,
    input_id,
    load_related,
    perform,
    query_error,
    requires,
    table_field,
    to_global_id,
    user_of,
)
from crm_loyalty import accounts
from crm_loyalty.config import NAME, READ, WRITE, LoyaltySettings
from crm_loyalty.models import LoyaltyAccount, LoyaltyEntry

# A customer's account, if it has one: read once per level for every field that needs it.
ACCOUNT = Related(LoyaltyAccount, key="customer_id")
MAX_MATCHES = 20


def _settings(info: Info) -> LoyaltySettings:
    return info.context.app.plugin_settings(NAME)


def _tier(info: Info, points: int) -> accounts.Tier | None:
    return accounts.tier_for(points, _settings(info).tiers)


@strawberry.type(
    name="LoyaltyTier",
    description="A loyalty tier; thresholds come from CRM_PLUGIN_LOYALTY_TIERS.",
)
class LoyaltyTierType:
    name: str
    min_points: int
    points_to_next_tier: int | None = strawberry.field(
        description="Points still missing for the next tier; null at the top tier."
    )


@strawberry.type(name="LoyaltyAccount", description="A customer's loyalty points balance.")
class LoyaltyAccountType:
    points: int

    @strawberry.field
    async def customer(self, info: Info) -> CustomerType:
        row: LoyaltyAccount = self  # type: ignore[assignment]
        return await info.context.loaders.customer.load(row.customer_id)

    @strawberry.field
    def tier(self, info: Info) -> LoyaltyTierType | None:
        return _tier(info, self.points)  # type: ignore[return-value]


@strawberry.type(name="LoyaltyEntry", description="One award of points, with its reason.")
class LoyaltyEntryType:
    @strawberry.field
    def id(self) -> strawberry.ID:
        row: LoyaltyEntry = self  # type: ignore[assignment]
        return to_global_id("LoyaltyEntry", row.id)  # type: ignore[arg-type]

    points: int
    reason: str
    created_at: datetime
    awarded_by: UserType | None = table_field(
        user_of("awarded_by"),
        description="Who awarded the points (null for imported and demo awards).",
        metadata=requires("users:read"),
    )


async def loyalty_tiers(
    customers: list[CustomerRow], context: RequestContext
) -> list[accounts.Tier | None]:
    """The tier each customer's balance reaches (one call for all customers of a level)."""
    found = await load_related(context, ACCOUNT, [customer.id for customer in customers])
    tiers = context.app.plugin_settings(NAME).tiers
    return [accounts.tier_for(account.points if account else 0, tiers) for account in found]


@strawberry.type
class CustomerLoyalty:
    """Fields merged onto ``Customer`` (the root value is the core Customer row)."""

    loyalty_points: int = table_field(
        ACCOUNT,
        column="points",
        default=0,
        description="Loyalty points balance (0 before the first award).",
        metadata=requires(READ),
    )
    loyalty_tier: LoyaltyTierType | None = batch_field(
        loyalty_tiers,
        description="The tier the balance reaches; null below the lowest tier.",
        metadata=requires(READ),
    )


@strawberry.input
class AwardLoyaltyPointsInput:
    customer_id: strawberry.ID
    points: int
    reason: str


@strawberry.type
class AwardLoyaltyPointsPayload:
    account: LoyaltyAccountType | None
    entry: LoyaltyEntryType | None
    errors: list[UserError]


@strawberry.input
class LoyaltyRewardLineInput:
    product_id: strawberry.ID
    quantity: int = 1


@strawberry.input
class RedeemLoyaltyPointsInput:
    customer_id: strawberry.ID
    points: int
    lines: list[LoyaltyRewardLineInput] = strawberry.field(
        description="The reward products: a zero-priced order of them is placed (named `lines` "
        "like an order's, so the order's errors name these fields)."
    )


@strawberry.type
class RedeemLoyaltyPointsPayload:
    account: LoyaltyAccountType | None
    order: OrderType | None
    errors: list[UserError]


def _decoded(input: RedeemLoyaltyPointsInput, errors: Collector) -> tuple[int, list[NewOrderLine]]:
    """The customer's and the rewards' primary keys; a bad reward ID goes to ``errors`` (its
    line kept, so the order's other rules still check it)."""
    customer_id = input_id(input.customer_id, "Customer", "input", "customerId")
    rewards = []
    for index, reward in enumerate(input.lines):
        try:
            path = ("input", "lines", str(index), "productId")
            pk: int | None = input_id(reward.product_id, "Product", *path)
        except ValidationFailed as exc:
            errors.errors.extend(exc.errors)
            pk = None
        rewards.append(NewOrderLine(pk, reward.quantity))
    return customer_id, rewards


@strawberry.type
class LoyaltyMutations:
    @strawberry.mutation(
        description="Add points to a customer's balance; nothing on any error.",
        metadata=requires(WRITE),
    )
    async def award_loyalty_points(
        self, info: Info, input: AwardLoyaltyPointsInput
    ) -> AwardLoyaltyPointsPayload:
        settings = _settings(info)
        awarded_by = info.context.principal.user_id
        result, errors = await perform(
            info,
            lambda session: accounts.award(
                session, input.customer_id, input.points, input.reason, settings, awarded_by
            ),
        )
        if result is None:
            return AwardLoyaltyPointsPayload(account=None, entry=None, errors=errors)
        account, entry = result
        return AwardLoyaltyPointsPayload(account=account, entry=entry, errors=[])  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Spend points on rewards: a zero-priced order of them, the points deducted "
        "and an interaction logged, together or not at all.",
        metadata=requires(WRITE),
    )
    async def redeem_loyalty_points(
        self, info: Info, input: RedeemLoyaltyPointsInput
    ) -> RedeemLoyaltyPointsPayload:
        currency = info.context.app.settings.default_currency

        async def work(session: AsyncSession) -> tuple[LoyaltyAccount, OrderRow]:
            errors = Collector()
            customer_id, rewards = _decoded(input, errors)
            return await accounts.redeem(
                session, customer_id, input.points, rewards, currency, errors
            )

        result, errors = await perform(info, work)
        account, order = result if result else (None, None)
        return RedeemLoyaltyPointsPayload(account=account, order=order, errors=errors)  # type: ignore[arg-type]


@strawberry.type(name="LoyaltyMemberMatch", description="A customer the details may describe.")
class LoyaltyMemberMatchType:
    score: float = strawberry.field(description="From 0.5 (possible) to 1.0 (certain).")
    reasons: list[str] = strawberry.field(description="Why, masked as the caller may see it.")
    customer: CustomerType


@strawberry.type
class LoyaltyQueries:
    @strawberry.field(
        description="Customers the contact details given at the till may belong to, best first.",
        metadata=requires(READ),
    )
    async def find_loyalty_members(
        self,
        info: Info,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        first: int = 5,
    ) -> list[LoyaltyMemberMatchType]:
        if not 1 <= first <= MAX_MATCHES:
            raise query_error("INVALID_ARGUMENT", f"first must be 1 to {MAX_MATCHES}", "first")
        region = info.context.app.settings.default_phone_region
        async with info.context.app.read() as session:
            try:
                found = await find_duplicates(
                    session, name=name, email=email, phone=phone, region=region, limit=first, at=()
                )
            except ValidationFailed as exc:
                error = exc.errors[0]
                raise query_error(error.code, error.message, ".".join(error.field)) from exc
        return [
            LoyaltyMemberMatchType(
                score=c.score,
                reasons=[r.message for r in c.reasons],
                customer=c.customer,  # type: ignore[arg-type]
            )
            for c in found
        ]


@strawberry.type
class LoyaltySubscriptions:
    @strawberry.subscription(
        description="The customer's account now, then after every change of its points.",
        metadata=requires(READ),
    )
    async def loyalty_points_changed(
        self, info: Info, customer_id: strawberry.ID
    ) -> AsyncGenerator[LoyaltyAccountType, None]:
        pk = id_arg(customer_id, "Customer", "customerId")
        if not await accounts.customer_exists(info.context.app, pk):
            raise query_error("NOT_FOUND", "no such customer", "customerId")
        interval = _settings(info).poll_interval
        async for account in accounts.watch(info.context.app, pk, interval):
            yield account  # type: ignore[misc]
