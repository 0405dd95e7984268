"""Event fan-out: many WebSocket subscribers on one server process while events are written.

Starts one ``crm-graph serve`` process on a fresh database, opens ``--subscribers`` WebSocket
subscriptions (spread over ``--clients`` load-generator processes), writes events at
``--rate`` per second for ``--seconds`` and reports the end-to-end latency (commit to receipt,
measured against each event's ``occurredAt``), messages per second delivered and the server's
CPU. With ``--ramp`` it doubles the rate until p99 passes one second, which gives the most
messages per second one process sustains. Everything runs on 127.0.0.1 and stops by itself.

    .venv/bin/python bench/events.py --subscribers 1000 --rate 20 --seconds 10
    .venv/bin/python bench/events.py --subscribers 1000 --rate 5 --ramp
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import websockets

from crm_graph.app import create_app
from crm_graph.db.migrate import upgrade
from crm_graph.domain.customers import create_customer
from crm_graph.settings import Settings
from crm_graph.testing import admin_token, server_process, temporary_database

SUBSCRIPTION = "subscription { events { id occurredAt } }"


def client_process(
    url: str, token: str, count: int, seconds: float, ready: object, out: object
) -> None:
    """Open ``count`` subscriptions, then collect latencies (ms) for ``seconds``."""
    samples = asyncio.run(_client(url, token, count, seconds, ready))
    out.put(samples)  # type: ignore[attr-defined]


async def _client(url: str, token: str, count: int, seconds: float, ready: object) -> list[float]:
    samples: list[float] = []
    stop = asyncio.Event()

    async def one(index: int) -> None:
        ws_url = url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(
            ws_url, subprotocols=["graphql-transport-ws"], max_queue=None
        ) as ws:
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
            await ws.send(json.dumps(init))
            await ws.recv()
            await ws.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
            )
            opened.append(index)
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                received = time.time()
                event = json.loads(raw)["payload"]["data"]["events"]
                sent = datetime.fromisoformat(event["occurredAt"]).timestamp()
                samples.append((received - sent) * 1000)

    opened: list[int] = []
    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    while len(opened) < count:
        await asyncio.sleep(0.05)
    ready.set()  # type: ignore[attr-defined]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return samples


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def write(database_url: str, rate: float, seconds: float) -> int:
    """Commit ``rate`` customer creations per second for ``seconds``, from this process (as a
    second server process would), so the writer's pace does not depend on the busy server."""
    app = create_app(Settings(database_url=database_url, plugins=[]), plugins=[])
    written = 0
    try:
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            while written < int(elapsed * rate) + 1:
                async with app.state.crm.write() as session:
                    await create_customer(session, {"name": f"B{written}"}, "US")
                written += 1
            await asyncio.sleep(max(0.0, written / rate - (time.monotonic() - start)))
    finally:
        await app.state.crm.engine.dispose()
    return written


def run_step(
    url: str, database_url: str, pid: int, args: argparse.Namespace, rate: float
) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    window = args.seconds + 2
    per_client = [args.subscribers // args.clients] * args.clients
    per_client[0] += args.subscribers - sum(per_client)
    readies, processes = [], []
    for count in per_client:
        ready = ctx.Event()
        process = ctx.Process(
            target=client_process, args=(url, admin_token(), count, window, ready, out)
        )
        process.start()
        readies.append(ready)
        processes.append(process)
    for ready in readies:
        ready.wait(120)
    cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
    written = asyncio.run(write(database_url, rate, args.seconds))
    cpu = cpu_seconds(pid) - cpu_before
    wall = time.monotonic() - wall_before
    samples = [s for _ in processes for s in out.get()]
    for process in processes:
        process.join()
    samples.sort()
    quantiles = statistics.quantiles(samples, n=100) if len(samples) > 1 else [0.0] * 99
    return {
        "rate": rate,
        "events": written,
        "messages": len(samples),
        "expected": written * args.subscribers,
        "msg_per_s": len(samples) / wall,
        "p50_ms": quantiles[49],
        "p99_ms": quantiles[98],
        "cpu_pct": 100 * cpu / wall,
    }


def report(row: dict[str, float]) -> None:
    print(
        f"{row['rate']:>6.0f} ev/s  {row['events']:>5.0f} events  "
        f"{row['messages']:>8.0f}/{row['expected']:<8.0f} msgs  {row['msg_per_s']:>8.0f} msg/s  "
        f"p50 {row['p50_ms']:>7.1f} ms  p99 {row['p99_ms']:>7.1f} ms  server CPU {row['cpu_pct']:>4.0f}%",
        flush=True,
    )


async def migrate(url: str) -> None:
    app = create_app(Settings(database_url=url, plugins=[]), plugins=[])
    await upgrade(app.state.crm.engine, app.state.crm.plugins)
    await app.state.crm.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="events written per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--ramp", action="store_true", help="double the rate until p99 > 1 s")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.subscribers} subscribers", flush=True)

    async def database() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            async with temporary_database(args.database, Path(tmp)) as url:
                await migrate(url)
                env = {
                    "CRM_DATABASE_URL": url,
                    "CRM_PLUGINS": "",
                    "CRM_RATE_LIMIT_PER_MINUTE": "0",
                    "CRM_MAX_SUBSCRIPTIONS_PER_SOCKET": "10",
                    "CRM_EVENT_POLL_INTERVAL_SECONDS": "0.05",  # SQLite: other writers are polled
                }
                with server_process(env) as (server, process):
                    rate = args.rate
                    while True:
                        row = await asyncio.to_thread(
                            run_step, server, url, process.pid, args, rate
                        )
                        report(row)
                        if not args.ramp or row["p99_ms"] > 1000 or rate >= 2000:
                            break
                        rate *= 2

    asyncio.run(database())


if __name__ == "__main__":
    sys.exit(main())
