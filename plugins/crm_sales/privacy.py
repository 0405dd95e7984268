"""GDPR access and erasure of what the sales plugin holds about one customer: the leads it
came from, its deals with their quotes (addressed to a contact: personal data), the tasks
about it, its deals or its leads, and its company (account) link.

Deals and quotes are business records, like core orders: erasure keeps them and removes the
personal data in them (a quote's contact, a task's notes); the leads it came from keep their
status, counted in conversion figures, without name or contact details.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import money, to_global_id
from crm_sales.quotes import lines_of
from crm_sales.tables import (
    SalesCompany,
    SalesCompanyContact,
    SalesDeal,
    SalesLead,
    SalesQuote,
    SalesQuoteLine,
    SalesTask,
)


def _deal_ids(customer_id: int) -> Any:
    return select(SalesDeal.id).where(SalesDeal.customer_id == customer_id)


def _lead_ids(customer_id: int) -> Any:
    return select(SalesLead.id).where(SalesLead.converted_customer_id == customer_id)


def _about(customer_id: int) -> Any:
    """Tasks about the customer, one of its deals or a lead it came from."""
    return or_(
        SalesTask.about_customer_id == customer_id,
        SalesTask.deal_id.in_(_deal_ids(customer_id)),
        SalesTask.lead_id.in_(_lead_ids(customer_id)),
    )


async def export(session: AsyncSession, customer_id: int) -> dict[str, Any]:
    """Everything above, as the customer may read it (``exportCustomerData``)."""
    leads = await session.scalars(
        select(SalesLead).where(SalesLead.converted_customer_id == customer_id)
    )
    found = await session.scalars(
        select(SalesDeal).where(SalesDeal.customer_id == customer_id).order_by(SalesDeal.id)
    )
    quotes = list(
        await session.scalars(
            select(SalesQuote)
            .where(SalesQuote.deal_id.in_(_deal_ids(customer_id)))
            .order_by(SalesQuote.id)
        )
    )
    lines = await lines_of(session, [q.id for q in quotes])  # type: ignore[misc]
    tasks = await session.scalars(
        select(SalesTask).where(_about(customer_id)).order_by(SalesTask.id)
    )
    company = await session.scalar(
        select(SalesCompany)
        .join(SalesCompanyContact, SalesCompanyContact.company_id == SalesCompany.id)
        .where(SalesCompanyContact.customer_id == customer_id)
    )
    return {
        "leads": [
            {
                "name": lead.name,
                "company": lead.company,
                "email": lead.email,
                "phone": lead.phone,
                "source": lead.source,
                "attributes": lead.attributes,
                "createdAt": lead.created_at.isoformat(),
            }
            for lead in leads
        ],
        "deals": [
            {
                "id": to_global_id("Deal", d.id),  # type: ignore[arg-type]
                "name": d.name,
                "amount": _amount(d.amount, d.currency),
                "currency": d.currency,
                "status": d.status,
            }
            for d in found
        ],
        "quotes": [_quote(q, lines[q.id]) for q in quotes],  # type: ignore[index]
        "tasks": [
            {"title": t.title, "notes": t.notes, "dueAt": t.due_at.isoformat()} for t in tasks
        ],
        "company": None if company is None else {"name": company.name, "domain": company.domain},
    }


def _amount(amount: Decimal, currency: str) -> str:
    """As the API shows it: to the currency's minor unit."""
    return str(money(amount, currency).amount)


def _quote(quote: SalesQuote, lines: list[SalesQuoteLine]) -> dict[str, Any]:
    return {
        "dealId": to_global_id("Deal", quote.deal_id),
        "status": quote.status,
        "contactName": quote.contact_name,
        "contactEmail": quote.contact_email,
        "validUntil": quote.valid_until.isoformat() if quote.valid_until else None,
        "currency": quote.currency,
        "total": _amount(quote.total, quote.currency),
        "lines": [
            {
                "productId": to_global_id("Product", line.product_id),
                "quantity": line.quantity,
                "unitPrice": _amount(line.unit_price, quote.currency),
                "net": _amount(line.net, quote.currency),
            }
            for line in lines
        ],
    }


async def erase(session: AsyncSession, customer_id: int) -> None:
    """The leads it came from lose their personal data, the tasks about it (its deals, its
    leads) their notes, its deals' quotes their contact; its company link goes."""
    await session.execute(
        update(SalesTask)
        .where(_about(customer_id))
        .values(notes=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(SalesLead)
        .where(SalesLead.converted_customer_id == customer_id)
        .values(name="erased", company=None, email=None, phone=None, attributes={})
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(SalesQuote)
        .where(SalesQuote.deal_id.in_(_deal_ids(customer_id)))
        .values(contact_name=None, contact_email=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(SalesCompanyContact).where(SalesCompanyContact.customer_id == customer_id)
    )
