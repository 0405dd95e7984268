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
import base64
import json
import multiprocessing
import os
import statistics
import struct
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from crm_graph.db.migrate import upgrade
from crm_graph.domain.customers import create_customer
from crm_graph.settings import Settings
from crm_graph.testing import admin_token, server_process, temporary_database
from crm_graph.web.app import create_app

SUBSCRIPTION = "subscription { events { id occurredAt } }"


def client_process(
    url: str, token: str, count: int, seconds: float, ready: object, out: object
) -> None:
    """Open ``count`` subscriptions, then collect latencies (ms) for ``seconds``."""
    samples = asyncio.run(_client(url, token, count, seconds, ready))
    out.put(samples)  # type: ignore[attr-defined]


def masked_frame(opcode: int, data: bytes) -> bytes:
    """A client frame (RFC 6455 section 5.3: clients must mask what they send)."""
    mask = os.urandom(4)
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    else:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


class Receiver(asyncio.Protocol):
    """One WebSocket, read raw: each text frame is stored with its arrival time and decoded
    only after the run, so the load generator spends a few µs per message, not the server's
    budget (the ``websockets`` client plus JSON decoding cost ~10x more)."""

    def __init__(self) -> None:
        self.received: list[tuple[float, bytes]] = []
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.upgraded = loop.create_future()
        self.acknowledged = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.buffer + data
        if not self.upgraded.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            self.upgraded.set_result(buffer[:end])
            buffer = buffer[end + 4 :]
        while len(buffer) >= 2:
            opcode, n, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if n == 126:
                n, start = struct.unpack_from("!H", buffer, 2)[0], 4
            elif n == 127:
                n, start = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < start + n:
                break
            payload, buffer = buffer[start : start + n], buffer[start + n :]
            if opcode == 0x9:  # ping
                self.transport.write(masked_frame(0xA, payload))  # type: ignore[union-attr]
            elif opcode == 0x1:
                self.received.append((now, payload))
                if not self.acknowledged.done():
                    self.acknowledged.set_result(payload)
        self.buffer = buffer


async def subscribe(host: str, port: int, token: str) -> Receiver:
    loop = asyncio.get_running_loop()
    _transport, socket = await loop.create_connection(Receiver, host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    socket.transport.write(  # type: ignore[union-attr]
        (
            f"GET /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(socket.upgraded, 30)
    assert head.startswith(b"HTTP/1.1 101"), head
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
    socket.transport.write(masked_frame(0x1, json.dumps(init).encode()))  # type: ignore[union-attr]
    ack = json.loads(await asyncio.wait_for(socket.acknowledged, 30))
    assert ack["type"] == "connection_ack", ack
    message = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
    socket.transport.write(masked_frame(0x1, json.dumps(message).encode()))  # type: ignore[union-attr]
    return socket


async def _client(url: str, token: str, count: int, seconds: float, ready: object) -> list[float]:
    host, port = url.removeprefix("http://").split(":")
    sockets = []
    for _ in range(count):  # one at a time: the server is not what is measured here
        sockets.append(await subscribe(host, int(port), token))
    await asyncio.sleep(1)  # let the server register every subscription
    ready.set()  # type: ignore[attr-defined]
    await asyncio.sleep(seconds)
    samples: list[float] = []
    for socket in sockets:
        socket.transport.close()  # type: ignore[union-attr]
        for received, raw in socket.received[1:]:  # after the connection_ack
            message = json.loads(raw)
            assert message["type"] == "next", message
            event = message["payload"]["data"]["events"]
            sent = datetime.fromisoformat(event["occurredAt"]).timestamp()
            samples.append((received - sent) * 1000)
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
        "p90_ms": quantiles[89],
        "p99_ms": quantiles[98],
        "max_ms": samples[-1] if samples else 0.0,
        "cpu_pct": 100 * cpu / wall,
    }


def report(row: dict[str, float]) -> None:
    print(
        f"{row['rate']:>6.0f} ev/s  {row['events']:>5.0f} events  "
        f"{row['messages']:>8.0f}/{row['expected']:<8.0f} msgs  {row['msg_per_s']:>8.0f} msg/s  "
        f"p50 {row['p50_ms']:>6.1f}  p90 {row['p90_ms']:>6.1f}  p99 {row['p99_ms']:>6.1f}  "
        f"max {row['max_ms']:>6.1f} ms  server CPU {row['cpu_pct']:>4.0f}%",
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
                }
                if args.database == "sqlite":  # the writer is another process: it is polled
                    env["CRM_EVENT_POLL_INTERVAL_SECONDS"] = "0.05"
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
