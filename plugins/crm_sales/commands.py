"""``crm-graph sales train`` (added to the command line through ``crm_cli``), and the
scheduled job doing the same."""

from __future__ import annotations

import asyncio

import typer

from crm_graph.plugin import AppContext, JobRun, open_app
from crm_sales import scoring
from crm_sales.config import NAME

group = typer.Typer(help="Sales: train the lead scoring model.", no_args_is_help=True)


async def train_scoring(app: AppContext) -> str:
    """Train (or fall back to the rules), rescore the open leads; a one-line summary."""
    async with app.write() as session:
        model = await scoring.train(session, app.plugin_settings(NAME).scoring_min_outcomes)
    if model.kind == scoring.LEARNED:
        return (
            f"lead scoring learned from {model.outcomes} outcomes: "
            f"cross-validated ROC AUC {model.auc:.3f}"
        )
    return f"lead scoring by rules: {model.outcomes} outcomes, too few to learn from"


@group.command()
def train() -> None:
    """Learn lead scores from converted and disqualified leads, and rescore open leads."""

    async def run() -> None:
        async with open_app() as app:
            typer.echo(await train_scoring(app))

    asyncio.run(run())


async def train_job(app: AppContext, run: JobRun) -> None:
    await train_scoring(app)
