"""Benchmark: import generated order rows (default 1,000,000) into SQLite and PostgreSQL.

    .venv/bin/python bench/import.py [--rows N] [--databases sqlite,postgresql]

The orders file has 1 to 5 rows per order (one per line), 20,000 customers (created from
the references, as a first import from another system does) and 500 products (imported
first, not timed). Each database runs in its own process, through the same code as
``crm-graph import orders``, events included (one per order and per customer created); we
print rows/s, the CPU seconds of the importing process (all its threads: the machine may be
shared, and wall time then says little), the events written and the process's peak memory
(max RSS). Goals: SQLite >= 50,000 rows/s, PostgreSQL >= 100,000 rows/s, peak memory < 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ADMIN_DSN = os.environ.get(
    "CRM_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
CUSTOMERS, PRODUCTS = 20_000, 500
COLUMNS = [
    "order_number",
    "customer_external_id",
    "placed_at",
    "total",
    "currency",
    "sku",
    "quantity",
    "unit_price",
    "status",
]
STATUSES = ["pending", "paid", "fulfilled", "cancelled", "refunded"]


def generate(directory: Path, rows: int, seed: int = 7) -> tuple[Path, Path]:
    """Write the products file and an orders file of exactly ``rows`` rows."""
    rng = random.Random(seed)
    prices = {f"SKU-{i:04d}": Decimal(rng.randrange(100, 20_000)) / 100 for i in range(PRODUCTS)}
    products = directory / "products.csv"
    with products.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["sku", "name", "price", "currency"])
        out.writerows([sku, f"Product {sku}", price, "USD"] for sku, price in prices.items())
    skus = list(prices)
    orders = directory / "orders.csv"
    start = datetime(2020, 1, 1, tzinfo=UTC)
    with orders.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        written, number = 0, 0
        while written < rows:
            number += 1
            size = min(rng.randint(1, 5), rows - written)
            lines = [(rng.choice(skus), rng.randint(1, 4)) for _ in range(size)]
            total = sum(prices[sku] * qty for sku, qty in lines)
            when = start + timedelta(minutes=rng.randrange(2_500_000))
            placed = when.strftime("%Y%m%d") if number % 4 == 0 else when.isoformat()
            customer = f"C{rng.randrange(CUSTOMERS):06d}"
            status = rng.choice(STATUSES)
            for sku, qty in lines:
                out.writerow(
                    [
                        f"B{number:08d}",
                        customer,
                        placed,
                        total,
                        "USD",
                        sku,
                        qty,
                        prices[sku],
                        status,
                    ]
                )
            written += size
    return products, orders


async def _import(url: str, products: Path, orders: Path) -> dict[str, float]:
    from sqlalchemy import func, select

    from crm_graph.db.engine import create_engine, read_session
    from crm_graph.db.migrate import upgrade
    from crm_graph.events.models import EventRecord
    from crm_graph.io.importer import ImportOptions, run_import
    from crm_graph.plugins_manager import create_plugin_manager
    from crm_graph.settings import Settings

    settings = Settings(database_url=url, plugins=[])
    engine = create_engine(url)
    try:
        await upgrade(engine, create_plugin_manager(settings, []))
        await run_import(engine, settings, ImportOptions("products", products, "csv"))
        started, cpu = time.perf_counter(), time.process_time()
        summary = await run_import(engine, settings, ImportOptions("orders", orders, "csv"))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        async with read_session(engine) as session:
            events = await session.scalar(select(func.count()).select_from(EventRecord))
    finally:
        await engine.dispose()
    assert summary.rejected == 0, summary
    return {
        "rows": summary.rows,
        "orders": summary.inserted,
        "customers": summary.created_customers,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "events": events,
        "rows_per_s": summary.rows / seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child(url: str, products: Path, orders: Path) -> None:
    print(json.dumps(asyncio.run(_import(url, products, orders))))


async def _admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def run(database: str, directory: Path, products: Path, orders: Path) -> dict[str, float]:
    """One database, in a fresh process (so peak memory is this import's alone)."""
    name = f"crm_bench_{uuid.uuid4().hex[:8]}"
    if database == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / 'bench.db'}"
    else:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        url = f"{ADMIN_DSN.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", url, str(products), str(orders)],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        if database == "postgresql":
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--child", nargs=3, metavar=("URL", "PRODUCTS", "ORDERS"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        products, orders = generate(directory, args.rows)
        size = orders.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} order rows ({size:.0f} MB) in {time.perf_counter() - started:.1f} s"
        )
        print(
            "| database | rows | orders | customers created | events | seconds | CPU seconds "
            "| rows/s | peak memory | load average before, after |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for database in args.databases.split(","):
            before = os.getloadavg()[0]
            r = run(database, directory, products, orders)
            print(
                f"| {database} | {r['rows']:,} | {r['orders']:,} | {r['customers']:,} "
                f"| {r['events']:,} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} "
                f"| {r['rows_per_s']:,.0f} | {r['peak_mb']:.0f} MB "
                f"| {before:.1f}, {os.getloadavg()[0]:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
