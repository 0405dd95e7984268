"""Benchmark: import generated order rows (default 1,000,000) into SQLite and PostgreSQL.

    .venv/bin/python bench/import.py [--rows N] [--customers N] [--databases sqlite,postgresql]

The orders file has 1 to 5 rows per order (one per line), naming 20,000 customers (or
``--customers``; created from the references, as a first import from another system does) and
500 products (imported first, not timed). Each database runs in its own process, through the
same code as ``crm-graph import orders``, events included (one per order and per customer
created); we print rows/s, the CPU seconds of the importing process and of the process reading
the file ahead of it (all their threads: the machine may be shared, and wall time then says
little), the events written and the peak memory of those processes together (their PSS summed,
sampled every 50 ms by this process, and never below the importing process's own max RSS). For
PostgreSQL on this machine we also print its server's CPU seconds during the import (all its
processes, from ``/proc``; nothing else should use that server meanwhile): the import's whole
CPU cost per row is the two together. Goals: SQLite >= 50,000 rows/s, PostgreSQL >= 100,000
rows/s, peak memory < 300 MB.

``--floor`` also measures what the database alone costs for the same rows: the tables the
import wrote are copied into a fresh database with the same schema, constraints and indexes,
one statement per table and no Python per row (PostgreSQL: binary ``COPY``; SQLite:
``INSERT ... SELECT`` from the imported file). No import of those rows can be faster.
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
import threading
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
WRITTEN = ["customer", "product", "order", "order_line", "event_log"]  # in foreign-key order


def generate(
    directory: Path, rows: int, seed: int = 7, customers: int = CUSTOMERS
) -> tuple[Path, Path]:
    """Write the products file and an orders file of exactly ``rows`` rows, naming
    ``customers`` customers."""
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
            customer = f"C{rng.randrange(customers):06d}"
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


async def _import(url: str, products: Path, orders: Path, floor: bool) -> dict[str, float]:
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
        server = _postgres_cpu() if url.startswith("postgresql") else None
        started, cpu = time.perf_counter(), time.process_time()
        summary = await run_import(engine, settings, ImportOptions("orders", orders, "csv"))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if server is not None:
            server = _postgres_cpu() - server
        async with read_session(engine) as session:
            events = await session.scalar(select(func.count()).select_from(EventRecord))
    finally:
        await engine.dispose()
    assert summary.rejected == 0, summary
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the floor's
    return {
        "floor_seconds": await _floor(url) if floor else None,
        "rows": summary.rows,
        "orders": summary.inserted,
        "customers": summary.created_customers,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "server_cpu_seconds": server,
        "events": events,
        "rows_per_s": summary.rows / seconds,
        "peak_mb": peak_mb,
    }


def _postgres_cpu() -> float | None:
    """CPU seconds of every PostgreSQL process on this machine so far (the server's background
    processes, and through the postmaster's children's time, the connections that ended), or
    None when none is visible: the server then runs elsewhere."""
    ticks, seen = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # it has just ended
        name, fields = text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1].split()
        if name == "postgres":
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
            seen = True
    return ticks / os.sysconf("SC_CLK_TCK") if seen else None


async def _floor(url: str) -> float:
    """Seconds the database takes to write the imported rows again into an empty copy of
    the schema, one statement per table."""
    from crm_graph.db.engine import create_engine
    from crm_graph.db.migrate import upgrade
    from crm_graph.plugins_manager import create_plugin_manager
    from crm_graph.settings import Settings

    if url.startswith("sqlite"):
        source = url.split(":///", 1)[1]
        copy_url = f"sqlite+aiosqlite:///{source}.floor"
    else:
        source_db = url.rsplit("/", 1)[1]
        await _admin(f'CREATE DATABASE "{source_db}_floor"')
        copy_url = f"{url}_floor"
    engine = create_engine(copy_url)
    try:
        await upgrade(engine, create_plugin_manager(Settings(database_url=copy_url), []))
    finally:
        await engine.dispose()
    if url.startswith("sqlite"):
        return _sqlite_floor(source, f"{source}.floor")
    try:
        return await _postgresql_floor(url, copy_url)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{source_db}_floor" WITH (FORCE)')


def _sqlite_floor(source: str, copy: str) -> float:
    import sqlite3

    connection = sqlite3.connect(copy, isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
        connection.execute(f"PRAGMA {pragma}")
    connection.execute("ATTACH ? AS imported", (source,))
    started = time.perf_counter()
    for table in WRITTEN:
        connection.execute("BEGIN")
        connection.execute(f'INSERT INTO main."{table}" SELECT * FROM imported."{table}"')
        connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


async def _postgresql_floor(url: str, copy_url: str) -> float:
    import asyncpg

    source = await asyncpg.connect(url.replace("+asyncpg", ""))
    target = await asyncpg.connect(copy_url.replace("+asyncpg", ""))
    try:
        seconds = 0.0
        with tempfile.TemporaryDirectory() as tmp:
            for table in WRITTEN:
                rows = Path(tmp) / table
                await source.copy_from_table(table, output=rows, format="binary")
                started = time.perf_counter()
                await target.copy_to_table(table, source=rows, format="binary")
                seconds += time.perf_counter() - started
        return seconds
    finally:
        await source.close()
        await target.close()


def child(url: str, products: Path, orders: Path, floor: bool) -> None:
    print(json.dumps(asyncio.run(_import(url, products, orders, floor))))


async def _admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def run(
    database: str, directory: Path, products: Path, orders: Path, floor: bool
) -> dict[str, float]:
    """One database, in a fresh process (so peak memory is this import's alone)."""
    name = f"crm_bench_{uuid.uuid4().hex[:8]}"
    if database == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / 'bench.db'}"
    else:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        url = f"{ADMIN_DSN.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    command = [sys.executable, __file__, *(["--floor"] if floor else []), "--child", url]
    try:
        with (
            subprocess.Popen(
                [*command, str(products), str(orders)], stdout=subprocess.PIPE, text=True
            ) as process,
            Sampler(process.pid) as sampler,
        ):
            out, _ = process.communicate()
        if process.returncode:
            raise SystemExit(f"the import failed (exit code {process.returncode})")
    finally:
        if database == "postgresql":
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    result = json.loads(out.strip().splitlines()[-1])
    result["cpu_seconds"] += sampler.helpers_cpu  # the reader's, during the timed import
    result["peak_mb"] = max(result["peak_mb"], sampler.peak_pss / 2**20)
    return result


class Sampler(threading.Thread):
    """Watches an importing process and the processes it starts (the fork server and the
    process reading the file ahead, which exist only during the timed orders import): the
    peak of their summed proportional memory (PSS: pages they share are counted once), and
    the CPU time of the helpers as last seen, every 50 ms, from this process so as not to
    slow the import."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_pss = 0  # bytes
        self._ticks: dict[int, int] = {}
        self._done = threading.Event()

    @property
    def helpers_cpu(self) -> float:
        return sum(self._ticks.values()) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        while not self._done.wait(0.05):
            tree = self._tree(self.pid)
            pss = 0
            for pid in tree:
                try:
                    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
                    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue  # it has just ended
                pss += 1024 * int(rollup.split("\nPss:", 1)[1].split()[0])
                if pid != self.pid:
                    self._ticks[pid] = int(stat[11]) + int(stat[12])
            self.peak_pss = max(self.peak_pss, pss)

    def _tree(self, pid: int) -> list[int]:
        found = [pid]
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                for child in children.read_text().split():
                    found += self._tree(int(child))
            except OSError:
                continue
        return found


def _server_column(database: str, seconds: float | None) -> str:
    if database == "sqlite":
        return "(in CPU seconds)"  # SQLite runs in the importing process
    return "not on this machine" if seconds is None else f"{seconds:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=CUSTOMERS, help="customers named")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--floor", action="store_true", help="also time the database alone")
    parser.add_argument("--child", nargs=3, metavar=("URL", "PRODUCTS", "ORDERS"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]), args.floor)
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        products, orders = generate(directory, args.rows, customers=args.customers)
        size = orders.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} order rows ({size:.0f} MB) in {time.perf_counter() - started:.1f} s"
        )
        floor = " database alone: seconds, rows/s |" if args.floor else ""
        print(
            "| database | rows | orders | customers created | events | seconds | CPU seconds "
            f"| server CPU seconds | rows/s | peak memory | load average before, after |{floor}"
        )
        print(
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
            + (" --- |" if args.floor else "")
        )
        for database in args.databases.split(","):
            before = os.getloadavg()[0]
            r = run(database, directory, products, orders, args.floor)
            alone, server = r["floor_seconds"], r["server_cpu_seconds"]
            print(
                f"| {database} | {r['rows']:,} | {r['orders']:,} | {r['customers']:,} "
                f"| {r['events']:,} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} "
                f"| {_server_column(database, server)} "
                f"| {r['rows_per_s']:,.0f} | {r['peak_mb']:.0f} MB "
                f"| {before:.1f}, {os.getloadavg()[0]:.1f} |"
                + (f" {alone:.1f}, {r['rows'] / alone:,.0f} |" if alone else ""),
                flush=True,
            )


if __name__ == "__main__":
    main()
