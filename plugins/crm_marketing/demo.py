"""Demo data (``crm-graph demo``): two dynamic segments, a newsletter list, and a campaign sent
a month before the demo's end, with opens, clicks and the orders they brought. The campaign
is written as sent (its send log says so) without queueing real messages: a demo never
e-mails anybody. Running the demo again changes nothing."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from crm_graph.plugin import AppContext, CustomerRow, OrderRow
from crm_marketing import segments
from crm_marketing.campaigns import SENT
from crm_marketing.filters import PURCHASED
from crm_marketing.tables import DYNAMIC, STATIC, MarketingCampaign, MarketingSend, MarketingTouch

CAMPAIGN = "Spring newsletter (demo)"
NEWSLETTER = "Newsletter (demo)"
TEXT = "Hello {{ customer.first_name }},\nour spring collection is here.\n\nUnsubscribe: {{ unsubscribe_url }}"
HTML = (
    "<p>Hello {{ customer.first_name }},</p>"
    '<p>our <a href="https://shop.example/spring">spring collection</a> is here.</p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
)


async def seed(app: AppContext, seed: int, now: datetime, customer_ids: list[int]) -> str:
    rng = random.Random(seed)
    async with app.write() as session:
        if await session.scalar(
            select(MarketingCampaign.id).where(MarketingCampaign.name == CAMPAIGN)
        ):
            return "already seeded"
        context = segments.filter_context(app, True, now)
        await segments.create(
            session,
            app,
            context,
            name="Big spenders (demo)",
            description="Customers who spent 500 or more in the last year.",
            kind=DYNAMIC,
            tree={
                "condition": {
                    "field": "orders.totalSpent",
                    "operator": "gte",
                    "value": 500,
                    "days": 365,
                }
            },
        )
        await segments.create(
            session,
            app,
            context,
            name="Lapsed buyers (demo)",
            description="Bought before, but not in the last 90 days.",
            kind=DYNAMIC,
            tree={
                "and": [
                    {"condition": {"field": "orders.count", "operator": "gte", "value": 1}},
                    {
                        "condition": {
                            "field": "orders.lastOrderedAt",
                            "operator": "notInLastDays",
                            "value": 90,
                        }
                    },
                ]
            },
        )
        newsletter = await segments.create(
            session,
            app,
            context,
            name=NEWSLETTER,
            description="Signed up at the till.",
            kind=STATIC,
            tree=None,
        )
        with_email = list(
            await session.scalars(
                select(CustomerRow.id).where(
                    CustomerRow.id.in_(customer_ids), CustomerRow.email.is_not(None)
                )
            )
        )
        members = sorted(rng.sample(with_email, min(len(with_email), 300)))
        await segments.add_members(session, newsletter, members)

        sent_at = now - timedelta(days=30)
        campaign = MarketingCampaign(
            name=CAMPAIGN,
            segment_id=newsletter.id,  # type: ignore[arg-type]
            subject="{{ customer.first_name }}, spring is here",
            sender="Shop <news@shop.example>",
            text_template=TEXT,
            html_template=HTML,
            status=SENT,
            cost=Decimal(250),
            currency=app.settings.default_currency,
            scheduled_at=sent_at,
            started_at=sent_at,
            finished_at=sent_at,
            created_at=sent_at - timedelta(days=2),
        )
        session.add(campaign)
        await session.flush()
        # Buyers in the week after the send: the click that brought them, an hour in.
        buyers = set(
            await session.scalars(
                select(OrderRow.customer_id).where(
                    OrderRow.customer_id.in_(members),
                    OrderRow.status.in_(PURCHASED),
                    OrderRow.placed_at > sent_at + timedelta(hours=2),
                    OrderRow.placed_at <= sent_at + timedelta(days=6),
                )
            )
        )
        touches = 0
        for customer_id in members:
            send = MarketingSend(
                campaign_id=campaign.id,  # type: ignore[arg-type]
                customer_id=customer_id,
                status="sent",
                created_at=sent_at,
                delivered_at=sent_at,
            )
            session.add(send)
            await session.flush()
            opened = customer_id in buyers or rng.random() < 0.35
            clicked = customer_id in buyers or (opened and rng.random() < 0.3)
            for kind, hours, url in (
                ("open", 1, None),
                ("click", 1.5, "https://shop.example/spring"),
            ):
                if (kind == "open" and opened) or (kind == "click" and clicked):
                    touches += 1
                    session.add(
                        MarketingTouch(
                            send_id=send.id,  # type: ignore[arg-type]
                            campaign_id=campaign.id,  # type: ignore[arg-type]
                            customer_id=customer_id,
                            kind=kind,
                            url=url,
                            occurred_at=sent_at + timedelta(hours=hours),
                        )
                    )
    return f"3 segments, a campaign to {len(members)} customers with {touches} opens and clicks"
