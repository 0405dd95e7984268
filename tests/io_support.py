"""Helpers for the import/export tests: the ``crm-graph`` command run in-process, files,
and the events the commands wrote."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from textwrap import dedent
from typing import Any

from click.testing import Result

from crm_graph.testing import GraphQLClient, run_cli


async def cli(database_url: str, *args: str) -> Result:
    """Run ``crm-graph ARGS`` against ``database_url``, without plugins."""
    return await run_cli(database_url, *args)


def write(path: Path, text: str) -> Path:
    path.write_text(dedent(text).lstrip(), encoding="utf-8")
    return path


def rejects(path: Path) -> dict[int, str]:
    """``FILE.rejects.csv`` as {row number: reason}."""
    return {int(row[0]): row[1] for row in rejected_rows(path)[1:]}


def rejected_rows(path: Path) -> list[list[str]]:
    """``FILE.rejects.csv`` as it is, header first."""
    with path.with_name(path.name + ".rejects.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


EVENTS = """
query ($after: String) {
  events(after: $after, first: 100) {
    pageInfo { hasNextPage endCursor }
    nodes { id type entityType entityId payload }
  }
}
"""


async def events_until(
    client: GraphQLClient, marker: str, after: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The events after ``after`` up to the ``customer.created`` of a customer named ``marker``
    (created through the API after the commands under test: positions follow commit order, so
    once it is readable every event committed before it is too); and the cursor past it."""
    created = await client.data(
        "mutation($n: String!) { createCustomer(input: {name: $n}) { customer { id } } }",
        {"n": marker},
    )
    marker_id = created["createCustomer"]["customer"]["id"]
    for _ in range(300):
        nodes, cursor = [], after
        while True:
            page = (await client.data(EVENTS, {"after": cursor}))["events"]
            nodes += page["nodes"]
            cursor = page["pageInfo"]["endCursor"] or cursor
            if not page["pageInfo"]["hasNextPage"]:
                break
        if nodes and nodes[-1]["entityId"] == marker_id:
            return nodes[:-1], cursor
        await asyncio.sleep(0.02)
    raise AssertionError(f"the marker event never came: {nodes}")
