"""crm-graph against PostGraphile v5 on the nested-query bench database, driven by wrk.

Used by ``bench/nested_query.py --peer postgraphile`` (see its docstring). PostGraphile and a
node 22 binary (the npm registry's ``node-<platform>-<arch>`` package, which the ``node``
package installs) go into ``.bench/peer`` at the repository root, ignored by git; nothing of
them is a dependency of the project.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
from nested_query import QUERY, dsn

from crm_graph.ids import from_global_id
from crm_graph.testing import admin_token, free_port, server_process

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench" / "peer"
POSTGRAPHILE = "postgraphile@5"
NODE_MAJOR = 22

SMALL = "{ customers(first: 20) { nodes { id name email } } }"
PEER_SMALL = "{ allCustomers(first: 20, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { nodes { id name email } } }"
PEER_NESTED = """
query Nested {
  allCustomers(first: 50, orderBy: [CREATED_AT_ASC, ROW_ID_ASC]) {
    nodes {
      id name email
      ordersByCustomerId(first: 5, orderBy: [PLACED_AT_DESC, ROW_ID_DESC]) {
        nodes {
          id number status placedAt total currency
          orderLinesByOrderId(orderBy: ROW_ID_ASC) {
            nodes { quantity unitPrice productByProductId { id sku name } }
          }
        }
      }
      interactionsByCustomerId(first: 5, orderBy: [OCCURRED_AT_DESC, ROW_ID_DESC]) {
        nodes { id channel direction subject occurredAt }
      }
    }
  }
}
"""
CREATE_KEY = """mutation { createApiKey(input: {name: "bench", role: "admin", replace: true})
  { key errors { code } } }"""

SERVER_JS = """
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PgLazyJWTPreset } from "postgraphile/presets/lazy-jwt";
import { makePgService } from "postgraphile/adaptors/pg";

const port = Number(process.env.PORT);
const preset = {
  extends: [PostGraphileAmberPreset, PgLazyJWTPreset],
  pgServices: [
    makePgService({ connectionString: process.env.DATABASE_URL, schemas: ["public"] }),
  ],
  grafserv: { port, graphqlPath: "/graphql", graphiql: false, watch: false },
  grafast: { explain: false },
  schema: { pgJwtSecret: process.env.JWT_SECRET },
};
const server = createServer();
server.on("error", (error) => { console.error(error); process.exit(1); });
postgraphile(preset).createServ(grafserv).addTo(server)
  .then(() => server.listen(port, "127.0.0.1", () => console.log(`listening on ${port}`)));
"""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {credential}"
"""


def install(cache: Path = CACHE) -> Path:
    """node 22 and PostGraphile v5 in ``cache`` (installed with npm on first use); the path
    of the node binary."""
    system = {"Linux": "linux", "Darwin": "darwin"}[platform.system()]
    arch = {"x86_64": "x64", "AMD64": "x64", "aarch64": "arm64", "arm64": "arm64"}[
        platform.machine()
    ]
    package = f"node-{system}-{arch}"
    node = cache / "node_modules" / package / "bin" / "node"
    if not node.exists() or not (cache / "node_modules" / "postgraphile").exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("--peer postgraphile needs npm to install PostGraphile and node 22")
        cache.mkdir(parents=True, exist_ok=True)
        if not (cache / "package.json").exists():
            (cache / "package.json").write_text('{"private": true}\n')
        print(f"installing {package}@{NODE_MAJOR} and {POSTGRAPHILE} into {cache}", flush=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", f"{package}@{NODE_MAJOR}", POSTGRAPHILE],
            cwd=cache,
            check=True,
        )
    (cache / "server.mjs").write_text(SERVER_JS)
    return node


@contextlib.contextmanager
def postgraphile(node: Path, url: str, secret: str) -> Iterator[tuple[str, int]]:
    """A PostGraphile process on ``url``'s database: its base URL and process id."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": dsn(url).replace("postgresql://", "postgres://", 1),
        "JWT_SECRET": secret,
        "NODE_ENV": "production",
    }
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            [str(node), "server.mjs"], cwd=CACHE, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    output.seek(0)
                    raise RuntimeError(f"PostGraphile exited:\n{output.read().decode()}")
                with contextlib.suppress(httpx.HTTPError):
                    httpx.post(f"{base}/graphql", json={"query": "{ __typename }"}, timeout=2)
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("PostGraphile did not start within 120 s")
                time.sleep(0.5)
            yield base, process.pid
        finally:
            process.terminate()
            process.wait(30)


def post(base: str, query: str, credential: str) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/graphql",
        json={"query": query},
        headers={"authorization": f"Bearer {credential}"},
        timeout=60,
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{base} answered {response.status_code}: {str(body)[:500]}")
    return body["data"]


def _row_id(global_id: str) -> int:
    return from_global_id(global_id)[1]


def _peer_row_id(node_id: str) -> int:
    return int(json.loads(base64.b64decode(node_id))[1])


def ours_rows(data: dict[str, Any]) -> list[Any]:
    """The nested page's rows, in order, as plain tuples: crm-graph's shape."""
    return [
        (
            _row_id(c["id"]),
            c["name"],
            c["email"],
            [
                (
                    _row_id(o["id"]),
                    o["number"],
                    o["status"].lower(),
                    o["total"]["amount"],
                    o["total"]["currency"],
                    [
                        (li["quantity"], li["unitPrice"]["amount"], li["product"]["sku"])
                        for li in o["lines"]
                    ],
                )
                for o in c["orders"]["nodes"]
            ],
            [
                (_row_id(i["id"]), i["channel"].lower(), i["direction"].lower(), i["subject"])
                for i in c["interactions"]["nodes"]
            ],
        )
        for c in data["customers"]["nodes"]
    ]


def peer_rows(data: dict[str, Any]) -> list[Any]:
    """The same rows from PostGraphile's shape."""
    return [
        (
            _peer_row_id(c["id"]),
            c["name"],
            c["email"],
            [
                (
                    _peer_row_id(o["id"]),
                    o["number"],
                    o["status"].lower(),
                    f"{float(o['total']):.2f}",
                    o["currency"],
                    [
                        (
                            li["quantity"],
                            f"{float(li['unitPrice']):.2f}",
                            li["productByProductId"]["sku"],
                        )
                        for li in o["orderLinesByOrderId"]["nodes"]
                    ],
                )
                for o in c["ordersByCustomerId"]["nodes"]
            ],
            [
                (_peer_row_id(i["id"]), i["channel"].lower(), i["direction"].lower(), i["subject"])
                for i in c["interactionsByCustomerId"]["nodes"]
            ],
        )
        for c in data["allCustomers"]["nodes"]
    ]


def _money(rows: list[Any]) -> list[Any]:
    """crm-graph's amounts as PostGraphile's are compared: two decimals."""
    return [
        (
            *c[:3],
            [
                (
                    *o[:3],
                    f"{float(o[3]):.2f}",
                    o[4],
                    [(q, f"{float(p):.2f}", s) for q, p, s in o[5]],
                )
                for o in c[3]
            ],
            c[4],
        )
        for c in rows
    ]


def check_same_rows(ours: str, key: str, peer: str, token: str) -> str:
    nested = _money(ours_rows(post(ours, QUERY, key)))
    if nested != peer_rows(post(peer, PEER_NESTED, token)):
        raise SystemExit("the nested page differs between crm-graph and PostGraphile")
    small = [
        (_row_id(c["id"]), c["name"], c["email"])
        for c in post(ours, SMALL, key)["customers"]["nodes"]
    ]
    peer_small = [
        (_peer_row_id(c["id"]), c["name"], c["email"])
        for c in post(peer, PEER_SMALL, token)["allCustomers"]["nodes"]
    ]
    if small != peer_small:
        raise SystemExit("the small page differs between crm-graph and PostGraphile")
    orders = sum(len(c[3]) for c in nested)
    lines = sum(len(o[5]) for c in nested for o in c[3])
    interactions = sum(len(c[4]) for c in nested)
    return (
        f"same rows: nested page {len(nested)} customers, {orders} orders, {lines} lines, "
        f"{interactions} interactions; small page {len(small)} customers"
    )


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each of ``pids`` that is alive."""
    used = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return used


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between the two readings by the processes alive at both (the
    peer's pool closes idle connections meanwhile)."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


async def backends(url: str) -> list[int]:
    connection = await asyncpg.connect(dsn(url))
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


@dataclass
class Run:
    rps: float
    server_ms: float  # server CPU per request
    database_ms: float  # PostgreSQL backends' CPU per request
    errors: int


def wrk(
    base: str, query: str, credential: str, connections: int, seconds: float
) -> tuple[float, int]:
    body = json.dumps({"query": query})
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=body, credential=credential))
    try:
        output = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{round(seconds)}s",
                "--timeout",
                "30s",
                "-s",
                script.name,
                f"{base}/graphql",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failed = int(non_2xx.group(1)) if non_2xx else 0
    if errors:
        failed += sum(int(n) for n in errors.groups())
    return rps, failed


def measure(
    url: str, base: str, pid: int, query: str, credential: str, connections: int, seconds: float
) -> Run:
    wrk(base, query, credential, connections, 3)  # warm-up: the pools open their connections
    database = asyncio.run(backends(url))
    server_before, database_before = cpu_seconds([pid]), cpu_seconds(database)
    rps, errors = wrk(base, query, credential, connections, seconds)
    requests = max(rps * seconds, 1)
    return Run(
        rps,
        cpu_used(server_before, cpu_seconds([pid])) / requests * 1000,
        cpu_used(database_before, cpu_seconds(database)) / requests * 1000,
        errors,
    )


def baseline_source(revision: str) -> Path:
    """crm-graph's ``src`` at ``revision``, exported once into ``.bench/baseline``."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    target = ROOT / ".bench" / "baseline" / commit[:12]
    if not (target / "src" / "crm_graph").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", commit, "src"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "src"


def create_key(base: str, name: str) -> str:
    query = CREATE_KEY.replace('"bench"', json.dumps(name))
    return post(base, query, admin_token())["createApiKey"]["key"]


def compare(url: str, args: Any) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("--peer needs wrk (Debian: apt-get install wrk)")
    node = install()
    secret = os.urandom(32).hex()
    # Neither server writes a line per request: PostGraphile logs none by default.
    env = {
        "CRM_DATABASE_URL": url,
        "CRM_PLUGINS": "",
        "CRM_RATE_LIMIT_PER_MINUTE": "0",
        "CRM_ACCESS_LOG": "false",
    }
    ours_names = ["crm-graph"]
    with contextlib.ExitStack() as stack:
        ours, ours_process = stack.enter_context(server_process(env, timeout=120))
        servers = [("crm-graph", ours, ours_process.pid, create_key(ours, "bench"))]
        if args.baseline:
            source = baseline_source(args.baseline)
            before_env = {**env, "PYTHONPATH": str(source)}
            before, before_process = stack.enter_context(server_process(before_env, timeout=120))
            name = f"crm-graph@{args.baseline}"
            ours_names.append(name)
            servers.append((name, before, before_process.pid, create_key(before, "bench-before")))
        peer, peer_pid = stack.enter_context(postgraphile(node, url, secret))
        token = jwt.encode(
            {"sub": "bench", "aud": "postgraphile", "exp": int(time.time()) + 86400},
            secret,
            algorithm="HS256",
        )
        servers.append(("PostGraphile", peer, peer_pid, token))
        for _name, base, _pid, key in servers[:-1]:
            print(check_same_rows(base, key, peer, token), flush=True)
        every_page = {"nested": (QUERY, PEER_NESTED), "small": (SMALL, PEER_SMALL)}
        pages = {page: every_page[page] for page in args.pages.split(",")}
        results: dict[tuple[str, int, str], list[Run]] = {}
        loads: list[float] = []
        for round_ in range(args.rounds):
            for connections in [int(c) for c in args.connections.split(",")]:
                for page, (our_query, peer_query) in pages.items():
                    for name, base, pid, credential in servers:
                        query = peer_query if name == "PostGraphile" else our_query
                        run = measure(url, base, pid, query, credential, connections, args.duration)
                        results.setdefault((page, connections, name), []).append(run)
                        loads.append(os.getloadavg()[0])
                        print(
                            f"round {round_ + 1} {page} c={connections} {name}: "
                            f"{run.rps:.0f} req/s, server {run.server_ms:.2f} ms, "
                            f"PostgreSQL {run.database_ms:.2f} ms CPU per request, "
                            f"{run.errors} errors; load {loads[-1]:.1f}",
                            flush=True,
                        )
    print(
        "\n| page | connections | server | req/s | ratio to PostGraphile (per-round range) "
        "| server CPU ms/req | PostgreSQL CPU ms/req |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")

    def mean(runs: list[Run], field: str) -> float:
        return sum(getattr(r, field) for r in runs) / len(runs)

    for page in pages:
        for connections in [int(c) for c in args.connections.split(",")]:
            peer_runs = results[(page, connections, "PostGraphile")]
            for name in [*ours_names, "PostGraphile"]:
                runs = results[(page, connections, name)]
                ratios = [o.rps / p.rps for o, p in zip(runs, peer_runs, strict=True)]
                ratio = (
                    f"{sum(ratios) / len(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
                    if name != "PostGraphile"
                    else ""
                )
                print(
                    f"| {page} | {connections} | {name} | {mean(runs, 'rps'):.0f} | {ratio} "
                    f"| {mean(runs, 'server_ms'):.3f} | {mean(runs, 'database_ms'):.3f} |"
                )
    print(f"\nload average (1 min) during the runs: {min(loads):.1f}-{max(loads):.1f}")
