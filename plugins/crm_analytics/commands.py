"""``crm-graph analytics train|evaluate`` (added to the command line through ``crm_cli``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time
from typing import Annotated

import typer

from crm_analytics import jobs
from crm_analytics.settings import NAME
from crm_graph.plugin import AppContext, open_app, utcnow

group = typer.Typer(
    help="Customer analytics: train the models, backtest them.", no_args_is_help=True
)

AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Ignore orders after this date (YYYY-MM-DD: its end) or ISO time. Default: now.",
    ),
]
TimeUnit = Annotated[
    int | None, typer.Option(min=1, max=365, help="BG/NBD time unit in days (default 7).")
]


def _as_of(value: str | None) -> datetime:
    if value is None:
        return utcnow()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or ISO time") from exc
    if len(value) <= 10:  # a bare date means up to the end of that day
        moment = datetime.combine(moment.date(), time.max)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment > utcnow():
        raise typer.BadParameter("--as-of cannot be in the future")
    return moment


def _check(app: AppContext) -> None:
    if NAME not in app.plugins.names:
        typer.echo("error: the analytics plugin is not enabled (CRM_PLUGINS)", err=True)
        raise typer.Exit(2)


@group.command()
def train(as_of: AsOf = None, time_unit_days: TimeUnit = None) -> None:
    """Fit every model on the orders up to --as-of and store the scores (progress on stderr)."""
    moment = _as_of(as_of)

    async def report(fraction: float, message: str) -> None:
        typer.echo(f"{fraction:4.0%}  {message}", err=True)

    async def run() -> str:
        async with open_app() as app:
            _check(app)
            trained = await jobs.train_here(app, moment, time_unit_days, report)
            return trained.summary()

    summary = asyncio.run(run())
    typer.echo(f"100%  done: {summary}", err=True)


@group.command()
def evaluate(
    as_of: AsOf = None,
    holdout_days: Annotated[
        int, typer.Option(min=7, max=730, help="CLV holdout window in days.")
    ] = 90,
    time_unit_days: TimeUnit = None,
) -> None:
    """Backtest CLV (holdout RMSE), churn (ROC AUC) and recommendations (@10 vs popularity)."""
    # numpy, scipy and scikit-learn load only when models are evaluated, not with the plugin.
    import numpy as np

    from crm_analytics.dataset import load
    from crm_analytics.training import config_for, plugin_features

    moment = _as_of(as_of)

    async def run() -> list[str]:
        async with open_app() as app:
            _check(app)
            config = config_for(
                app.plugin_settings(NAME), app.settings.default_currency, moment, time_unit_days
            )
            data = await load(app, moment, config.currency)
            window = config.settings.churn_window_days
            extra = []
            for cut in (data.now - 2 * window, data.now - window):
                past = data.until(cut)
                extra.append(await plugin_features(app, np.unique(past.order_customer), past.as_of))
        return await asyncio.to_thread(_report, data, config, holdout_days, extra)

    for line in asyncio.run(run()):
        typer.echo(line)


def _report(data, config, holdout_days, extra) -> list[str]:
    from crm_analytics import evaluate as backtest
    from crm_analytics.churn import NotEnoughData

    lines = [f"backtest as of {data.as_of.isoformat()} ({len(data.order_customer)} orders)"]
    value = backtest.clv_backtest(data, config, holdout_days)
    lines += [
        f"CLV ({holdout_days}-day holdout, {value.customers} customers):",
        f"  repeat purchases predicted {value.predicted:.1f}, actual {value.actual:.0f}",
        f"  per-customer RMSE {value.rmse:.3f} (same-rate-as-before forecast: {value.naive_rmse:.3f})",
    ]
    try:
        risk = backtest.churn_backtest(data, config, extra[0], extra[1])
        lines += [
            f"churn ({config.settings.churn_window_days}-day window, {risk.customers} customers, "
            f"{risk.churn_rate:.0%} churned):",
            f"  ROC AUC {risk.roc_auc:.3f} ({risk.model.replace('_', ' ')})",
        ]
    except NotEnoughData as exc:
        lines.append(f"churn: not evaluated: {exc}")
    recs = backtest.recommendation_backtest(data, config)
    lines.append(f"recommendations ({recs.customers} customers, held-out fifth of purchases):")
    for label, scores in ((recs.chosen, recs.model), ("popularity", recs.popularity)):
        lines.append(
            f"  {label:<14} NDCG@10 {scores.ndcg:.4f}  recall@20 {scores.recall:.4f}"
            f"  coverage {scores.coverage:.4f}"
        )
    return lines


def register(cli: typer.Typer) -> None:
    cli.add_typer(group, name="analytics")
