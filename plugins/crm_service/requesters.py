"""The customer behind an e-mail address, for the ways tickets come in without an API key (a
web form, an e-mail): the customer the core's duplicate rules say has that address, or a new
one, so that no request for help is dropped for want of a customer record."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import AppContext, CustomerRow, create_customer, find_duplicates


async def customer_for(
    session: AsyncSession, app: AppContext, name: str, email: str
) -> CustomerRow:
    """The customer whose e-mail address ``email`` is (as the core compares addresses), else a
    new customer named ``name`` with that address."""
    region = app.settings.default_phone_region
    found = await find_duplicates(session, email=email, region=region, limit=5, at=())
    same = [c.customer for c in found if any(r.code == "EMAIL" for r in c.reasons)]
    if same:
        return same[0]
    return await create_customer(session, {"name": name, "email": email}, region, at=())
