"""Companies (accounts) for B2B selling: a company's contacts are customers linked to it (one
company per customer), suggested by e-mail domain and never linked without being asked."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    Collector,
    CustomerRow,
    check_version,
    clean_text,
    emit,
    fail,
    utcnow,
)
from crm_sales import deals
from crm_sales.scopes import Sight
from crm_sales.tables import SalesCompany, SalesCompanyContact, SalesDeal
from crm_sales.values import FREE_MAIL, check_attributes, like_pattern

COMPANY = "Company"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def check_company(fields: dict[str, Any], errors: Collector, at: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "name":
            out[key] = clean_text(value, errors, *at, "name", max_length=300, required=True)
        elif key == "domain":
            text = clean_text(value, errors, *at, "domain", max_length=253)
            domain = text.lower().removeprefix("www.") if text else None
            if domain is not None and not _DOMAIN.match(domain):
                errors.add("INVALID_DOMAIN", "not a domain name (example.com)", *at, "domain")
            out[key] = domain
        elif key == "industry":
            out[key] = clean_text(value, errors, *at, "industry", max_length=100)
        elif key == "size":
            if value is not None and not 0 < value < 10_000_000:
                errors.add("INVALID_VALUE", "employees: 1 or more", *at, "size")
            out[key] = value
        elif key == "attributes":
            out[key] = check_attributes(value, errors, *at, "attributes")
        elif key == "owner_id":
            out[key] = value
        else:
            raise ValueError(f"unknown company field {key!r}")
    return out


async def create_company(
    session: AsyncSession,
    fields: dict[str, Any],
    sight: Sight,
    actor: str | None,
    at: tuple[str, ...] = ("input",),
) -> SalesCompany:
    errors = Collector()
    values = check_company({"name": None, **fields}, errors, at)
    owner = values.pop("owner_id", None) or actor
    if owner is not None:
        await deals.check_owner(session, owner, sight, errors, *at, "ownerId")
    await _check_domain(session, values.get("domain"), None, errors, at)
    errors.check()
    company = SalesCompany(**values, owner_id=owner)
    session.add(company)
    await session.flush()
    await emit(session, "company.created", COMPANY, company.id, company_payload(company))
    return company


async def update_company(
    session: AsyncSession,
    company_id: int,
    changes: dict[str, Any],
    sight: Sight,
    expected_version: int | None = None,
    at: tuple[str, ...] = ("input",),
) -> SalesCompany:
    """Change a company's details; a new owner must be a user within the caller's scope, a
    new domain no other company's. Emits ``company.updated``."""
    company = await sight.find(session, SalesCompany, company_id, "company", *at, "id")
    check_version(company, expected_version)
    errors = Collector()
    values = check_company(changes, errors, at)
    if values.get("owner_id") is not None:
        await deals.check_owner(session, values["owner_id"], sight, errors, *at, "ownerId")
    await _check_domain(session, values.get("domain"), company.id, errors, at)
    errors.check()
    for key, value in values.items():
        setattr(company, key, value)
    company.version += 1
    company.updated_at = utcnow()
    await session.flush()
    await emit(session, "company.updated", COMPANY, company.id, company_payload(company))
    return company


async def _check_domain(
    session: AsyncSession,
    domain: str | None,
    company_id: int | None,
    errors: Collector,
    at: tuple[str, ...],
) -> None:
    """A domain names one company: another's is a ``DUPLICATE``."""
    if not domain:
        return
    taken = select(SalesCompany.id).where(
        SalesCompany.domain == domain, SalesCompany.id != (company_id or 0)
    )
    if await session.scalar(taken) is not None:
        errors.add("DUPLICATE", "another company has this domain", *at, "domain")


def company_payload(company: SalesCompany) -> dict[str, Any]:
    return {"name": company.name, "ownerId": company.owner_id, "version": company.version}


def company_select(
    sight: Sight,
    owner_ids: list[str] | None = None,
    industry: str | None = None,
    search: str | None = None,
) -> Any:
    """The companies the caller sees, by owner, industry or part of name or domain."""
    statement = select(SalesCompany).where(sight.where(SalesCompany.owner_id))
    if owner_ids is not None:
        statement = statement.where(SalesCompany.owner_id.in_(owner_ids))
    if industry is not None:
        statement = statement.where(SalesCompany.industry == industry)
    if search:
        pattern = like_pattern(search)
        statement = statement.where(
            or_(
                SalesCompany.name.ilike(pattern, escape="\\"),
                SalesCompany.domain.ilike(pattern, escape="\\"),
            )
        )
    return statement


async def link_contact(
    session: AsyncSession,
    company_id: int,
    customer_id: int,
    sight: Sight,
    at: tuple[str, ...] = ("input",),
) -> SalesCompany:
    """Make the customer a contact of the company (moving it from another company)."""
    company = await sight.find(session, SalesCompany, company_id, "company", *at, "companyId")
    await deals.live_customer(session, customer_id, *at, "customerId")
    link = await session.scalar(
        select(SalesCompanyContact).where(SalesCompanyContact.customer_id == customer_id)
    )
    if link is None:
        session.add(SalesCompanyContact(company_id=company.id, customer_id=customer_id))
    else:
        link.company_id = company.id  # type: ignore[assignment]
    await session.flush()
    return company


async def unlink_contact(
    session: AsyncSession, customer_id: int, at: tuple[str, ...] = ("input",)
) -> None:
    await deals.live_customer(session, customer_id, *at, "customerId")
    link = await session.scalar(
        select(SalesCompanyContact).where(SalesCompanyContact.customer_id == customer_id)
    )
    if link is None:
        raise fail("NOT_FOUND", "the customer is no company's contact", *at, "customerId")
    await session.delete(link)
    await session.flush()


def email_domain(email: str | None) -> str | None:
    """The domain of a business address (``None`` for free mail providers)."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].lower()
    return None if domain in FREE_MAIL else domain


async def suggested_contacts(
    session: AsyncSession, companies: list[SalesCompany], limit: int = 20
) -> dict[int, list[CustomerRow]]:
    """Per company, live customers with an address at its domain that are no company's
    contact yet: suggestions, never links."""
    found: dict[int, list[CustomerRow]] = {c.id: [] for c in companies}  # type: ignore[misc]
    by_domain = {c.domain: c.id for c in companies if c.domain}
    if not by_domain:
        return found
    linked = select(SalesCompanyContact.customer_id)
    statement = (
        select(CustomerRow)
        .where(
            CustomerRow.deleted_at.is_(None),
            CustomerRow.email.is_not(None),
            or_(*[CustomerRow.email.like(f"%@{domain}") for domain in sorted(by_domain)]),
            CustomerRow.id.not_in(linked),
        )
        .order_by(CustomerRow.id)
    )
    for customer in await session.scalars(statement):
        company = by_domain.get(email_domain(customer.email))
        if company is not None and len(found[company]) < limit:
            found[company].append(customer)
    return found


async def contacts_of(
    session: AsyncSession, company_ids: list[int]
) -> dict[int, list[CustomerRow]]:
    """Each company's live contacts, by name (one statement)."""
    found: dict[int, list[CustomerRow]] = {pk: [] for pk in company_ids}
    rows = await session.execute(
        select(SalesCompanyContact.company_id, CustomerRow)
        .join(CustomerRow, CustomerRow.id == SalesCompanyContact.customer_id)
        .where(SalesCompanyContact.company_id.in_(company_ids), CustomerRow.deleted_at.is_(None))
        .order_by(CustomerRow.name, CustomerRow.id)
    )
    for company_id, customer in rows:
        found[company_id].append(customer)
    return found


async def deals_of(
    session: AsyncSession, company_ids: list[int], sight: Sight
) -> list[tuple[int, SalesDeal]]:
    """(company id, deal) for the deals of the companies' contacts within ``sight``, newest
    first."""
    rows = await session.execute(
        select(SalesCompanyContact.company_id, SalesDeal)
        .join(SalesDeal, SalesDeal.customer_id == SalesCompanyContact.customer_id)
        .where(SalesCompanyContact.company_id.in_(company_ids), sight.where(SalesDeal.owner_id))
        .order_by(SalesDeal.created_at.desc(), SalesDeal.id.desc())
    )
    return [(company_id, deal) for company_id, deal in rows]


async def companies_of(
    session: AsyncSession, customer_ids: list[int], sight: Sight
) -> dict[int, SalesCompany]:
    """The company each customer is a contact of, where ``sight`` sees it."""
    rows = await session.execute(
        select(SalesCompanyContact.customer_id, SalesCompany)
        .join(SalesCompany, SalesCompany.id == SalesCompanyContact.company_id)
        .where(
            SalesCompanyContact.customer_id.in_(customer_ids), sight.where(SalesCompany.owner_id)
        )
    )
    return {customer_id: company for customer_id, company in rows}


async def merge(session: AsyncSession, survivor_id: int, merged_ids: list[int]) -> int:
    """Customer merge: the survivor keeps its company; without one it takes a merged
    customer's; the merged customers' other links go."""
    kept = await session.scalar(
        select(SalesCompanyContact.id).where(SalesCompanyContact.customer_id == survivor_id)
    )
    moved = 0
    if kept is None:
        first = await session.scalar(
            select(SalesCompanyContact)
            .where(SalesCompanyContact.customer_id.in_(merged_ids))
            .order_by(SalesCompanyContact.id)
            .limit(1)
        )
        if first is not None:
            await session.execute(
                update(SalesCompanyContact)
                .where(SalesCompanyContact.id == first.id)
                .values(customer_id=survivor_id)
                .execution_options(synchronize_session=False)
            )
            moved = 1
    await session.execute(
        delete(SalesCompanyContact).where(SalesCompanyContact.customer_id.in_(merged_ids))
    )
    return moved
