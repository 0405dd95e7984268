"""Deals: created on a customer in a pipeline's stage, moved through the stages (every move
kept, with its time), won or lost; one write path for mutations, imports and demo data.

A move names the version it was decided on (``expectedVersion``): two reps dragging one deal
at once get one move and one ``CONFLICT``, never a silent overwrite.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    Collector,
    CustomerRow,
    check_version,
    clean_text,
    emit,
    fail,
    normalise_amount,
    normalise_currency,
    to_global_id,
    user_exists,
    utcnow,
)
from crm_sales.pipelines import entry_stage
from crm_sales.scopes import Sight
from crm_sales.tables import (
    LOST,
    OPEN,
    WON,
    SalesCompanyContact,
    SalesDeal,
    SalesDealStageChange,
    SalesStage,
)
from crm_sales.values import like_pattern

DEAL = "Deal"


@dataclass(frozen=True)
class NewDeal:
    name: str
    customer_id: int
    amount: Decimal | str
    currency: str
    pipeline_id: int | None = None
    stage_id: int | None = None
    expected_close_date: date | None = None
    owner_id: str | None = None
    lost_reason: str | None = None


def money_payload(deal: SalesDeal) -> dict[str, str]:
    return {"amount": str(deal.amount), "currency": deal.currency}


def deal_payload(deal: SalesDeal) -> dict[str, Any]:
    """What every deal event carries about the deal."""
    return {
        "name": deal.name,
        "customerId": to_global_id("Customer", deal.customer_id),
        "pipelineId": to_global_id("SalesPipeline", deal.pipeline_id),
        "stageId": to_global_id("SalesStage", deal.stage_id),
        "amount": money_payload(deal),
        "ownerId": deal.owner_id,
        "expectedCloseDate": deal.expected_close_date.isoformat()
        if deal.expected_close_date
        else None,
        "version": deal.version,
    }


async def live_customer(session: AsyncSession, customer_id: int, *path: str) -> CustomerRow:
    """The customer, if the caller's scope sees it and it is neither deleted nor merged."""
    customer = await session.get(CustomerRow, customer_id)
    if customer is None:
        raise fail("NOT_FOUND", "no such customer", *path)
    if customer.deleted_at is not None:
        raise fail("DELETED", "the customer is deleted (or merged into another)", *path)
    return customer


async def _stage(session: AsyncSession, stage_id: int, *path: str) -> SalesStage:
    """A live stage (a removed one is in no pipeline any more)."""
    stage = await session.get(SalesStage, stage_id)
    if stage is None or stage.removed_at is not None:
        raise fail("NOT_FOUND", "no such stage", *path)
    return stage


async def check_owner(
    session: AsyncSession, owner_id: str, sight: Sight, errors: Collector, *path: str
) -> None:
    """An owner must be a user, and one the caller's scope may give records to."""
    if not await user_exists(session, owner_id):
        errors.add("NOT_FOUND", "no such user", *path)
    elif not sight.sees(owner_id):
        errors.add("FORBIDDEN", "outside your scope: you may not give records to this user", *path)


def _close(deal: SalesDeal, stage: SalesStage, lost_reason: str | None, when: datetime) -> None:
    deal.stage_id, deal.pipeline_id, deal.status = stage.id, stage.pipeline_id, stage.kind
    deal.stage_entered_at = deal.updated_at = when
    deal.closed_at = when if stage.kind != OPEN else None
    deal.lost_reason = lost_reason if stage.kind == LOST else None


async def _closing_events(session: AsyncSession, deal: SalesDeal, before: str | None) -> None:
    if deal.status == WON and before != WON:
        await emit(session, "deal.won", DEAL, deal.id, deal_payload(deal))
    if deal.status == LOST and before != LOST:
        payload = {**deal_payload(deal), "lostReason": deal.lost_reason}
        await emit(session, "deal.lost", DEAL, deal.id, payload)


def _lost_reason(stage: SalesStage, text: str | None, errors: Collector, *path: str) -> str | None:
    reason = clean_text(text, errors, *path, max_length=500)
    if stage.kind == LOST and reason is None and not errors.errors:
        errors.add("REQUIRED", "a lost deal needs its lost reason", *path)
    return reason


async def create_deal(
    session: AsyncSession,
    new: NewDeal,
    sight: Sight,
    actor: str | None,
    at: tuple[str, ...] = ("input",),
    when: datetime | None = None,
) -> SalesDeal:
    """A deal on a live customer, in ``new.stage_id`` or the first open stage of its
    pipeline (the default pipeline when none is named); the caller owns it by default."""
    when = when or utcnow()
    errors = Collector()
    name = clean_text(new.name, errors, *at, "name", max_length=200, required=True)
    currency = normalise_currency(new.currency, errors, *at, "currency")
    amount = normalise_amount(new.amount, currency, errors, *at, "amount")
    owner = new.owner_id or actor
    if owner is not None:
        await check_owner(session, owner, sight, errors, *at, "ownerId")
    if new.stage_id is not None:
        stage = await _stage(session, new.stage_id, *at, "stageId")
        if new.pipeline_id is not None and stage.pipeline_id != new.pipeline_id:
            errors.add("STAGE_NOT_IN_PIPELINE", "the stage is not in this pipeline", *at, "stageId")
    else:
        stage = await entry_stage(session, new.pipeline_id, *at, "pipelineId")
    lost_reason = _lost_reason(stage, new.lost_reason, errors, *at, "lostReason")
    await live_customer(session, new.customer_id, *at, "customerId")
    errors.check()
    deal = SalesDeal(
        name=name,
        customer_id=new.customer_id,
        pipeline_id=stage.pipeline_id,
        stage_id=stage.id,
        amount=amount,
        currency=currency,
        expected_close_date=new.expected_close_date,
        owner_id=owner,
        created_at=when,
    )
    _close(deal, stage, lost_reason, when)
    session.add(deal)
    await session.flush()
    session.add(
        SalesDealStageChange(
            deal_id=deal.id, to_stage_id=stage.id, changed_at=when, changed_by=actor
        )
    )
    await emit(session, "deal.created", DEAL, deal.id, deal_payload(deal))
    await _closing_events(session, deal, None)
    return deal


async def move_deal(
    session: AsyncSession,
    deal_id: int,
    stage_id: int,
    sight: Sight,
    actor: str | None,
    expected_version: int | None = None,
    lost_reason: str | None = None,
    at: tuple[str, ...] = ("input",),
    when: datetime | None = None,
) -> SalesDeal:
    """Move a deal to another stage (of its pipeline or another one: the deal follows the
    stage), keeping the move in the deal's stage history. Moving to the stage it is in
    changes nothing."""
    deal = await sight.find(session, SalesDeal, deal_id, "deal", *at, "id")
    check_version(deal, expected_version)
    stage = await _stage(session, stage_id, *at, "stageId")
    errors = Collector()
    reason = _lost_reason(stage, lost_reason, errors, *at, "lostReason")
    errors.check()
    if stage.id == deal.stage_id and (stage.kind != LOST or reason == deal.lost_reason):
        return deal
    when = when or utcnow()
    before, before_stage = deal.status, deal.stage_id
    _close(deal, stage, reason, when)
    await session.flush()
    session.add(
        SalesDealStageChange(
            deal_id=deal.id,
            from_stage_id=before_stage,
            to_stage_id=stage.id,
            changed_at=when,
            changed_by=actor,
        )
    )
    payload = {
        **deal_payload(deal),
        "fromStageId": to_global_id("SalesStage", before_stage),
        "status": deal.status.upper(),
    }
    await emit(session, "deal.stage_changed", DEAL, deal.id, payload)
    await _closing_events(session, deal, before)
    return deal


@dataclass(frozen=True)
class DealChanges:
    """The fields an update sets (``None``: unchanged)."""

    name: str | None = None
    amount: Decimal | str | None = None
    currency: str | None = None
    expected_close_date: date | None = None
    owner_id: str | None = None


async def update_deal(
    session: AsyncSession,
    deal_id: int,
    changes: DealChanges,
    sight: Sight,
    expected_version: int | None = None,
    at: tuple[str, ...] = ("input",),
) -> SalesDeal:
    """Change a deal's name, amount, close date or owner (a new owner must be a user within
    the caller's scope); its stage changes only through :func:`move_deal`."""
    deal = await sight.find(session, SalesDeal, deal_id, "deal", *at, "id")
    check_version(deal, expected_version)
    errors = Collector()
    if changes.name is not None:
        deal.name = clean_text(changes.name, errors, *at, "name", max_length=200, required=True)
    if changes.currency is not None:
        deal.currency = normalise_currency(changes.currency, errors, *at, "currency")
    if changes.amount is not None or changes.currency is not None:
        amount = changes.amount if changes.amount is not None else deal.amount
        deal.amount = normalise_amount(amount, deal.currency, errors, *at, "amount")
    if changes.expected_close_date is not None:
        deal.expected_close_date = changes.expected_close_date
    if changes.owner_id is not None:
        await check_owner(session, changes.owner_id, sight, errors, *at, "ownerId")
        deal.owner_id = changes.owner_id
    errors.check()
    deal.updated_at = utcnow()
    await session.flush()
    await emit(session, "deal.updated", DEAL, deal.id, deal_payload(deal))
    return deal


def deal_select(
    sight: Sight,
    *,
    pipeline_id: int | None = None,
    stage_ids: list[int] | None = None,
    owner_ids: list[str] | None = None,
    customer_id: int | None = None,
    company_id: int | None = None,
    statuses: list[str] | None = None,
    close_after: date | None = None,
    close_before: date | None = None,
    search: str | None = None,
) -> Any:
    """The deals the caller sees, narrowed by each criterion given (``company_id``: the
    deals of the company's contacts; ``search``: part of the name)."""
    statement = select(SalesDeal).where(sight.where(SalesDeal.owner_id))
    if pipeline_id is not None:
        statement = statement.where(SalesDeal.pipeline_id == pipeline_id)
    if stage_ids is not None:
        statement = statement.where(SalesDeal.stage_id.in_(stage_ids))
    if owner_ids is not None:
        statement = statement.where(SalesDeal.owner_id.in_(owner_ids))
    if customer_id is not None:
        statement = statement.where(SalesDeal.customer_id == customer_id)
    if company_id is not None:
        contacts = select(SalesCompanyContact.customer_id).where(
            SalesCompanyContact.company_id == company_id
        )
        statement = statement.where(SalesDeal.customer_id.in_(contacts))
    if statuses is not None:
        statement = statement.where(SalesDeal.status.in_(statuses))
    if close_after is not None:
        statement = statement.where(SalesDeal.expected_close_date >= close_after)
    if close_before is not None:
        statement = statement.where(SalesDeal.expected_close_date <= close_before)
    if search:
        statement = statement.where(SalesDeal.name.ilike(like_pattern(search), escape="\\"))
    return statement


async def visible_deals(session: AsyncSession, ids: list[int], sight: Sight) -> list[SalesDeal]:
    """The deals among ``ids`` the caller sees."""
    if not ids:
        return []
    return list(
        await session.scalars(
            select(SalesDeal).where(SalesDeal.id.in_(ids), sight.where(SalesDeal.owner_id))
        )
    )


async def merge(session: AsyncSession, survivor_id: int, merged_ids: list[int]) -> int:
    """Customer merge: the merged customers' deals become the survivor's."""
    moved = await session.execute(
        update(SalesDeal)
        .where(SalesDeal.customer_id.in_(merged_ids))
        .values(customer_id=survivor_id, version=SalesDeal.version + 1)
        .execution_options(synchronize_session=False)
    )
    return moved.rowcount or 0


async def deals_of(
    session: AsyncSession, customer_ids: list[int], sight: Sight
) -> dict[int, list[SalesDeal]]:
    """Each customer's deals the caller sees, newest first (one statement)."""
    found: dict[int, list[SalesDeal]] = {pk: [] for pk in customer_ids}
    if customer_ids:
        statement = (
            select(SalesDeal)
            .where(SalesDeal.customer_id.in_(customer_ids), sight.where(SalesDeal.owner_id))
            .order_by(SalesDeal.customer_id, SalesDeal.created_at.desc(), SalesDeal.id.desc())
        )
        for deal in await session.scalars(statement):
            found[deal.customer_id].append(deal)
    return found


async def open_values(
    session: AsyncSession, customer_ids: list[int], sight: Sight
) -> dict[int, list[tuple[str, Decimal]]]:
    """Each customer's open deal amounts per currency, the caller's visible deals only."""
    found: dict[int, list[tuple[str, Decimal]]] = {pk: [] for pk in customer_ids}
    if customer_ids:
        statement = (
            select(SalesDeal.customer_id, SalesDeal.currency, func.sum(SalesDeal.amount))
            .where(
                SalesDeal.customer_id.in_(customer_ids),
                SalesDeal.status == OPEN,
                sight.where(SalesDeal.owner_id),
            )
            .group_by(SalesDeal.customer_id, SalesDeal.currency)
            .order_by(SalesDeal.customer_id, SalesDeal.currency)
        )
        for customer_id, currency, total in await session.execute(statement):
            found[customer_id].append((currency, Decimal(total)))
    return found


async def stage_history(
    session: AsyncSession, deal_ids: list[int]
) -> dict[int, list[SalesDealStageChange]]:
    found: dict[int, list[SalesDealStageChange]] = {pk: [] for pk in deal_ids}
    if deal_ids:
        statement = (
            select(SalesDealStageChange)
            .where(SalesDealStageChange.deal_id.in_(deal_ids))
            .order_by(
                SalesDealStageChange.deal_id,
                SalesDealStageChange.changed_at,
                SalesDealStageChange.id,
            )
        )
        for change in await session.scalars(statement):
            found[change.deal_id].append(change)
    return found
