"""``crm-graph demo``: deterministic, idempotent, valid demo data, with the structure the
analytics models rely on (favourite categories, baskets, buying rhythm, churn)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

import crm_analytics
from crm_graph.db.engine import create_engine
from crm_graph.db.migrate import upgrade
from crm_graph.db.models import Customer, Interaction, Order, OrderLine, Product
from crm_graph.demo import NOW, seed_demo
from crm_graph.domain.errors import Collector
from crm_graph.domain.interactions import CHANNELS
from crm_graph.domain.orders import STATUSES
from crm_graph.domain.values import normalise_email, normalise_phone
from crm_graph.plugins_manager import create_plugin_manager
from crm_graph.settings import Settings
from crm_graph.testing import app_client

COMPLAINTS = ("damaged", "Where is my order", "Refund request", "Charged twice", "Complaint")


async def _migrated(url: str) -> AsyncEngine:
    engine = create_engine(url)
    await upgrade(engine, create_plugin_manager(Settings(database_url=url, plugins=[])))
    return engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await _migrated(database_url)
    yield engine
    await engine.dispose()


async def _rows(engine: AsyncEngine, statement: Any) -> list[Any]:
    async with engine.connect() as connection:
        return list(await connection.execute(statement))


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    counts = {}
    for model in (Customer, Product, Order, OrderLine, Interaction):
        [(count,)] = await _rows(engine, select(func.count()).select_from(model))
        counts[model.__tablename__] = count
    return counts


async def test_seed_writes_the_stated_volumes_of_valid_rows(engine: AsyncEngine) -> None:
    summary = await seed_demo(engine, customers=40)

    counts = await _counts(engine)
    assert counts["customer"] == 40 and counts["order"] == 320 and counts["interaction"] == 400
    assert 60 <= counts["product"] <= 120
    for text in ("40 customers", "320 orders", "400 interactions", f"{counts['product']} products"):
        assert text in summary
    assert "\n" not in summary

    totals = await _rows(
        engine,
        select(Order.total, func.sum(OrderLine.unit_price * OrderLine.quantity), func.count())
        .join(OrderLine, OrderLine.order_id == Order.id)
        .group_by(Order.id, Order.total),
    )
    assert len(totals) == 320
    assert all(Decimal(total) == Decimal(lines) for total, lines, _ in totals)
    assert {n for *_, n in totals} <= {1, 2, 3, 4, 5}

    customers = await _rows(engine, select(Customer))
    errors = Collector()
    for c in customers:
        assert c.email is None or normalise_email(c.email, errors) == c.email == c.email.lower()
        assert c.phone is None or normalise_phone(c.phone, "US", errors) == c.phone
        assert NOW - timedelta(days=730) <= c.created_at < NOW
    assert not errors.errors
    assert sum(c.email is not None for c in customers) >= 35

    orders = await _rows(
        engine,
        select(Order.status, Order.placed_at, Customer.created_at).join(
            Customer, Customer.id == Order.customer_id
        ),
    )
    assert {status for status, *_ in orders} <= set(STATUSES)
    assert all(joined <= placed < NOW for _, placed, joined in orders)


async def test_same_seed_same_rows_on_any_database_and_reseeding_adds_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    other = await _migrated(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    try:
        await seed_demo(engine, customers=25, seed=3)
        await seed_demo(other, customers=25, seed=3)
        customer_columns = (Customer.external_id, Customer.name, Customer.email, Customer.phone)
        order_columns = (Order.number, Order.status, Order.total, Order.placed_at)
        for columns in (customer_columns, order_columns):
            here = await _rows(engine, select(*columns).order_by(columns[0]))
            there = await _rows(other, select(*columns).order_by(columns[0]))
            assert [tuple(r) for r in here] == [tuple(r) for r in there]
        assert here[0].number == "DEMO-000001"

        before = await _counts(engine)
        again = await seed_demo(engine, customers=25, seed=3)
        assert "already present" in again
        assert await _counts(engine) == before
    finally:
        await other.dispose()


async def test_demo_data_is_served_by_the_api(settings: Settings) -> None:
    async with app_client(settings, plugins=[]) as client:
        await seed_demo(client.app.state.crm.engine, customers=30)
        data = await client.data(
            """{ customers(first: 5) { totalCount nodes {
                externalId email lifecycleStage
                orders(first: 3) { totalCount nodes {
                  number total { amount currency }
                  lines { quantity lineTotal { amount } product { sku category } } } }
                interactions(first: 2) { nodes { channel direction subject occurredAt } } } } }"""
        )
    customers = data["customers"]
    assert customers["totalCount"] == 30
    assert customers["nodes"][0]["externalId"] == "demo-0030"  # newest first
    orders = [o for c in customers["nodes"] for o in c["orders"]["nodes"]]
    assert orders
    for order in orders:
        assert order["total"]["currency"] == "USD"
        lines = sum(Decimal(line["lineTotal"]["amount"]) for line in order["lines"])
        assert Decimal(order["total"]["amount"]) == lines
        assert all(line["product"]["sku"].startswith("DEMO-") for line in order["lines"])


async def test_cli_demo_prints_a_one_line_summary(engine: AsyncEngine, database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crm_graph", "demo", "--customers", "12", "--seed", "5"],
        env={**os.environ, "CRM_DATABASE_URL": database_url, "CRM_PLUGINS": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "12 customers" in lines[0] and "96 orders" in lines[0]
    assert (await _counts(engine))["customer"] == 12


async def test_cli_demo_trains_the_analytics_models_so_their_fields_answer(
    settings: Settings,
) -> None:
    """``make demo`` used to leave every analytics field NOT_TRAINED."""
    async with app_client(settings, plugins=[crm_analytics]) as client:  # migrates its tables
        result = await asyncio.to_thread(  # the app under test keeps serving meanwhile
            subprocess.run,
            [sys.executable, "-m", "crm_graph", "demo", "--customers", "150", "--seed", "3"],
            env={
                **os.environ,
                "CRM_DATABASE_URL": settings.database_url,
                "CRM_PLUGINS": "analytics",
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert "analytics: trained: rfm, clv, churn" in result.stderr
        scores = await client.execute(
            "{ customers(first: 20) { nodes { id rfm { segment } churnRisk { band } } } }"
        )
        scored = [n for n in scores["data"]["customers"]["nodes"] if n["rfm"] is not None]
        # One customer's value per request: lifetimeValue's model module loads on first use.
        value = await client.execute(
            "query ($id: ID!) { customer(id: $id) { lifetimeValue { value { amount } } } }",
            {"id": scored[0]["id"]},
        )
    for answer in (scores, value):
        codes = {e["extensions"]["code"] for e in answer.get("errors", [])}
        assert "NOT_TRAINED" not in codes, answer["errors"]
    assert len(scored) > 10 and all(n["churnRisk"] is not None for n in scored)
    assert Decimal(value["data"]["customer"]["lifetimeValue"]["value"]["amount"]) >= 0


async def test_default_demo_has_structure_for_analytics(engine: AsyncEngine) -> None:
    """What the analytics plugin's models are meant to find must be in the data."""
    await seed_demo(engine)
    customers = {c.id: c for c in await _rows(engine, select(Customer))}
    assert len(customers) == 400
    orders = await _rows(
        engine, select(Order.id, Order.customer_id, Order.placed_at).order_by(Order.placed_at)
    )
    assert len(orders) == 3200
    lines = await _rows(
        engine,
        select(OrderLine.order_id, OrderLine.product_id, Product.category).join(
            Product, Product.id == OrderLine.product_id
        ),
    )
    interactions = await _rows(
        engine, select(Interaction.customer_id, Interaction.channel, Interaction.subject)
    )
    assert len(interactions) == 4000
    assert {channel for _, channel, _ in interactions} == set(CHANNELS)

    by_order = defaultdict(list)
    for order_id, product_id, category in lines:
        by_order[order_id].append((product_id, category))
    history: dict[int, list[Any]] = defaultdict(list)
    for order in orders:
        history[order.customer_id].append(order)

    # Favourite categories: regular buyers spend most lines in their top two categories.
    shares = []
    for customer_orders in history.values():
        if len(customer_orders) >= 5:
            categories = Counter(c for o in customer_orders for _, c in by_order[o.id])
            top_two = sum(n for _, n in categories.most_common(2))
            shares.append(top_two / sum(categories.values()))
    assert np.mean(shares) > 0.7

    # Buying rhythm differs between customers (gamma-distributed rates).
    per_customer = np.array([len(v) for v in history.values()])
    assert per_customer.std() / per_customer.mean() > 0.5

    # Churn: who stops buying is predictable from recency before a cutoff ...
    cutoff = NOW - timedelta(days=90)
    recency, churned = [], []
    for customer_orders in history.values():
        before = [o.placed_at for o in customer_orders if o.placed_at < cutoff]
        if before:
            recency.append((cutoff - before[-1]).days)
            churned.append(all(o.placed_at < cutoff for o in customer_orders))
    assert 0.2 < np.mean(churned) < 0.8
    assert roc_auc_score(churned, recency) > 0.7

    # ... and churned customers complained far more than active ones.
    complaints = Counter(
        customer_id
        for customer_id, _, subject in interactions
        if any(word in subject for word in COMPLAINTS)
    )
    by_stage = defaultdict(list)
    for customer_id, customer in customers.items():
        by_stage[customer.lifecycle_stage].append(complaints[customer_id])
    assert np.mean(by_stage["churned"]) > 2 * np.mean(by_stage["customer"])

    # Baskets: item-item co-occurrence predicts the last order better than popularity.
    product_ids = sorted({p for p, _ in (x for v in by_order.values() for x in v)})
    column = {p: k for k, p in enumerate(product_ids)}
    repeaters = [c for c, v in history.items() if len(v) >= 2]
    seen = np.zeros((len(repeaters), len(product_ids)))
    held_out = []
    for row, customer_id in enumerate(repeaters):
        *earlier, last = history[customer_id]
        for order in earlier:
            for product_id, _ in by_order[order.id]:
                seen[row, column[product_id]] = 1
        held_out.append({column[p] for p, _ in by_order[last.id]})
    popularity = seen.sum(axis=0)
    norm = np.sqrt(popularity) + 1e-9
    similarity = (seen.T @ seen) / np.outer(norm, norm)
    np.fill_diagonal(similarity, 0)
    popular_top = set(np.argsort(-popularity)[:10].tolist())
    hits_popular = np.mean([bool(popular_top & want) for want in held_out])
    scores = seen @ similarity
    hits_item = np.mean(
        [
            bool(set(np.argsort(-s)[:10].tolist()) & want)
            for s, want in zip(scores, held_out, strict=True)
        ]
    )
    assert hits_item > hits_popular + 0.1
