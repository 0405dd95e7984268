"""How fast the hostile corpus (tests/corpus/hostile.jsonl) is rejected, per database.

A rejection must stay cheap (a slow one is a denial-of-service lever: the wide CSV of session 7
was one). The test suite checks what each answer says; this script measures how long each
rejected request takes, in-process (no HTTP server, no network), the fastest of three tries per
case, and lists every case over the budget.

    .venv/bin/python bench/hostile.py                     # both databases, 50 ms budget
    .venv/bin/python bench/hostile.py --databases sqlite --budget-ms 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from crm_graph.settings import Settings
from crm_graph.testing import app_client, temporary_database

CORPUS = Path(__file__).parent.parent / "tests" / "corpus" / "hostile.jsonl"


def _rejected(response: Any) -> bool:
    """A status of 400 or more, GraphQL errors, or a mutation's user errors. Not an accepted
    mutation, whose ``errors`` list is empty: it commits a write, whose time is the disk's."""
    if response.status_code >= 400:
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    return bool(body.get("errors")) or _has_user_errors(body.get("data"))


def _has_user_errors(value: Any) -> bool:
    if isinstance(value, dict):
        return bool(value.get("errors")) or any(_has_user_errors(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_user_errors(v) for v in value)
    return False


async def measure(kind: str, budget_s: float) -> None:
    cases = [json.loads(line) for line in CORPUS.read_text().splitlines()]
    with tempfile.TemporaryDirectory() as directory:
        async with temporary_database(kind, Path(directory)) as url:
            settings = Settings(
                database_url=url, plugins=None, disabled_plugins=["loyalty"], env="production"
            )
            times: list[tuple[float, str]] = []
            async with app_client(settings) as client:
                for case in cases:
                    body = case["body"].encode("utf-8", "surrogatepass")
                    best = float("inf")
                    for _ in range(3):
                        started = time.perf_counter()
                        response = await client.http.post(
                            "/graphql", content=body, headers={"content-type": "application/json"}
                        )
                        best = min(best, time.perf_counter() - started)
                        if not _rejected(response):
                            break
                    if _rejected(response):
                        times.append((best, case["name"]))
    values = sorted(t for t, _ in times)
    slow = sorted((t, name) for t, name in times if t >= budget_s)
    print(
        f"{kind}: {len(values)} rejections of {len(cases)} cases; "
        f"p50 {statistics.median(values) * 1000:.1f} ms, "
        f"p99 {values[int(len(values) * 0.99)] * 1000:.1f} ms, max {values[-1] * 1000:.1f} ms; "
        f"{len(slow)} over {budget_s * 1000:.0f} ms"
    )
    for seconds, name in slow[-20:]:
        print(f"  {seconds * 1000:7.1f} ms  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--budget-ms", type=float, default=50.0)
    args = parser.parse_args()
    for kind in args.databases.split(","):
        asyncio.run(measure(kind, args.budget_ms / 1000))


if __name__ == "__main__":
    main()
