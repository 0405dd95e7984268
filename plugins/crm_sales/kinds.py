"""Leads and deals as kinds of records: ``crm-graph import leads FILE`` and ``crm-graph import
deals FILE`` (rejects in ``FILE.rejects.csv``), ``crm-graph export leads|deals`` in the same
columns. Rows are checked and written by the rules of ``createLead`` and ``createDeal``;
a row whose ``external_id`` is already taken is left unchanged, so importing twice writes once.
Imported leads without an owner go through the assignment rules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    INSERTED,
    UNCHANGED,
    BatchResult,
    Checked,
    Collector,
    Columns,
    CustomerRow,
    DataKind,
    FieldError,
    ImportContext,
    Outcome,
    ValidationFailed,
    clean_text,
    find_customers,
    money,
    normalise_amount,
    normalise_currency,
    rejected,
    to_global_id,
    write_records,
)
from crm_sales import deals, leads
from crm_sales.scopes import EVERYTHING
from crm_sales.tables import SalesDeal, SalesLead, SalesPipeline, SalesStage

LEAD_COLUMNS = Columns(
    ("name",),
    (
        "external_id",
        "company",
        "email",
        "phone",
        "source",
        "status",
        "disqualified_reason",
        "owner_id",
        "created_at",
    ),
    attributes=True,
)
DEAL_COLUMNS = Columns(
    ("external_id", "name", "customer_external_id", "amount", "stage"),
    (
        "currency",
        "pipeline",
        "expected_close_date",
        "owner_id",
        "lost_reason",
        "created_at",
        "closed_at",
    ),
)


def _text(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    text = "" if value is None else str(value).strip()
    return text or None


def _time(value: str | None, errors: Collector, path: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        errors.add("INVALID_VALUE", "an ISO 8601 time with its zone", "input", path)
        return None
    return moment.astimezone(UTC)


def _date(value: str | None, errors: Collector, path: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.add("INVALID_DATE", "an ISO 8601 date (2027-03-31)", "input", path)
        return None


def check_leads(items: list[dict[str, Any]], context: ImportContext) -> Checked:
    """Each row by the rules of ``createLead``; extra columns become its attributes."""
    region = context.settings.default_phone_region
    checked = Checked.of(len(items))
    for index, item in enumerate(items):
        errors = Collector()
        fields: dict[str, Any] = {
            key: _text(item, key)
            for key in ("name", "external_id", "company", "email", "phone", "owner_id")
        }
        fields["source"] = _text(item, "source") or "import"
        fields["status"] = _text(item, "status") or leads.NEW
        fields["disqualified_reason"] = _text(item, "disqualified_reason")
        fields["created_at"] = _time(_text(item, "created_at"), errors, "createdAt")
        extra = item.get("attributes") or {}  # the file's other columns
        fields["attributes"] = {k: v for k, v in extra.items() if v not in (None, "")}
        values = leads.check_lead(fields, region, errors, ("input",))
        if errors.errors:
            checked.outcomes[index] = rejected(errors.errors)
        else:
            checked.items.append((index, values))
    return checked


async def write_leads(
    session: AsyncSession, checked: Checked, context: ImportContext
) -> BatchResult:
    region = context.settings.default_phone_region
    keys = [values["external_id"] for _, values in checked.items if values.get("external_id")]
    taken = (
        dict(
            (
                await session.execute(
                    select(SalesLead.external_id, SalesLead.id).where(
                        SalesLead.external_id.in_(keys)
                    )
                )
            ).all()
        )
        if keys
        else {}
    )
    for index, values in checked.items:
        key = values.get("external_id")
        if key in taken:
            checked.outcomes[index] = Outcome(UNCHANGED, taken[key])
            continue
        try:
            async with session.begin_nested():
                lead = await leads.create_lead(session, values, EVERYTHING, None, region)
        except ValidationFailed as exc:
            checked.outcomes[index] = rejected(exc.errors)
            continue
        if key:
            taken[key] = lead.id
        checked.outcomes[index] = Outcome(INSERTED, lead.id)
    return checked.result()


async def export_leads(session: AsyncSession, out: TextIO, fmt: str, since: datetime | None) -> int:
    return await write_records(out, fmt, LEAD_COLUMNS.columns, _lead_rows(session, since))


async def _lead_rows(
    session: AsyncSession, since: datetime | None
) -> AsyncIterator[dict[str, Any]]:
    statement = select(SalesLead).order_by(SalesLead.id)
    if since is not None:
        statement = statement.where(SalesLead.updated_at >= since)
    for lead in await session.scalars(statement):
        yield {
            "name": lead.name,
            "external_id": lead.external_id or to_global_id("Lead", lead.id),  # type: ignore[arg-type]
            "company": lead.company,
            "email": lead.email,
            "phone": lead.phone,
            "source": lead.source,
            "status": lead.status if lead.status != leads.CONVERTED else leads.QUALIFIED,
            "disqualified_reason": lead.disqualified_reason,
            "owner_id": lead.owner_id,
            "created_at": lead.created_at,
            **{k: v for k, v in (lead.attributes or {}).items() if k not in LEAD_COLUMNS.columns},
        }


def check_deals(items: list[dict[str, Any]], context: ImportContext) -> Checked:
    """Each row by the rules of ``createDeal`` (the stage and pipeline named, the customer by
    its external id); a won or lost deal may bring the time it was created and closed."""
    checked = Checked.of(len(items))
    default = context.settings.default_currency
    for index, item in enumerate(items):
        errors = Collector()
        external_id = clean_text(
            _text(item, "external_id"), errors, "input", "externalId", max_length=200, required=True
        )
        name = clean_text(
            _text(item, "name"), errors, "input", "name", max_length=200, required=True
        )
        customer = _text(item, "customer_external_id")
        if customer is None:
            errors.add("REQUIRED", "must not be empty", "input", "customerExternalId")
        currency = normalise_currency(
            _text(item, "currency") or default, errors, "input", "currency"
        )
        amount = normalise_amount(_text(item, "amount"), currency, errors, "input", "amount")
        stage = clean_text(
            _text(item, "stage"), errors, "input", "stage", max_length=100, required=True
        )
        values = {
            "external_id": external_id,
            "name": name,
            "customer": customer,
            "amount": amount,
            "currency": currency,
            "stage": stage,
            "pipeline": _text(item, "pipeline"),
            "expected_close_date": _date(
                _text(item, "expected_close_date"), errors, "expectedCloseDate"
            ),
            "owner_id": _text(item, "owner_id"),
            "lost_reason": _text(item, "lost_reason"),
            "created_at": _time(_text(item, "created_at"), errors, "createdAt"),
            "closed_at": _time(_text(item, "closed_at"), errors, "closedAt"),
        }
        if errors.errors:
            checked.outcomes[index] = rejected(errors.errors)
        else:
            checked.items.append((index, values))
    return checked


async def _stages(session: AsyncSession) -> dict[tuple[str | None, str], SalesStage]:
    """Stages by (pipeline name, stage name), case-insensitive; the first pipeline's also by
    (None, stage name)."""
    found: dict[tuple[str | None, str], SalesStage] = {}
    rows = await session.execute(
        select(SalesPipeline.name, SalesStage)
        .join(SalesStage, SalesStage.pipeline_id == SalesPipeline.id)
        .where(SalesStage.removed_at.is_(None))
        .order_by(SalesPipeline.position, SalesPipeline.id, SalesStage.position)
    )
    first = None
    for pipeline, stage in rows:
        first = first or pipeline
        found[(pipeline.casefold(), stage.name.casefold())] = stage
        if pipeline == first:
            found[(None, stage.name.casefold())] = stage
    return found


async def write_deals(
    session: AsyncSession, checked: Checked, context: ImportContext
) -> BatchResult:
    refs = await find_customers(
        session, {v["customer"] for _, v in checked.items}, "customerExternalId"
    )
    stages = await _stages(session)
    keys = [v["external_id"] for _, v in checked.items]
    taken = dict(
        (
            await session.execute(
                select(SalesDeal.external_id, SalesDeal.id).where(SalesDeal.external_id.in_(keys))
            )
        ).all()
    )
    for index, v in checked.items:
        if v["external_id"] in taken:
            checked.outcomes[index] = Outcome(UNCHANGED, taken[v["external_id"]])
            continue
        error = refs.error(v["customer"], False, "customerExternalId")
        pipeline = v["pipeline"].casefold() if v["pipeline"] else None
        stage = stages.get((pipeline, v["stage"].casefold()))
        if error is not None or stage is None:
            problems = [error] if error else []
            if stage is None:
                problems.append(FieldError("NOT_FOUND", "no such stage in the pipeline", ["stage"]))
            checked.outcomes[index] = rejected(problems)
            continue
        try:
            async with session.begin_nested():
                deal = await _import_deal(session, v, refs.ids[v["customer"]], stage)
        except ValidationFailed as exc:
            checked.outcomes[index] = rejected(exc.errors)
            continue
        taken[v["external_id"]] = deal.id
        checked.outcomes[index] = Outcome(INSERTED, deal.id)
    return checked.result()


async def _import_deal(
    session: AsyncSession, v: dict[str, Any], customer_id: int, stage: SalesStage
) -> SalesDeal:
    """A closed deal with its times is created in its pipeline's first stage when it was
    created, then closed when it was: its history and cycle time are the real ones."""
    closing = stage.kind != "open" and v["closed_at"] is not None
    new = deals.NewDeal(
        name=v["name"],
        customer_id=customer_id,
        amount=v["amount"],
        currency=v["currency"],
        pipeline_id=stage.pipeline_id,
        stage_id=None if closing else stage.id,
        expected_close_date=v["expected_close_date"],
        owner_id=v["owner_id"],
        lost_reason=None if closing else v["lost_reason"],
    )
    deal = await deals.create_deal(session, new, EVERYTHING, None, when=v["created_at"])
    deal.external_id = v["external_id"]
    if closing:
        deal = await deals.move_deal(
            session,
            deal.id,
            stage.id,
            EVERYTHING,
            None,
            lost_reason=v["lost_reason"],
            when=v["closed_at"],
        )
    await session.flush()
    return deal


async def export_deals(session: AsyncSession, out: TextIO, fmt: str, since: datetime | None) -> int:
    return await write_records(out, fmt, DEAL_COLUMNS.columns, _deal_rows(session, since))


async def _deal_rows(
    session: AsyncSession, since: datetime | None
) -> AsyncIterator[dict[str, Any]]:
    statement = (
        select(SalesDeal, CustomerRow.external_id, SalesStage.name, SalesPipeline.name)
        .join(CustomerRow, CustomerRow.id == SalesDeal.customer_id)
        .join(SalesStage, SalesStage.id == SalesDeal.stage_id)
        .join(SalesPipeline, SalesPipeline.id == SalesDeal.pipeline_id)
        .order_by(SalesDeal.id)
    )
    if since is not None:
        statement = statement.where(SalesDeal.updated_at >= since)
    for deal, customer, stage, pipeline in await session.execute(statement):
        yield {
            "external_id": deal.external_id or to_global_id("Deal", deal.id),  # type: ignore[arg-type]
            "name": deal.name,
            "customer_external_id": customer or to_global_id("Customer", deal.customer_id),
            "amount": money(deal.amount, deal.currency).amount,
            "stage": stage,
            "currency": deal.currency,
            "pipeline": pipeline,
            "expected_close_date": deal.expected_close_date,
            "owner_id": deal.owner_id,
            "lost_reason": deal.lost_reason,
            "created_at": deal.created_at,
            "closed_at": deal.closed_at,
        }


LEADS = DataKind("leads", LEAD_COLUMNS, check_leads, write_leads, export_leads)
DEALS = DataKind("deals", DEAL_COLUMNS, check_deals, write_deals, export_deals)
