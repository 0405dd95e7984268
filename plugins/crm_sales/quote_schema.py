"""The GraphQL of quotes: the Quote type, Deal.quotes, and the mutations that create, send,
decline and accept them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from crm_graph.plugin import (
    MoneyType,
    Node,
    OrderRow,
    OrderType,
    ProductRow,
    ProductType,
    Related,
    RequestContext,
    UserError,
    ValidationFailed,
    batch_field,
    input_id,
    lookup_field,
    money,
    perform,
    personal_data,
    requires,
    table_field,
    to_global_id,
)
from crm_sales import deals, quotes
from crm_sales.config import DEALS_READ, QUOTES_READ, QUOTES_WRITE
from crm_sales.nodes import QUOTE
from crm_sales.scopes import EVERYTHING, sight
from crm_sales.tables import SalesQuote
from crm_sales.views import DealType


@strawberry.enum(name="QuoteStatus")
class QuoteStatus(Enum):
    DRAFT = "draft"
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"


@strawberry.type(name="QuoteLine")
class QuoteLineType:
    quantity: int
    unit_price: MoneyType
    discount_percent: Decimal
    tax_rate_percent: Decimal
    net: MoneyType = strawberry.field(description="Quantity x unit price less the discount.")
    tax: MoneyType
    product_id: strawberry.Private[int]
    product: ProductType | None = table_field(
        Related(ProductRow, key="id", parent_key="product_id"), metadata=requires("products:read")
    )


async def quote_lines(
    found: list[SalesQuote], context: RequestContext
) -> list[list[QuoteLineType]]:
    async with context.app.read() as session:
        rows = await quotes.lines_of(session, [q.id for q in found])  # type: ignore[misc]
    return [
        [
            QuoteLineType(
                quantity=row.quantity,
                unit_price=money(row.unit_price, q.currency),
                discount_percent=row.discount_percent.normalize(),
                tax_rate_percent=row.tax_rate_percent.normalize(),
                net=money(row.net, q.currency),
                tax=money(row.tax, q.currency),
                product_id=row.product_id,
            )
            for row in rows[q.id]  # type: ignore[index]
        ]
        for q in found
    ]


async def quote_deals(found: list[SalesQuote], context: RequestContext) -> list[DealType | None]:
    """Each quote's deal, for callers who may read deals (the quote is seen when its deal is
    within the quotes:read scope)."""
    async with context.app.read() as session:
        rows = await deals.visible_deals(session, sorted({q.deal_id for q in found}), EVERYTHING)
    by_id = {row.id: row for row in rows}
    return [by_id.get(q.deal_id) for q in found]  # type: ignore[misc]


@strawberry.type(name="Quote", description="Products priced for a deal, in its currency.")
class QuoteType(Node):
    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, SalesQuote)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Quote", self.id))  # type: ignore[attr-defined]

    @strawberry.field
    def status(self) -> QuoteStatus:
        return QuoteStatus(self.status)  # type: ignore[attr-defined]

    valid_until: date | None
    contact_name: str | None = strawberry.field(metadata=personal_data("text"))
    contact_email: str | None = strawberry.field(metadata=personal_data("email"))
    created_at: datetime
    version: int

    @strawberry.field(description="The lines' quantity x unit price.")
    def subtotal(self) -> MoneyType:
        return money(self.subtotal, self.currency)  # type: ignore[attr-defined]

    @strawberry.field
    def discount(self) -> MoneyType:
        return money(self.discount, self.currency)  # type: ignore[attr-defined]

    @strawberry.field
    def tax(self) -> MoneyType:
        return money(self.tax, self.currency)  # type: ignore[attr-defined]

    @strawberry.field(description="Subtotal - discount + tax.")
    def total(self) -> MoneyType:
        return money(self.total, self.currency)  # type: ignore[attr-defined]

    lines: list[QuoteLineType] = batch_field(quote_lines, metadata=requires(QUOTES_READ))
    deal: DealType | None = batch_field(
        quote_deals, parent_columns=("deal_id",), metadata=requires(DEALS_READ)
    )
    order: OrderType | None = table_field(
        Related(OrderRow, key="id", parent_key="order_id"),
        description="The order placed when the quote was accepted.",
        metadata=requires("orders:read"),
    )


@strawberry.input
class QuoteLineInput:
    product_id: strawberry.ID
    quantity: int = 1
    unit_price: Decimal | None = strawberry.field(
        default=None, description="The product's price when left out (same currency only)."
    )
    discount_percent: Decimal = Decimal(0)
    tax_rate_percent: Decimal = Decimal(0)


@strawberry.input
class CreateQuoteInput:
    deal_id: strawberry.ID
    lines: list[QuoteLineInput]
    valid_until: date | None = None
    contact_name: str | None = None
    contact_email: str | None = None


@strawberry.input
class UpdateQuoteInput:
    id: strawberry.ID
    expected_version: int | None = strawberry.field(
        default=None, description="The version you saw; a newer one is a CONFLICT."
    )
    lines: list[QuoteLineInput] | None = strawberry.field(
        default=None,
        description="Every line as it should be, in order (add, change or remove lines by "
        "listing them so); the totals are recomputed.",
    )
    valid_until: date | None = None
    contact_name: str | None = None
    contact_email: str | None = None


@strawberry.input
class QuoteActionInput:
    id: strawberry.ID
    expected_version: int | None = None


@strawberry.type
class QuotePayload:
    quote: QuoteType | None
    errors: list[UserError]


def _lines(lines: list[QuoteLineInput]) -> list[quotes.NewLine]:
    out, problems = [], []
    for index, line in enumerate(lines):
        try:
            pk: int | None = input_id(
                line.product_id, "Product", "input", "lines", str(index), "productId"
            )
        except ValidationFailed as exc:
            problems.extend(exc.errors)
            pk = None
        out.append(
            quotes.NewLine(
                pk, line.quantity, line.unit_price, line.discount_percent, line.tax_rate_percent
            )
        )
    if problems:
        raise ValidationFailed(problems)
    return out


async def _payload(info: Info, quote: SalesQuote | None, errors: list[UserError]) -> QuotePayload:
    if quote is None:
        return QuotePayload(quote=None, errors=errors)
    async with info.context.app.read() as session:
        return QuotePayload(quote=await session.get(SalesQuote, quote.id), errors=[])  # type: ignore[arg-type]


def _action(name: str, description: str) -> Any:
    async def resolve(self: Any, info: Info, input: QuoteActionInput) -> QuotePayload:
        seen, actor = sight(info.context.principal, QUOTES_WRITE), info.context.principal.user_id

        async def work(session):
            pk = input_id(input.id, "Quote", "input", "id")
            return await quotes.settle(session, pk, name, seen, actor, input.expected_version)

        return await _payload(info, *await perform(info, work))

    return strawberry.mutation(
        resolver=resolve, description=description, metadata=requires(QUOTES_WRITE)
    )


@strawberry.type
class QuoteQueries:
    quote: QuoteType | None = lookup_field(
        QUOTE, description="One quote, if its deal is within your scope."
    )


@strawberry.type
class QuoteMutations:
    @strawberry.mutation(
        description="A draft quote for a deal, priced in the deal's currency.",
        metadata=requires(QUOTES_WRITE),
    )
    async def create_quote(self, info: Info, input: CreateQuoteInput) -> QuotePayload:
        seen = sight(info.context.principal, QUOTES_WRITE)

        async def work(session):
            deal = input_id(input.deal_id, "Deal", "input", "dealId")
            return await quotes.create_quote(
                session,
                deal,
                _lines(input.lines),
                seen,
                valid_until=input.valid_until,
                contact_name=input.contact_name,
                contact_email=input.contact_email,
            )

        return await _payload(info, *await perform(info, work))

    @strawberry.mutation(
        description="Change a DRAFT quote: its lines (totals recomputed), validity or contact.",
        metadata=requires(QUOTES_WRITE),
    )
    async def update_quote(self, info: Info, input: UpdateQuoteInput) -> QuotePayload:
        seen = sight(info.context.principal, QUOTES_WRITE)

        async def work(session):
            pk = input_id(input.id, "Quote", "input", "id")
            changes = quotes.QuoteChanges(
                lines=None if input.lines is None else _lines(input.lines),
                valid_until=input.valid_until,
                contact_name=input.contact_name,
                contact_email=input.contact_email,
            )
            return await quotes.update_quote(session, pk, changes, seen, input.expected_version)

        return await _payload(info, *await perform(info, work))

    send_quote: QuotePayload = _action("send", "DRAFT to SENT; emits quote.sent.")
    decline_quote: QuotePayload = _action("decline", "SENT to DECLINED; emits quote.declined.")
    accept_quote: QuotePayload = _action(
        "accept",
        "SENT to ACCEPTED: places a core order for the lines (order.placed) and moves the deal "
        "to its pipeline's won stage, in one transaction; emits quote.accepted.",
    )
