"""``crm-graph duplicates``: the duplicate finder's full rerun, with progress."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from crm_graph.domain.matching import rerun
from crm_graph.runtime import open_app

duplicates_app = typer.Typer(help="Likely duplicate customers.", no_args_is_help=True)
err = Console(stderr=True)


@duplicates_app.command("rerun")
def rerun_command(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Match every live customer again: rebuild the blocking keys and the kept pairs, and fit
    the model's weights to the data (changes match incrementally without this; run it after
    upgrading, and now and then as the data grows)."""

    async def main() -> None:
        with Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=quiet,
        ) as bars:
            tasks: dict[str, int] = {}

            def progress(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = bars.add_task(step, total=max(total, 1))
                bars.update(tasks[step], completed=done, total=max(total, 1))

            started = time.perf_counter()
            async with open_app() as app:
                report = await rerun(app.engine, progress)
        err.print(
            f"{report.customers} customers, {report.keys} keys, {report.candidates} pairs "
            f"compared, {report.kept} kept as likely duplicates "
            f"({time.perf_counter() - started:.1f} s); model fitted on {report.candidates} "
            f"pairs: one pair in {1 / report.model.prior:,.0f} is a duplicate"
        )

    asyncio.run(main())
