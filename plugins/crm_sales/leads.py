"""Leads: people who may buy, worked through a status machine and converted into a customer
(a new one, or an existing one core's duplicate matching finds) and, optionally, a deal.

One write path: the API, the import kind and the web-to-lead form all create leads through
:func:`check_lead` and :func:`create_lead`, so the same input is refused the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    Collector,
    CustomerRow,
    check_version,
    clean_text,
    create_customer,
    emit,
    fail,
    find_duplicates,
    normalise_email,
    normalise_phone,
    to_global_id,
    utcnow,
)
from crm_sales import assignment, deals, scoring
from crm_sales.scopes import Sight
from crm_sales.tables import (
    CONVERTED,
    DISQUALIFIED,
    NEW,
    QUALIFIED,
    SOURCES,
    WORKING,
    SalesLead,
    SalesTask,
)
from crm_sales.values import check_attributes, like_pattern

LEAD = "Lead"
# Which status may follow which (Salesforce's lead statuses; a converted lead is final).
TRANSITIONS = {
    NEW: {WORKING, QUALIFIED, DISQUALIFIED},
    WORKING: {NEW, QUALIFIED, DISQUALIFIED},
    QUALIFIED: {WORKING, DISQUALIFIED},
    DISQUALIFIED: {NEW, WORKING},
    CONVERTED: set(),
}
# A duplicate scored at least this is the customer a conversion links to (an exact e-mail or
# phone match scores 1.0; a similar name alone never reaches it).
LINK_SCORE = 0.9


def check_lead(
    fields: dict[str, Any], region: str, errors: Collector, at: tuple[str, ...]
) -> dict[str, Any]:
    """The lead's fields present in ``fields``, normalised as a customer's (e-mail
    lower-cased, phone in E.164); problems go to ``errors`` at ``at`` + the field."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "name":
            out[key] = clean_text(value, errors, *at, "name", max_length=300, required=True)
        elif key == "company":
            out[key] = clean_text(value, errors, *at, "company", max_length=300)
        elif key == "email":
            out[key] = normalise_email(value, errors, *at, "email")
        elif key == "phone":
            out[key] = normalise_phone(value, region, errors, *at, "phone")
        elif key == "source":
            source = (value or "other").strip().lower()
            if source not in SOURCES:
                errors.add("INVALID_VALUE", f"one of {', '.join(SOURCES)}", *at, "source")
            out[key] = source
        elif key == "attributes":
            out[key] = check_attributes(value, errors, *at, "attributes")
        elif key == "owner_id":
            out[key] = value
        elif key == "external_id":
            out[key] = clean_text(value, errors, *at, "externalId", max_length=200)
        elif key == "status":  # imports bring leads in any status but converted
            status = (value or NEW).strip().lower()
            if status not in TRANSITIONS or status == CONVERTED:
                errors.add(
                    "INVALID_VALUE", "new, working, qualified or disqualified", *at, "status"
                )
            out[key] = status
        elif key == "disqualified_reason":
            out[key] = clean_text(value, errors, *at, "disqualifiedReason", max_length=500)
        elif key == "created_at":
            out[key] = value
        else:
            raise ValueError(f"unknown lead field {key!r}")
    if out.get("status") == DISQUALIFIED and not out.get("disqualified_reason"):
        errors.add("REQUIRED", "a disqualified lead needs its reason", *at, "disqualifiedReason")
    return out


def lead_select(
    sight: Sight,
    *,
    statuses: list[str] | None = None,
    sources: list[str] | None = None,
    owner_ids: list[str] | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    search: str | None = None,
) -> Any:
    """The leads the caller sees, narrowed by each criterion given (``search``: part of the
    name, company or e-mail, personal data: the caller checks ``pii:read``)."""
    statement = select(SalesLead).where(sight.where(SalesLead.owner_id))
    if statuses is not None:
        statement = statement.where(SalesLead.status.in_(statuses))
    if sources is not None:
        statement = statement.where(SalesLead.source.in_(sources))
    if owner_ids is not None:
        statement = statement.where(SalesLead.owner_id.in_(owner_ids))
    if created_after is not None:
        statement = statement.where(SalesLead.created_at >= created_after)
    if created_before is not None:
        statement = statement.where(SalesLead.created_at < created_before)
    if search:
        pattern = like_pattern(search)
        statement = statement.where(
            or_(
                *[
                    column.ilike(pattern, escape="\\")
                    for column in (SalesLead.name, SalesLead.company, SalesLead.email)
                ]
            )
        )
    return statement


async def customers_by_id(session: AsyncSession, ids: list[int]) -> dict[int, CustomerRow]:
    if not ids:
        return {}
    rows = await session.scalars(select(CustomerRow).where(CustomerRow.id.in_(ids)))
    return {customer.id: customer for customer in rows}


def lead_payload(lead: SalesLead) -> dict[str, Any]:
    """What lead events carry; the contact details are declared personal data (masked for
    readers without ``pii:read``: see :mod:`crm_sales.events`)."""
    return {
        "name": lead.name,
        "company": lead.company,
        "email": lead.email,
        "phone": lead.phone,
        "status": lead.status.upper(),
        "source": lead.source,
        "ownerId": lead.owner_id,
        "score": lead.score,
        "version": lead.version,
    }


async def create_lead(
    session: AsyncSession,
    fields: dict[str, Any],
    sight: Sight,
    actor: str | None,
    region: str,
    at: tuple[str, ...] = ("input",),
    form_id: int | None = None,
    owner: str | None = None,
) -> SalesLead:
    """A new lead, owned by ``fields["owner_id"]`` (within the caller's scope), else
    ``owner``, else the first matching assignment rule's choice, else the caller; emits
    ``lead.created``."""
    errors = Collector()
    values = check_lead({"name": None, **fields}, region, errors, at)
    chosen = values.pop("owner_id", None)
    if chosen is not None:
        await deals.check_owner(session, chosen, sight, errors, *at, "ownerId")
    errors.check()
    if values.get("external_id") and await session.scalar(
        select(SalesLead.id).where(SalesLead.external_id == values["external_id"])
    ):
        raise fail("DUPLICATE", "another lead has this external id", *at, "externalId")
    chosen = chosen or owner or await assignment.assign(session, values) or actor
    if values.get("created_at") is None:
        values.pop("created_at", None)
    lead = SalesLead(**values, owner_id=chosen, form_id=form_id)
    await scoring.score_new(session, lead)
    session.add(lead)
    await session.flush()
    await emit(session, "lead.created", LEAD, lead.id, lead_payload(lead))
    return lead


def _touch(lead: SalesLead) -> None:
    lead.version += 1
    lead.updated_at = utcnow()


async def update_lead(
    session: AsyncSession,
    lead_id: int,
    changes: dict[str, Any],
    sight: Sight,
    region: str,
    expected_version: int | None = None,
    at: tuple[str, ...] = ("input",),
) -> SalesLead:
    """Change a lead's details (not its status: see :func:`change_status`)."""
    lead = await sight.find(session, SalesLead, lead_id, "lead", *at, "id")
    check_version(lead, expected_version)
    if lead.status == CONVERTED:
        raise fail("CONVERTED", "a converted lead cannot change; change its customer", *at, "id")
    errors = Collector()
    values = check_lead(changes, region, errors, at)
    if values.get("owner_id") is not None:
        await deals.check_owner(session, values["owner_id"], sight, errors, *at, "ownerId")
    errors.check()
    for key, value in values.items():
        setattr(lead, key, value)
    await scoring.score_new(session, lead)
    _touch(lead)
    await session.flush()
    await emit(session, "lead.updated", LEAD, lead.id, lead_payload(lead))
    return lead


async def change_status(
    session: AsyncSession,
    lead_id: int,
    status: str,
    reason: str | None,
    sight: Sight,
    expected_version: int | None = None,
    at: tuple[str, ...] = ("input",),
) -> SalesLead:
    """Move a lead along its status machine; DISQUALIFIED needs a reason, CONVERTED comes
    only from :func:`convert_lead`."""
    lead = await sight.find(session, SalesLead, lead_id, "lead", *at, "id")
    check_version(lead, expected_version)
    if status == lead.status:
        return lead
    if status == CONVERTED:
        raise fail("INVALID_TRANSITION", "convert a lead with convertLead", *at, "status")
    if status not in TRANSITIONS[lead.status]:
        raise fail(
            "INVALID_TRANSITION", f"a {lead.status} lead cannot become {status}", *at, "status"
        )
    errors = Collector()
    text = clean_text(reason, errors, *at, "reason", max_length=500)
    if status == DISQUALIFIED and text is None and not errors.errors:
        errors.add("REQUIRED", "a disqualified lead needs its reason", *at, "reason")
    errors.check()
    lead.status = status
    lead.disqualified_reason = text if status == DISQUALIFIED else None
    _touch(lead)
    await session.flush()
    payload = {**lead_payload(lead), "reason": lead.disqualified_reason}
    await emit(session, "lead.status_changed", LEAD, lead.id, payload)
    return lead


@dataclass
class DealSpec:
    """The deal a conversion opens (its name defaults to the lead's company or name)."""

    amount: Any
    currency: str
    name: str | None = None
    pipeline_id: int | None = None
    stage_id: int | None = None
    expected_close_date: Any = None


@dataclass
class Conversion:
    """What a conversion did, or would do (``dry_run``): plain values, readable after a
    rollback."""

    lead_id: int
    customer_id: int | None  # the existing customer linked to, or the one created
    created_customer: bool
    # (customer id, score, reasons as the caller may see them), best first
    candidates: list[tuple[int, float, list[str]]] = field(default_factory=list)
    deal_id: int | None = None
    dry_run: bool = False


async def convert_lead(
    session: AsyncSession,
    lead_id: int,
    sight: Sight,
    deal_sight: Sight,
    actor: str | None,
    region: str,
    *,
    customer_id: int | None = None,
    deal: DealSpec | None = None,
    at: tuple[str, ...] = ("input",),
) -> Conversion:
    """Turn a lead into a customer: the customer named by ``customer_id``, else the existing
    customer core's duplicate matching finds (score >= ``LINK_SCORE``), else a new one owned
    by the lead's owner; then, with ``deal``, a deal for it. Emits ``lead.converted``."""
    lead = await sight.find(session, SalesLead, lead_id, "lead", *at, "id")
    if lead.status in (CONVERTED, DISQUALIFIED):
        raise fail("INVALID_TRANSITION", f"a {lead.status} lead cannot be converted", *at, "id")
    candidates = await find_duplicates(
        session,
        name=lead.name,
        email=lead.email,
        phone=lead.phone,
        company=lead.company,
        region=region,
        limit=5,
        at=at,
    )
    if customer_id is not None:
        await deals.live_customer(session, customer_id, *at, "customerId")
        linked = customer_id
    else:
        best = candidates[0] if candidates else None
        linked = best.customer.id if best and best.score >= LINK_SCORE else None
    created = linked is None
    if created:
        customer = await create_customer(
            session,
            {"name": lead.name, "email": lead.email, "phone": lead.phone, "company": lead.company},
            region,
            owner_id=lead.owner_id,
            at=at,
        )
        linked = customer.id
    deal_id = None
    if deal is not None:
        new = deals.NewDeal(
            name=deal.name or lead.company or lead.name,
            customer_id=linked,  # type: ignore[arg-type]
            amount=deal.amount,
            currency=deal.currency,
            pipeline_id=deal.pipeline_id,
            stage_id=deal.stage_id,
            expected_close_date=deal.expected_close_date,
            owner_id=lead.owner_id,
        )
        made = await deals.create_deal(session, new, deal_sight, actor, (*at, "deal"))
        deal_id = made.id
    lead.status = CONVERTED
    lead.converted_customer_id, lead.converted_deal_id = linked, deal_id
    lead.converted_at = utcnow()
    _touch(lead)
    await session.flush()
    payload = {
        **lead_payload(lead),
        "customerId": to_global_id("Customer", linked),  # type: ignore[arg-type]
        "createdCustomer": created,
        "dealId": to_global_id("Deal", deal_id) if deal_id else None,
    }
    await emit(session, "lead.converted", LEAD, lead.id, payload)
    found = [(c.customer.id, c.score, [r.message for r in c.reasons]) for c in candidates]
    return Conversion(lead.id, linked, created, found, deal_id)  # type: ignore[arg-type]


async def merge(session: AsyncSession, survivor_id: int, merged_ids: list[int]) -> dict[str, int]:
    """Customer merge: leads converted into, and tasks about, merged customers follow."""
    leads = await session.execute(
        update(SalesLead)
        .where(SalesLead.converted_customer_id.in_(merged_ids))
        .values(converted_customer_id=survivor_id)
        .execution_options(synchronize_session=False)
    )
    tasks = await session.execute(
        update(SalesTask)
        .where(SalesTask.about_customer_id.in_(merged_ids))
        .values(about_customer_id=survivor_id)
        .execution_options(synchronize_session=False)
    )
    return {"leads": leads.rowcount or 0, "tasks": tasks.rowcount or 0}
