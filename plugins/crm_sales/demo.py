"""Demo data (``crm-graph demo``): deals in every stage of the default pipeline, leads from
several sources, a company with contacts, and tasks, drawn from the demo's seed; a second run
adds nothing (everything it writes carries an external id or a known title)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from crm_graph.plugin import AppContext, UserRow
from crm_sales import companies, deals, leads, tasks
from crm_sales.scopes import EVERYTHING
from crm_sales.tables import SalesCompany, SalesDeal, SalesLead, SalesStage

SOURCES = ("web", "referral", "event", "partner", "advertising")
FIRST = ("Alex", "Sam", "Robin", "Kim", "Jo", "Lee", "Noa", "Max", "Ari", "Eli")
LAST = ("Berg", "Costa", "Dahl", "Ekström", "Fox", "Grant", "Hale", "Ivers", "Jung", "Kahn")


async def seed(app: AppContext, customer_ids: list[int], now: datetime, seed: int) -> str:
    rng = random.Random(seed)
    currency = app.settings.default_currency
    region = app.settings.default_phone_region
    async with app.write() as session:
        if await session.scalar(
            select(func.count(SalesDeal.id)).where(SalesDeal.external_id.like("demo-deal-%"))
        ):
            return "already seeded"
        users = select(UserRow.user_id).where(UserRow.active).order_by(UserRow.user_id).limit(5)
        owners: list[str | None] = [*await session.scalars(users)] or [None]
        stages = list(
            await session.scalars(
                select(SalesStage)
                .where(SalesStage.removed_at.is_(None))
                .order_by(SalesStage.pipeline_id, SalesStage.position)
            )
        )
        pipeline = stages[0].pipeline_id
        made = 0
        for index, stage in enumerate(s for s in stages if s.pipeline_id == pipeline):
            for n in range(3):
                customer = customer_ids[(index * 3 + n) % len(customer_ids)]
                created = now - timedelta(days=rng.randint(20, 200))
                closing = stage.kind != "open"
                new = deals.NewDeal(
                    name=f"Demo deal {index * 3 + n + 1}",
                    customer_id=customer,
                    amount=Decimal(rng.randrange(500, 50_000, 50)),
                    currency=currency,
                    pipeline_id=pipeline,
                    stage_id=None if closing else stage.id,
                    expected_close_date=(now + timedelta(days=rng.randint(-30, 120))).date(),
                    owner_id=rng.choice(owners),
                )
                deal = await deals.create_deal(session, new, EVERYTHING, None, when=created)
                deal.external_id = f"demo-deal-{index * 3 + n + 1}"
                if closing:
                    closed = created + timedelta(days=rng.randint(10, 19))
                    reason = "Went with a competitor" if stage.kind == "lost" else None
                    await deals.move_deal(
                        session,
                        deal.id,
                        stage.id,
                        EVERYTHING,
                        None,
                        lost_reason=reason,
                        when=closed,
                    )
                made += 1
        for n in range(12):
            name = f"{FIRST[n % len(FIRST)]} {LAST[(n * 3) % len(LAST)]}"
            await leads.create_lead(
                session,
                {
                    "name": name,
                    "email": f"{name.split()[0].lower()}.{n}@prospect.example",
                    "company": f"Prospect {n + 1}",
                    "source": SOURCES[n % len(SOURCES)],
                    "external_id": f"demo-lead-{n + 1}",
                },
                EVERYTHING,
                None,
                region,
                owner=rng.choice(owners),
            )
        company = await session.scalar(
            select(SalesCompany).where(SalesCompany.domain == "northwind.example")
        )
        if company is None:
            company = await companies.create_company(
                session,
                {
                    "name": "Northwind Traders",
                    "domain": "northwind.example",
                    "industry": "Retail",
                    "size": 250,
                },
                EVERYTHING,
                None,
            )
        for customer in customer_ids[:3]:
            await companies.link_contact(session, company.id, customer, EVERYTHING)  # type: ignore[arg-type]
        for n, customer in enumerate(customer_ids[:6]):
            await tasks.create_task(
                session,
                title=f"Follow up call {n + 1}",
                due_at=now + timedelta(days=n - 2),
                notes=None,
                owner_id=None,
                lead_id=None,
                deal_id=None,
                customer_id=customer,
                sights={"tasks": EVERYTHING, "leads": EVERYTHING, "deals": EVERYTHING},
                actor=None,
            )
        leads_made = await session.scalar(select(func.count(SalesLead.id)))
    return f"{made} deals in every stage, {leads_made} leads, 1 company, 6 tasks"
