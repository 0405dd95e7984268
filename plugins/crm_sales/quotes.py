"""Quotes: products priced for a deal in the deal's currency, with discounts and taxes, sent
to a contact, and accepted, declined or expired. Accepting places a core order for the lines
(``place_order``, so ``order.placed`` is emitted) and wins the deal, in one transaction.

Totals (each rounded to the currency's minor unit): a line's net is quantity x unit price x
(1 - discount %), its tax net x tax rate %; the quote's subtotal is the lines' gross (quantity
x unit price), discount the difference to the nets, tax the lines' taxes, total nets + taxes.
The order carries the net unit prices, rounded to the currency's minor unit (core orders
have no taxes): its total is the quote's total before tax, to that rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from babel.numbers import get_currency_precision
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    Collector,
    NewOrderLine,
    ProductRow,
    check_version,
    clean_text,
    emit,
    fail,
    normalise_amount,
    normalise_email,
    place_order,
    to_global_id,
    utcnow,
)
from crm_sales import deals, pipelines
from crm_sales.scopes import Sight
from crm_sales.tables import WON, SalesDeal, SalesQuote, SalesQuoteLine

QUOTE = "Quote"
DRAFT, SENT, ACCEPTED, DECLINED, EXPIRED = "draft", "sent", "accepted", "declined", "expired"
MAX_LINES = 100
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class NewLine:
    product_id: int | None
    quantity: int
    unit_price: Decimal | None = None  # the product's price when left out
    discount_percent: Decimal = Decimal(0)
    tax_rate_percent: Decimal = Decimal(0)


def _round(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-get_currency_precision(currency)), ROUND_HALF_EVEN)


def _percent(value: Decimal, errors: Collector, *path: str) -> Decimal:
    if not value.is_finite() or not 0 <= value <= HUNDRED:
        errors.add("INVALID_VALUE", "a percentage from 0 to 100", *path)
        return Decimal(0)
    return value


async def _priced(
    session: AsyncSession,
    deal: SalesDeal,
    lines: list[NewLine],
    errors: Collector,
    at: tuple[str, ...],
) -> list[SalesQuoteLine]:
    """The lines priced in the deal's currency: a product priced in another currency needs
    its unit price given (``CURRENCY_MISMATCH``); every problem goes to ``errors``."""
    if not 1 <= len(lines) <= MAX_LINES:
        errors.add("INVALID_VALUE", f"1 to {MAX_LINES} lines", *at, "lines")
    ids = {line.product_id for line in lines if line.product_id is not None}
    products = {
        p.id: p for p in await session.scalars(select(ProductRow).where(ProductRow.id.in_(ids)))
    }
    rows = []
    for index, line in enumerate(lines):
        path = (*at, "lines", str(index))
        product = products.get(line.product_id)
        if product is None:
            errors.add("NOT_FOUND", "no such product", *path, "productId")
            continue
        if not 0 < line.quantity <= 1_000_000:
            errors.add("INVALID_QUANTITY", "a quantity from 1 to 1000000", *path, "quantity")
        price = line.unit_price
        if price is None:
            if product.currency != deal.currency:
                errors.add(
                    "CURRENCY_MISMATCH",
                    f"the product is priced in {product.currency}, the deal in {deal.currency}: "
                    "give the unit price",
                    *path,
                    "unitPrice",
                )
                continue
            price = product.price
        price = normalise_amount(price, deal.currency, errors, *path, "unitPrice")
        discount = _percent(line.discount_percent, errors, *path, "discountPercent")
        rate = _percent(line.tax_rate_percent, errors, *path, "taxRatePercent")
        if price is None:
            continue
        gross = price * line.quantity
        net = _round(gross * (HUNDRED - discount) / HUNDRED, deal.currency)
        tax = _round(net * rate / HUNDRED, deal.currency)
        rows.append(
            SalesQuoteLine(
                position=index,
                product_id=product.id,
                quantity=line.quantity,
                unit_price=price,
                discount_percent=discount,
                tax_rate_percent=rate,
                net=net,
                tax=tax,
            )
        )
    return rows


async def _set_lines(session: AsyncSession, quote: SalesQuote, rows: list[SalesQuoteLine]) -> None:
    """``rows`` become the quote's lines and its totals their sums."""
    subtotal = _round(sum((r.unit_price * r.quantity for r in rows), Decimal(0)), quote.currency)
    nets = sum((r.net for r in rows), Decimal(0))
    taxes = sum((r.tax for r in rows), Decimal(0))
    quote.subtotal, quote.discount = subtotal, subtotal - nets
    quote.tax, quote.total = taxes, nets + taxes
    await session.flush()
    await session.execute(delete(SalesQuoteLine).where(SalesQuoteLine.quote_id == quote.id))
    for row in rows:
        row.quote_id = quote.id
        session.add(row)
    await session.flush()


async def create_quote(
    session: AsyncSession,
    deal_id: int,
    lines: list[NewLine],
    sight: Sight,
    *,
    valid_until: date | None,
    contact_name: str | None,
    contact_email: str | None,
    at: tuple[str, ...] = ("input",),
) -> SalesQuote:
    """A draft quote for a deal the caller sees, priced in the deal's currency."""
    deal = await sight.find(session, SalesDeal, deal_id, "deal", *at, "dealId")
    errors = Collector()
    name = clean_text(contact_name, errors, *at, "contactName", max_length=300)
    email = normalise_email(contact_email, errors, *at, "contactEmail")
    rows = await _priced(session, deal, lines, errors, at)
    errors.check()
    zero = Decimal(0)
    quote = SalesQuote(
        deal_id=deal.id,
        currency=deal.currency,
        valid_until=valid_until,
        contact_name=name,
        contact_email=email,
        subtotal=zero,
        discount=zero,
        tax=zero,
        total=zero,
    )
    session.add(quote)
    await _set_lines(session, quote, rows)
    return quote


@dataclass(frozen=True)
class QuoteChanges:
    """What an edit of a draft sets (``None``: unchanged; ``lines``: all of them, in order)."""

    lines: list[NewLine] | None = None
    valid_until: date | None = None
    contact_name: str | None = None
    contact_email: str | None = None


async def update_quote(
    session: AsyncSession,
    quote_id: int,
    changes: QuoteChanges,
    sight: Sight,
    expected_version: int | None = None,
    at: tuple[str, ...] = ("input",),
) -> SalesQuote:
    """Edit a draft: its lines (replaced by ``changes.lines``: lines are added, changed and
    removed by listing them as they should be; totals recomputed), validity or contact;
    emits ``quote.updated``. A quote once sent is what the customer saw: it changes no more
    (``INVALID_TRANSITION``)."""
    quote, deal = await visible_quote(session, quote_id, sight, *at, "id")
    check_version(quote, expected_version)
    if quote.status != DRAFT:
        raise fail("INVALID_TRANSITION", f"a {quote.status} quote cannot change", *at, "id")
    errors = Collector()
    if changes.contact_name is not None:
        quote.contact_name = clean_text(
            changes.contact_name, errors, *at, "contactName", max_length=300
        )
    if changes.contact_email is not None:
        quote.contact_email = normalise_email(changes.contact_email, errors, *at, "contactEmail")
    if changes.valid_until is not None:
        quote.valid_until = changes.valid_until
    rows = None
    if changes.lines is not None:
        rows = await _priced(session, deal, changes.lines, errors, at)
    errors.check()
    if rows is not None:
        await _set_lines(session, quote, rows)
    quote.version += 1
    quote.updated_at = utcnow()
    await session.flush()
    payload = {
        "dealId": to_global_id("Deal", deal.id),  # type: ignore[arg-type]
        "status": quote.status.upper(),
        "total": {"amount": str(quote.total), "currency": quote.currency},
        "lines": len((await lines_of(session, [quote.id]))[quote.id]),  # type: ignore[list-item,index]
        "version": quote.version,
    }
    await emit(session, "quote.updated", QUOTE, quote.id, payload)
    return quote


async def visible_quote(
    session: AsyncSession, quote_id: int, sight: Sight, *path: str
) -> tuple[SalesQuote, SalesDeal]:
    found = (
        await session.execute(
            select(SalesQuote, SalesDeal)
            .join(SalesDeal, SalesDeal.id == SalesQuote.deal_id)
            .where(SalesQuote.id == quote_id, sight.where(SalesDeal.owner_id))
        )
    ).first()
    if found is None:
        raise fail("NOT_FOUND", "no such quote", *path)
    return found[0], found[1]


async def lines_of(session: AsyncSession, quote_ids: list[int]) -> dict[int, list[SalesQuoteLine]]:
    """Each quote's lines in order (one statement)."""
    found: dict[int, list[SalesQuoteLine]] = {pk: [] for pk in quote_ids}
    if quote_ids:
        for line in await session.scalars(
            select(SalesQuoteLine)
            .where(SalesQuoteLine.quote_id.in_(quote_ids))
            .order_by(SalesQuoteLine.quote_id, SalesQuoteLine.position)
        ):
            found[line.quote_id].append(line)
    return found


async def quotes_of(session: AsyncSession, deal_ids: list[int]) -> dict[int, list[SalesQuote]]:
    """Each deal's quotes, oldest first (one statement)."""
    found: dict[int, list[SalesQuote]] = {pk: [] for pk in deal_ids}
    if deal_ids:
        for quote in await session.scalars(
            select(SalesQuote).where(SalesQuote.deal_id.in_(deal_ids)).order_by(SalesQuote.id)
        ):
            found[quote.deal_id].append(quote)
    return found


# Which status each action leads to, and from which.
ACTIONS = {"send": ({DRAFT}, SENT), "decline": ({SENT}, DECLINED), "accept": ({SENT}, ACCEPTED)}


def expired(quote: SalesQuote, today: date) -> bool:
    return quote.valid_until is not None and quote.valid_until < today


async def settle(
    session: AsyncSession,
    quote_id: int,
    action: str,
    sight: Sight,
    actor: str | None,
    expected_version: int | None = None,
    at: tuple[str, ...] = ("input",),
) -> SalesQuote:
    """Send, decline or accept a quote. Accepting places the order and wins the deal; a quote
    past its validity cannot be sent or accepted (it expires)."""
    quote, deal = await visible_quote(session, quote_id, sight, *at, "id")
    check_version(quote, expected_version)
    allowed, target = ACTIONS[action]
    if quote.status not in allowed:
        raise fail("INVALID_TRANSITION", f"a {quote.status} quote cannot be {target}", *at, "id")
    if target in (SENT, ACCEPTED) and expired(quote, utcnow().date()):
        raise fail("QUOTE_EXPIRED", f"the quote was valid until {quote.valid_until}", *at, "id")
    if target == ACCEPTED:
        await _accept(session, quote, deal, sight, actor, at)
    quote.status = target
    quote.version += 1
    quote.updated_at = utcnow()
    await session.flush()
    payload = {
        "dealId": to_global_id("Deal", deal.id),  # type: ignore[arg-type]
        "status": target.upper(),
        "total": {"amount": str(quote.total), "currency": quote.currency},
        "orderId": to_global_id("Order", quote.order_id) if quote.order_id else None,
    }
    await emit(session, f"quote.{target}", QUOTE, quote.id, payload)
    return quote


async def _accept(
    session: AsyncSession,
    quote: SalesQuote,
    deal: SalesDeal,
    sight: Sight,
    actor: str | None,
    at: tuple[str, ...],
) -> None:
    lines = (await lines_of(session, [quote.id]))[quote.id]  # type: ignore[list-item,index]
    order, _lines = await place_order(
        session,
        deal.customer_id,
        [NewOrderLine(line.product_id, line.quantity, line.net / line.quantity) for line in lines],
        quote.currency,
        at=at,
    )
    quote.order_id = order.id
    if deal.status != WON:
        won = await pipelines.won_stage(session, deal.pipeline_id)
        await deals.move_deal(session, deal.id, won.id, sight, actor)  # type: ignore[arg-type]


async def expire_due(session: AsyncSession, today: date) -> int:
    """Sent and draft quotes past their validity become EXPIRED (the scheduler's job)."""
    done = await session.execute(
        update(SalesQuote)
        .where(SalesQuote.status.in_((DRAFT, SENT)), SalesQuote.valid_until < today)
        .values(status=EXPIRED, version=SalesQuote.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return done.rowcount or 0
