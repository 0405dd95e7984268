"""Loyalty rules: awarding points, tiers, watching a balance. No GraphQL here."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    AppContext,
    Collector,
    CustomerRow,
    NewOrderLine,
    OrderRow,
    ValidationFailed,
    fail,
    input_id,
    log_interaction,
    place_order,
    queue_email,
    schedule_once,
    utcnow,
)
from crm_loyalty.config import EXPIRE_AWARD, NAME, LoyaltySettings
from crm_loyalty.models import LoyaltyAccount, LoyaltyEntry

MAX_REASON = 200
VOUCHER_REASON = "Voucher redeemed"
DEMO_REASON = "Demo: a point per unit spent on paid and fulfilled orders"
ERASED_REASON = "erased"


@dataclass(frozen=True)
class Tier:
    name: str
    min_points: int
    points_to_next_tier: int | None


def tier_for(points: int, tiers: dict[str, int]) -> Tier | None:
    """The highest tier ``points`` reach, or ``None`` below the lowest one."""
    ladder = sorted(tiers.items(), key=lambda item: item[1])
    reached = [(name, minimum) for name, minimum in ladder if points >= minimum]
    if not reached:
        return None
    name, minimum = reached[-1]
    higher = [m for _n, m in ladder if m > points]
    return Tier(name, minimum, higher[0] - points if higher else None)


def check_award(points: int, reason: str, settings: LoyaltySettings, errors: Collector) -> str:
    """The rules of one award, for the mutation and the import alike: points within the
    limit, a reason; the reason with its spaces tidied (problems go to ``errors``)."""
    if points <= 0:
        errors.add("INVALID_VALUE", "points must be a positive whole number", "input", "points")
    elif points > settings.max_award:
        errors.add("TOO_LARGE", f"at most {settings.max_award} points per award", "input", "points")
    reason = " ".join(reason.split())
    if not reason:
        errors.add("REQUIRED", "say why the points are awarded", "input", "reason")
    elif len(reason) > MAX_REASON:
        errors.add("TOO_LONG", f"at most {MAX_REASON} characters", "input", "reason")
    return reason


async def add_points(
    session: AsyncSession, points_by_customer: dict[int, int]
) -> dict[int, LoyaltyAccount]:
    """Add points to these customers' balances (an account is created by its first award);
    their accounts, by customer id."""
    found = await session.scalars(
        select(LoyaltyAccount)
        .where(LoyaltyAccount.customer_id.in_(list(points_by_customer)))
        .with_for_update()
    )
    accounts = {account.customer_id: account for account in found}
    for customer_id, points in points_by_customer.items():
        account = accounts.get(customer_id)
        if account is None:
            account = LoyaltyAccount(customer_id=customer_id, points=0)
            session.add(account)
        account.points += points
        account.updated_at = utcnow()
        accounts[customer_id] = account
    return accounts


async def accounts_of(session: AsyncSession, customer_ids: Sequence[int]) -> list[LoyaltyAccount]:
    """The accounts of these customers in one statement (customers without one are left out)."""
    statement = select(LoyaltyAccount).where(LoyaltyAccount.customer_id.in_(customer_ids))
    return list(await session.scalars(statement))


async def balances_at(session: AsyncSession, as_of: datetime) -> dict[int, int]:
    """Each customer's balance as it stood at ``as_of``: the sum of the awards made by then."""
    statement = (
        select(LoyaltyEntry.customer_id, func.sum(LoyaltyEntry.points))
        .where(LoyaltyEntry.created_at <= as_of)
        .group_by(LoyaltyEntry.customer_id)
    )
    return {customer: int(points) for customer, points in await session.execute(statement)}


async def award(
    session: AsyncSession,
    customer_global_id: str,
    points: int,
    reason: str,
    settings: LoyaltySettings,
    awarded_by: str | None = None,
) -> tuple[LoyaltyAccount, LoyaltyEntry]:
    """Add ``points`` to a live customer's balance and record why and by whom (a user id);
    every problem at once."""
    errors = Collector()
    customer_id = None
    try:
        customer_id = input_id(customer_global_id, "Customer", "input", "customerId")
    except ValidationFailed as exc:
        errors.errors.extend(exc.errors)
    reason = check_award(points, reason, settings, errors)
    customer = None
    if customer_id is not None:
        customer = await session.get(CustomerRow, customer_id)
        if customer is None or customer.deleted_at is not None:
            errors.add("NOT_FOUND", "no such customer", "input", "customerId")
    if customer is None or customer_id is None or errors.errors:
        raise ValidationFailed(errors.errors)

    account = (await add_points(session, {customer_id: points}))[customer_id]
    entry = LoyaltyEntry(
        customer_id=customer_id, points=points, reason=reason, awarded_by=awarded_by
    )
    session.add(entry)
    await session.flush()
    await schedule_expiry(session, entry, settings)
    before = tier_for(account.points - points, settings.tiers)
    after = tier_for(account.points, settings.tiers)
    if after is not None and (before is None or before.name != after.name):
        await congratulate(session, customer, after, settings)
    return account, entry


async def congratulate(
    session: AsyncSession, customer: CustomerRow, tier: Tier, settings: LoyaltySettings
) -> None:
    """Queue the tier-upgrade e-mail in the award's unit of work: it is sent only if the
    award commits, after it, by the core's delivery job."""
    if settings.email_from is None or not customer.email:
        return
    name = customer.name or "there"
    await queue_email(
        session,
        owner=NAME,
        sender=settings.email_from,
        to=customer.email,
        subject=f"Welcome to {tier.name}",
        text=f"Hello {name}, you have reached the {tier.name} tier.",
        html=f"<p>Hello {html.escape(name)}, you have reached the <b>{html.escape(tier.name)}</b> tier.</p>",
        tag=f"tier-{tier.name}",
    )


async def redeem_voucher(
    session: AsyncSession, customer_id: int, points: int
) -> LoyaltyAccount | None:
    """Add a voucher's points to a live customer's balance (None when the customer is gone)."""
    customer = await session.get(CustomerRow, customer_id)
    if customer is None or customer.deleted_at is not None:
        return None
    account = (await add_points(session, {customer_id: points}))[customer_id]
    session.add(LoyaltyEntry(customer_id=customer_id, points=points, reason=VOUCHER_REASON))
    await session.flush()
    return account


async def redeem(
    session: AsyncSession,
    customer_id: int,
    points: int,
    rewards: list[NewOrderLine],
    currency: str,
    errors: Collector,
) -> tuple[LoyaltyAccount, OrderRow]:
    """Spend ``points`` on rewards: the core places a zero-priced order of the reward products
    (its rules, its ``order.placed`` event), the points come off the balance and the
    redemption is logged as an interaction, all in the caller's unit of work, so a balance
    too small for the redemption leaves no order behind either. ``errors`` holds what the
    caller found while decoding the input, reported with everything else."""
    if points <= 0:
        errors.add("INVALID_VALUE", "points must be a positive whole number", "input", "points")
    free = [NewOrderLine(r.product_id, r.quantity, Decimal(0)) for r in rewards]
    order, _lines = await place_order(session, customer_id, free, currency, errors=errors)
    account = (await add_points(session, {customer_id: -points}))[customer_id]
    if account.points < 0:
        raise fail(
            "INSUFFICIENT_POINTS",
            f"the balance is {account.points + points} points; {points} are needed",
            "input",
            "points",
        )
    session.add(
        LoyaltyEntry(customer_id=customer_id, points=-points, reason=f"Redeemed: {order.number}")
    )
    await log_interaction(
        session,
        customer_id,
        channel="other",
        direction="outbound",
        subject=f"Redeemed {points} loyalty points for order {order.number}",
    )
    return account, order


async def erase(session: AsyncSession, customer_id: int) -> None:
    """GDPR erasure: an award's reason is the caller's free text, so it goes; the points stay,
    as the orders they paid for stay for accounting. Entries taking points back (expiries,
    redemptions) keep the reasons this plugin wrote, which name only entries and orders and
    which expiring needs to know an award expired already."""
    await session.execute(
        update(LoyaltyEntry)
        .where(LoyaltyEntry.customer_id == customer_id, LoyaltyEntry.points > 0)
        .values(reason=ERASED_REASON)
    )


async def award_demo_points(
    app: AppContext, customer_ids: Sequence[int], settings: LoyaltySettings
) -> int:
    """Points for the demo customers' paid and fulfilled orders, a point per whole unit spent
    (within ``max_award``), written as every award is (:func:`add_points` and an entry each).
    Customers that hold an account already are left as they are, so running the demo again
    changes nothing. How many customers got points."""
    async with app.write() as session:
        have = {account.customer_id for account in await accounts_of(session, customer_ids)}
        spent = await session.execute(
            select(OrderRow.customer_id, func.sum(OrderRow.total))
            .where(
                OrderRow.customer_id.in_(customer_ids), OrderRow.status.in_(("paid", "fulfilled"))
            )
            .group_by(OrderRow.customer_id)
        )
        points = {
            customer_id: min(int(total), settings.max_award)
            for customer_id, total in spent.all()
            if customer_id not in have and int(total) > 0
        }
        await add_points(session, points)
        session.add_all(
            LoyaltyEntry(customer_id=customer_id, points=awarded, reason=DEMO_REASON)
            for customer_id, awarded in sorted(points.items())
        )
    return len(points)


async def merge(session: AsyncSession, survivor_id: int, merged_ids: list[int]) -> dict[str, int]:
    """Fold the merged customers' balances into the survivor's and move their entries."""
    found = await session.scalars(
        select(LoyaltyAccount)
        .where(LoyaltyAccount.customer_id.in_([survivor_id, *merged_ids]))
        .with_for_update()
    )
    accounts = {account.customer_id: account for account in found}
    merged = [accounts.pop(i) for i in merged_ids if i in accounts]
    for account in merged:
        await session.delete(account)
    await session.flush()  # free the one-account-per-customer slot before reusing it
    if merged:
        survivor = accounts.get(survivor_id) or LoyaltyAccount(customer_id=survivor_id, points=0)
        survivor.points += sum(account.points for account in merged)
        survivor.updated_at = utcnow()
        session.add(survivor)
    entries = await session.execute(
        update(LoyaltyEntry)
        .where(LoyaltyEntry.customer_id.in_(merged_ids))
        .values(customer_id=survivor_id)
    )
    return {"loyalty_accounts": len(merged), "loyalty_entries": entries.rowcount}


async def customer_exists(app: AppContext, customer_id: int) -> bool:
    """Whether the caller can see this customer (ownership scopes apply, as to every read)."""
    async with app.read() as session:
        return await session.get(CustomerRow, customer_id) is not None


async def watch(
    app: AppContext, customer_id: int, interval: float
) -> AsyncIterator[LoyaltyAccount]:
    """The customer's account now, then again each time its points change (polled).

    A customer without an account yet is shown as an unsaved account holding 0 points.
    """
    last: int | None = None
    while True:
        async with app.read() as session:
            found = await accounts_of(session, [customer_id])
        account = found[0] if found else LoyaltyAccount(customer_id=customer_id, points=0)
        if account.points != last:
            last = account.points
            yield account
        await asyncio.sleep(interval)


def expiry_reason(entry_id: int) -> str:
    """The reason of the entry that expires award ``entry_id``: what makes expiring idempotent."""
    return f"expired: entry {entry_id}"


async def schedule_expiry(
    session: AsyncSession, entry: LoyaltyEntry, settings: LoyaltySettings
) -> None:
    """Expire a new award's points when their time comes, in the award's unit of work (the
    job commits with the award, or not at all); keyed on the entry, so scheduled once."""
    if settings.points_expire_after is None:
        return
    await schedule_once(
        session,
        NAME,
        EXPIRE_AWARD,
        entry.created_at + settings.points_expire_after,
        {"entry": entry.id},
        key=f"entry-{entry.id}",
    )


async def expire(session: AsyncSession, entry_ids: Sequence[int]) -> int:
    """Take back what is left of these awards' points (a balance never goes below zero), with
    an entry saying so; an award expired before is left alone. How many awards expired."""
    awards = list(
        await session.scalars(
            select(LoyaltyEntry).where(LoyaltyEntry.id.in_(entry_ids), LoyaltyEntry.points > 0)
        )
    )
    done = set(
        await session.scalars(
            select(LoyaltyEntry.reason).where(
                LoyaltyEntry.reason.in_([expiry_reason(entry.id) for entry in awards])
            )
        )
    )
    due = [entry for entry in awards if expiry_reason(entry.id) not in done]
    for entry in due:
        account = (await add_points(session, {entry.customer_id: 0}))[entry.customer_id]
        taken = min(entry.points, account.points)
        account.points -= taken
        session.add(
            LoyaltyEntry(
                customer_id=entry.customer_id, points=-taken, reason=expiry_reason(entry.id)
            )
        )
    await session.flush()
    return len(due)


async def awards_due_to_expire(session: AsyncSession, cutoff: datetime) -> list[int]:
    """Awards made at or before ``cutoff`` (those expired already are filtered by :func:`expire`)."""
    statement = select(LoyaltyEntry.id).where(
        LoyaltyEntry.points > 0, LoyaltyEntry.created_at <= cutoff
    )
    return list(await session.scalars(statement))
