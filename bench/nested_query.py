"""Benchmark: one nested GraphQL query served by a real uvicorn process on PostgreSQL.

The query asks for the 50 oldest customers (long histories), each with their last 5 orders
(lines and products) and last 5 interactions. The script

1. creates a fresh database (``crm_bench``), migrates it (core only) and seeds 10,000 customers,
   100,000 orders and 100,000 interactions with the demo generator;
2. runs the query once in-process, counting its SQL statements with
   ``crm_graph.testing.count_statements`` (exact, and per request: the query does not depend on
   what other requests do, so one count is the count);
3. serves the API with ``crm-graph serve`` (uvicorn) in its own process and drives it from a
   separate load process (httpx, closed loop: each connection sends its next request when the
   previous answer arrives) for a fixed time, once with one connection (latency) and once with
   ``--concurrency`` connections (throughput);
4. fetches the same data from PostgreSQL directly through asyncpg, two ways: the four
   statements a hand-written endpoint would run (rows only, no JSON), and one statement that
   builds the whole JSON document in PostgreSQL (what GraphQL-to-SQL compilers do).

With ``--peer postgraphile`` it instead compares crm-graph with PostGraphile v5 on the same
database: PostGraphile and node 22 are installed from the npm registry into ``.bench/peer``
(never a dependency of the project), both servers are checked to return the same rows for
the nested page and a small page (``customers(first: 20) { nodes { id name email } }``),
then ``wrk`` drives each in turn, one process each, authentication on (crm-graph: an API
key; PostGraphile: a JWT it verifies and hands to PostgreSQL as settings), at 4 and 16
connections, several rounds alternated. Requests/s and the CPU per request of each server
process and of the PostgreSQL backends serving it are printed as a Markdown table, with the
load average. ``--baseline REVISION`` adds crm-graph at another git revision to the
alternation (before and after a change, measured in the same run).

Run from the repository root: ``.venv/bin/python bench/nested_query.py`` (see --help).
Only 127.0.0.1 is contacted (and the npm registry, by npm, for ``--peer``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import numpy as np

from crm_graph.db.engine import create_engine
from crm_graph.db.migrate import upgrade
from crm_graph.demo import seed_demo
from crm_graph.plugins_manager import create_plugin_manager
from crm_graph.settings import Settings
from crm_graph.testing import admin_token, app_client, count_statements, running_server

QUERY = """
query Nested {
  customers(first: 50, orderBy: {field: CREATED_AT, direction: ASC}) {
    nodes {
      id name email
      orders(first: 5) {
        nodes {
          id number status placedAt
          total { amount currency }
          lines { quantity unitPrice { amount currency } product { id sku name } }
        }
      }
      interactions(first: 5) {
        nodes { id channel direction subject occurredAt }
      }
    }
  }
}
"""

CUSTOMERS_SQL = """
SELECT id, name, email FROM customer WHERE deleted_at IS NULL
ORDER BY created_at, id LIMIT 50
"""
ORDERS_SQL = """
SELECT o.id, o.customer_id, o.number, o.status, o.placed_at, o.total, o.currency
FROM unnest($1::int[]) AS c(id)
CROSS JOIN LATERAL (
  SELECT * FROM "order" WHERE customer_id = c.id ORDER BY placed_at DESC, id DESC LIMIT 5
) AS o
"""
LINES_SQL = """
SELECT l.order_id, l.quantity, l.unit_price, p.id AS product_id, p.sku, p.name
FROM order_line l JOIN product p ON p.id = l.product_id
WHERE l.order_id = ANY($1::int[]) ORDER BY l.id
"""
INTERACTIONS_SQL = """
SELECT i.id, i.customer_id, i.channel, i.direction, i.subject, i.occurred_at
FROM unnest($1::int[]) AS c(id)
CROSS JOIN LATERAL (
  SELECT * FROM interaction WHERE customer_id = c.id ORDER BY occurred_at DESC, id DESC LIMIT 5
) AS i
"""
DOCUMENT_SQL = """
SELECT json_build_object('data', json_build_object('customers', json_build_object('nodes',
  coalesce(json_agg(json_build_object(
    'id', c.id, 'name', c.name, 'email', c.email,
    'orders', json_build_object('nodes', (
      SELECT coalesce(json_agg(json_build_object(
        'id', o.id, 'number', o.number, 'status', o.status, 'placedAt', o.placed_at,
        'total', json_build_object('amount', o.total, 'currency', o.currency),
        'lines', (
          SELECT coalesce(json_agg(json_build_object(
            'quantity', l.quantity,
            'unitPrice', json_build_object('amount', l.unit_price, 'currency', o.currency),
            'product', json_build_object('id', p.id, 'sku', p.sku, 'name', p.name)
          ) ORDER BY l.id), '[]')
          FROM order_line l JOIN product p ON p.id = l.product_id WHERE l.order_id = o.id)
      ) ORDER BY o.placed_at DESC, o.id DESC), '[]')
      FROM (SELECT * FROM "order" WHERE customer_id = c.id
            ORDER BY placed_at DESC, id DESC LIMIT 5) AS o)),
    'interactions', json_build_object('nodes', (
      SELECT coalesce(json_agg(json_build_object(
        'id', i.id, 'channel', i.channel, 'direction', i.direction, 'subject', i.subject,
        'occurredAt', i.occurred_at
      ) ORDER BY i.occurred_at DESC, i.id DESC), '[]')
      FROM (SELECT * FROM interaction WHERE customer_id = c.id
            ORDER BY occurred_at DESC, id DESC LIMIT 5) AS i))
  ) ORDER BY c.created_at, c.id), '[]'))))::text
FROM (SELECT * FROM customer WHERE deleted_at IS NULL
      ORDER BY created_at, id LIMIT 50) AS c
"""


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "CRM_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="PostgreSQL DSN used to create the benchmark database (loopback only).",
    )
    parser.add_argument("--database", default="crm_bench")
    parser.add_argument("--reuse", action="store_true", help="Keep an existing seeded database.")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=20.0, help="Seconds of load per run.")
    parser.add_argument("--concurrency", type=int, default=4, help="Connections under load.")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes.")
    parser.add_argument(
        "--alternate",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="Only compare the read paths: ROUNDS rounds, each serving the query with "
        "CRM_COMPILED_READS=false and then =true, and print the ratios.",
    )
    parser.add_argument(
        "--peer",
        choices=["postgraphile"],
        help="Compare with a peer server under wrk instead (see the module's docstring).",
    )
    parser.add_argument(
        "--connections",
        default="4,16",
        help="--peer: the wrk connection counts, comma separated.",
    )
    parser.add_argument("--rounds", type=int, default=2, help="--peer: alternated rounds.")
    parser.add_argument(
        "--pages", default="nested,small", help="--peer: the pages measured, comma separated."
    )
    parser.add_argument(
        "--baseline",
        metavar="REVISION",
        help="--peer: also serve crm-graph's code of this git revision (its src exported into "
        ".bench/baseline, run with this tree's environment), alternated with the other two: "
        "before and after a change in the same run.",
    )
    parser.add_argument("--load-url", help=argparse.SUPPRESS)  # internal: be the load process
    return parser.parse_args(argv)


def summarise(latencies: list[float], elapsed: float, errors: int = 0) -> dict[str, float]:
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


async def closed_loop(
    call: Callable[[], Awaitable[bool]], concurrency: int, duration: float, warmup: float = 2.0
) -> dict[str, float]:
    """Run ``call`` back to back on ``concurrency`` tasks; measure after ``warmup`` seconds."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from, stop = start + warmup, start + warmup + duration

    async def worker() -> None:
        nonlocal errors
        while (began := time.perf_counter()) < stop:
            ok = await call()
            if began >= measure_from:
                latencies.append(time.perf_counter() - began)
                errors += not ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summarise(latencies, time.perf_counter() - measure_from, errors)


async def load(url: str, concurrency: int, duration: float) -> dict[str, float]:
    """The load process: POST the query over ``concurrency`` keep-alive connections."""
    body = json.dumps({"query": QUERY}).encode()
    headers = {
        "content-type": "application/json",
        "authorization": f"Bearer {os.environ['CRM_BENCH_TOKEN']}",
    }
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def call() -> bool:
            response = await client.post("/graphql", content=body, headers=headers)
            return response.status_code == 200 and b'"errors"' not in response.content[:200]

        return await closed_loop(call, concurrency, duration)


def run_load(url: str, concurrency: int, duration: float) -> dict[str, float]:
    """Drive the server from a separate process, so client CPU is not the server's; it
    authenticates with an admin token that servers from ``running_server`` accept."""
    output = subprocess.run(
        [
            sys.executable,
            __file__,
            "--load-url",
            url,
            "--concurrency",
            str(concurrency),
            "--duration",
            str(duration),
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "CRM_BENCH_TOKEN": admin_token()},
    ).stdout
    return json.loads(output)


async def prepare(args: argparse.Namespace, url: str) -> str:
    """A migrated, seeded benchmark database; returns the seeding summary."""
    admin = await asyncpg.connect(args.admin_url)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", args.database)
        if exists and not args.reuse:
            await admin.execute(f'DROP DATABASE "{args.database}" WITH (FORCE)')
        if not exists or not args.reuse:
            await admin.execute(f'CREATE DATABASE "{args.database}"')
    finally:
        await admin.close()
    settings = Settings(database_url=url, plugins=[])
    engine = create_engine(url)
    try:
        await upgrade(engine, create_plugin_manager(settings))
        summary = await seed_demo(
            engine, customers=args.customers, orders=args.orders, interactions=args.interactions
        )
    finally:
        await engine.dispose()
    connection = await asyncpg.connect(dsn(url))
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return summary


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def statements_per_request(url: str) -> tuple[int, dict[str, Any]]:
    """Run the query in-process once (after a warm-up) and count its SQL statements."""
    async with app_client(
        Settings(database_url=url, plugins=[]), plugins=[], migrate=False
    ) as client:
        await client.data(QUERY)
        with count_statements(client.app) as statements:
            data = await client.data(QUERY)
    return len(statements), data


async def fetch_rows(connection: asyncpg.Connection) -> dict[str, list[asyncpg.Record]]:
    customers = await connection.fetch(CUSTOMERS_SQL)
    ids = [c["id"] for c in customers]
    orders = await connection.fetch(ORDERS_SQL, ids)
    lines = await connection.fetch(LINES_SQL, [o["id"] for o in orders])
    interactions = await connection.fetch(INTERACTIONS_SQL, ids)
    return {"customers": customers, "orders": orders, "lines": lines, "interactions": interactions}


async def fetch_document(connection: asyncpg.Connection) -> str:
    return await connection.fetchval(DOCUMENT_SQL)


async def raw_sql(
    url: str,
    fetch: Callable[[asyncpg.Connection], Awaitable[Any]],
    concurrency: int,
    duration: float,
) -> dict[str, float]:
    pool = await asyncpg.create_pool(dsn(url), min_size=concurrency, max_size=concurrency)
    try:

        async def call() -> bool:
            async with pool.acquire() as connection:
                await fetch(connection)
            return True

        return await closed_loop(call, concurrency, duration)
    finally:
        await pool.close()


def check_same_data(api: dict[str, Any], rows: dict[str, list[asyncpg.Record]]) -> str:
    """The API and the raw SQL must return the same orders, lines and interactions."""
    nodes = api["customers"]["nodes"]
    assert [c["email"] for c in nodes] == [c["email"] for c in rows["customers"]]
    api_orders = sorted(o["number"] for c in nodes for o in c["orders"]["nodes"])
    assert api_orders == sorted(o["number"] for o in rows["orders"])
    api_lines = sum(len(o["lines"]) for c in nodes for o in c["orders"]["nodes"])
    assert api_lines == len(rows["lines"])
    api_interactions = sum(len(c["interactions"]["nodes"]) for c in nodes)
    assert api_interactions == len(rows["interactions"])
    return (
        f"{len(nodes)} customers, {len(api_orders)} orders, {api_lines} lines, "
        f"{api_interactions} interactions"
    )


def row(name: str, result: dict[str, float]) -> str:
    return (
        f"| {name} | {result['rps']:.1f} | {result['p50_ms']:.1f} | {result['p99_ms']:.1f} "
        f"| {result['requests']} | {result['errors']} |"
    )


async def main(args: argparse.Namespace) -> None:
    base = args.admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    url = f"{base}/{args.database}"
    started = time.perf_counter()
    print(f"database: {url}", flush=True)
    print(
        await prepare(args, url), f"(ready after {time.perf_counter() - started:.0f}s)", flush=True
    )

    statements, api_data = await statements_per_request(url)
    connection = await asyncpg.connect(dsn(url))
    try:
        shape = check_same_data(api_data, await fetch_rows(connection))
        document = await fetch_document(connection)
    finally:
        await connection.close()
    api_bytes = len(json.dumps({"data": api_data}))
    print(
        f"response: {shape}; SQL statements per request: {statements}; "
        f"{api_bytes / 1024:.0f} KiB "
        f"(SQL-built document {len(document) / 1024:.0f} KiB)",
        flush=True,
    )

    if args.alternate:
        alternate(url, args)
        return
    if args.peer:
        from peer import compare  # bench/peer.py: the PostGraphile comparison

        await asyncio.to_thread(compare, url, args)
        return
    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, float]] = {}
    # Core only; the rate limiter is off so that it measures the server, not the limit.
    server_env = {"CRM_DATABASE_URL": url, "CRM_PLUGINS": "", "CRM_RATE_LIMIT_PER_MINUTE": "0"}
    with running_server(server_env, workers=args.workers) as server:
        results["API, 1 connection"] = run_load(server, 1, min(args.duration, 10))
        results[f"API, {args.concurrency} connections"] = run_load(
            server, args.concurrency, args.duration
        )
    short = min(args.duration, 10)
    results["asyncpg 4 statements (rows), 1 connection"] = await raw_sql(url, fetch_rows, 1, short)
    results[f"asyncpg 4 statements (rows), {args.concurrency} connections"] = await raw_sql(
        url, fetch_rows, args.concurrency, short
    )
    results["asyncpg 1 statement (JSON built in PostgreSQL), 1 connection"] = await raw_sql(
        url, fetch_document, 1, short
    )
    results[
        f"asyncpg 1 statement (JSON built in PostgreSQL), {args.concurrency} connections"
    ] = await raw_sql(url, fetch_document, args.concurrency, short)

    print("\n| run | requests/s | p50 ms | p99 ms | requests | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, result in results.items():
        print(row(name, result))
    api = results["API, 1 connection"]
    raw = results["asyncpg 4 statements (rows), 1 connection"]
    document_one = results["asyncpg 1 statement (JSON built in PostgreSQL), 1 connection"]
    print(
        f"\nAPI p50 / raw-rows p50 = {api['p50_ms'] / raw['p50_ms']:.1f}x; "
        f"API p50 / SQL-JSON p50 = {api['p50_ms'] / document_one['p50_ms']:.1f}x; "
        f"cores: {os.cpu_count()}; load average (1 min) before/after the runs: "
        f"{load_before:.2f}/{os.getloadavg()[0]:.2f}"
    )


def alternate(url: str, args: argparse.Namespace) -> None:
    """The compiled read path against strawberry's, alternated (a shared machine drifts)."""
    print("\n| round | strawberry req/s | compiled req/s | ratio | load average |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for round_ in range(args.alternate):
        rps = {}
        for compiled in ("false", "true"):
            env = {
                "CRM_DATABASE_URL": url,
                "CRM_PLUGINS": "",
                "CRM_RATE_LIMIT_PER_MINUTE": "0",
                "CRM_COMPILED_READS": compiled,
            }
            with running_server(env, workers=args.workers, timeout=120) as server:
                rps[compiled] = run_load(server, args.concurrency, args.duration)["rps"]
        print(
            f"| {round_ + 1} | {rps['false']:.1f} | {rps['true']:.1f} "
            f"| {rps['true'] / rps['false']:.1f}x | {os.getloadavg()[0]:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    options = arguments()
    if options.load_url:
        result = asyncio.run(load(options.load_url, options.concurrency, options.duration))
        sys.stdout.write(json.dumps(result))
    else:
        asyncio.run(main(options))
