"""Benchmark: what a compiled read plan costs to make, to find again, and that its cache is
bounded.

In one process, on an empty SQLite database (planning reads no rows), for the nested page of
``bench/nested_query.py`` and the small page:

1. **parse and validate**: the document parsed and validated as strawberry would (the
   planner's document cache emptied before each try);
2. **plan**: the plan built from the validated document for an administrator (the plan cache
   emptied before each try);
3. **reuse**: finding the cached plan for the next request with the same document, role and
   variables (what every request after the first pays);
4. the cache's bound: ``CRM_PLAN_CACHE_SIZE`` (here ``--cache-size``) distinct documents and
   more leave at most that many plans.

Each figure is the median and the best of ``--tries`` runs. Run from the repository root:
``.venv/bin/python bench/plan_cost.py`` (see --help).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crm_graph.auth.principal import Principal
from crm_graph.settings import Settings
from crm_graph.testing import app_client

sys.path.insert(0, str(Path(__file__).parent))
from nested_query import QUERY

SMALL = "{ customers(first: 20) { nodes { id name email } } }"


def _times(work: Any, tries: int) -> tuple[float, float]:
    """Median and best wall time of ``work()``, in milliseconds."""
    spent = []
    for _ in range(tries):
        start = time.perf_counter()
        work()
        spent.append((time.perf_counter() - start) * 1000)
    return statistics.median(spent), min(spent)


async def main(tries: int, cache_size: int) -> None:
    folder = tempfile.mkdtemp()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{folder}/plan.db",
        plugins=[],
        env="test",
        plan_cache_size=cache_size,
    )
    async with app_client(settings, plugins=[]) as client:
        planner = client.app.state.planner
        policy = client.app.state.crm.auth.policy
        admin = Principal.for_role(policy, "token", "bench", "bench", "admin", "bench")
        print(f"{'page':<8} {'parse+validate ms':>20} {'plan ms':>16} {'reuse µs':>16}")
        for name, query in (("nested", QUERY), ("small", SMALL)):
            request = {"query": query, "variables": {}}

            def validate(query: str = query) -> None:
                planner.documents.cache.entries.clear()
                assert planner.documents.get(query) is not None

            def plan(request: dict[str, Any] = request) -> None:
                planner.plans.entries.clear()
                assert planner.plan(request, admin) is not None

            def reuse(request: dict[str, Any] = request) -> None:
                for _ in range(1000):
                    planner.plan(request, admin)

            parsed = _times(validate, tries)
            planner.documents.get(query)
            built = _times(plan, tries)
            planner.plan(request, admin)
            found = _times(reuse, tries)  # 1,000 lookups: ms per 1,000 = µs each
            print(
                f"{name:<8} {parsed[0]:>10.2f} (best {parsed[1]:.2f}) "
                f"{built[0]:>7.2f} (best {built[1]:.2f}) {found[0]:>7.1f} (best {found[1]:.1f})"
            )
        planner.plans.entries.clear()
        for first in range(cache_size * 2):
            planner.plan(
                {"query": f"{{ customers(first: {first + 1}) {{ nodes {{ id }} }} }}"}, admin
            )
        print(
            f"after {cache_size * 2} distinct documents: {len(planner.plans)} plans cached "
            f"(CRM_PLAN_CACHE_SIZE={cache_size})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=50)
    parser.add_argument("--cache-size", type=int, default=64)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.tries, arguments.cache_size))
