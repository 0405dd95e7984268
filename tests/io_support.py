"""Helpers for the import/export tests: the ``crm-graph`` command run in-process, files."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from textwrap import dedent

from click.testing import Result
from typer.testing import CliRunner

from crm_graph.cli import app


async def cli(database_url: str, *args: str) -> Result:
    """Run ``crm-graph ARGS`` against ``database_url``.

    In a thread, because the command runs its own event loop (``asyncio.run``).
    """
    runner = CliRunner()
    env = {"CRM_DATABASE_URL": database_url, "CRM_PLUGINS": ""}
    return await asyncio.to_thread(runner.invoke, app, list(args), env=env, catch_exceptions=False)


def write(path: Path, text: str) -> Path:
    path.write_text(dedent(text).lstrip(), encoding="utf-8")
    return path


def rejects(path: Path) -> dict[int, str]:
    """``FILE.rejects.csv`` as {row number: reason}."""
    with path.with_name(path.name + ".rejects.csv").open(newline="", encoding="utf-8") as f:
        return {int(row["row"]): row["reason"] for row in csv.DictReader(f)}
