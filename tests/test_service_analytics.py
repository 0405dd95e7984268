"""The service plugin feeds the analytics plugin's churn model through its customer-features
hook: on a fixture where tickets predict churn, the features show in ``churnRisk.factors``
and the churn backtest's ROC AUC is higher with the plugin than without it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

import crm_analytics
import crm_service
from crm_graph.db.migrate import upgrade
from crm_graph.demo import seed_demo
from crm_graph.plugin import AppContext, CustomerRow, OrderRow, open_app
from crm_graph.settings import Settings
from crm_graph.testing import app_client
from crm_service.models import Ticket, TicketStatusChange
from tests.test_analytics_api import _train

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW = timedelta(days=90)
FEATURES = [
    "service.last_csat",
    "service.open_tickets",
    "service.sla_breaches",
    "service.tickets_90d",
]


async def tickets_before_churn(app: AppContext) -> int:
    """An open ticket, two weeks before each cut-off the backtest and training use, for every
    customer who then bought nothing in the window after it: tickets predict churn."""
    async with app.write() as session:
        customers = list(await session.scalars(select(CustomerRow.id)))
        orders = list(await session.execute(select(OrderRow.customer_id, OrderRow.placed_at)))
        made = 0
        for cut in (AS_OF - 2 * WINDOW, AS_OF - WINDOW, AS_OF):
            bought = {c for c, at in orders if cut < at <= cut + WINDOW}
            for customer in customers:
                if customer in bought and cut != AS_OF:
                    continue
                if cut == AS_OF and customer % 3:
                    continue  # the scored customers: some with tickets now
                opened = cut - timedelta(days=14)
                ticket = Ticket(
                    customer_id=customer,
                    subject="Still waiting",
                    channel="EMAIL",
                    created_at=opened,
                    updated_at=opened,
                    status="OPEN",
                )
                session.add(ticket)
                await session.flush()
                session.add(TicketStatusChange(ticket_id=ticket.id, to_status="NEW", at=opened))
                session.add(
                    TicketStatusChange(
                        ticket_id=ticket.id, from_status="NEW", to_status="OPEN", at=opened
                    )
                )
                made += 1
    return made


def evaluate(database_url: str, plugins: str) -> float:
    done = subprocess.run(
        [sys.executable, "-m", "crm_graph", "analytics", "evaluate", "--as-of", "2026-11-01"],
        env={**os.environ, "CRM_DATABASE_URL": database_url, "CRM_PLUGINS": plugins},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return float(re.search(r"ROC AUC ([\d.]+)", done.stdout).group(1))


async def test_tickets_feed_the_churn_model_and_raise_its_backtest_auc(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'churn.db'}"
    settings = Settings(database_url=url, plugins=[], env="test")
    async with open_app(settings, plugins=[crm_analytics, crm_service]) as app:
        await upgrade(app.engine, app.plugins)
        await seed_demo(app.engine, customers=200, seed=11)
        assert await tickets_before_churn(app) > 20

    without = evaluate(url, "analytics")
    with_service = evaluate(url, "analytics,service")
    assert with_service > without, (with_service, without)

    async with app_client(settings, plugins=[crm_analytics, crm_service], migrate=False) as client:
        job = await _train(client)
        assert job["status"] == "SUCCEEDED", job
        features = (await client.data("{ analyticsModels }"))["analyticsModels"]["churn"][
            "features"
        ]
        assert sorted(f for f in features if f.startswith("service.")) == FEATURES
        data = await client.data(
            "{ customers(first: 100) { nodes { churnRisk { factors { name } } } } }"
        )
    named = {
        factor["name"]
        for node in data["customers"]["nodes"]
        if node["churnRisk"]
        for factor in node["churnRisk"]["factors"]
    }
    assert named & set(FEATURES), named
