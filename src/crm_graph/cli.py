"""The ``crm-graph`` command: serve, migrate, demo, schema export, plugins list."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from crm_graph.db.engine import create_engine
from crm_graph.db.migrate import upgrade
from crm_graph.plugins_manager import PluginError, PluginSet, create_plugin_manager
from crm_graph.schema.build import build_schema
from crm_graph.settings import Settings

app = typer.Typer(help="crm-graph: a CRM backend served as a GraphQL API.", no_args_is_help=True)
schema_app = typer.Typer(help="The composed GraphQL schema.", no_args_is_help=True)
plugins_app = typer.Typer(help="Installed plugins.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(plugins_app, name="plugins")
err = Console(stderr=True)


def _plugins(settings: Settings) -> PluginSet:
    try:
        return create_plugin_manager(settings)
    except PluginError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Serve GraphQL at http://HOST:PORT/graphql."""
    settings = Settings()
    _plugins(settings)  # fail fast, with a clear message, before uvicorn starts workers
    uvicorn.run(
        "crm_graph.asgi:app", host=host, port=port, workers=workers, reload=reload, log_level="info"
    )


@app.command()
def migrate() -> None:
    """Upgrade the database: the core branch and every enabled plugin's branch."""
    settings = Settings()
    plugins = _plugins(settings)

    async def run() -> None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine, plugins)
        finally:
            await engine.dispose()

    asyncio.run(run())
    err.print(f"migrated {settings.database_url}")


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="How many demo customers.")] = 400,
    seed: Annotated[int, typer.Option(help="Random seed (the data is deterministic).")] = 7,
) -> None:
    """Seed deterministic demo data into the configured database (idempotent)."""
    from crm_graph.demo import seed_demo

    settings = Settings()

    async def run() -> str:
        engine = create_engine(settings.database_url)
        try:
            return await seed_demo(engine, customers=customers, seed=seed)
        finally:
            await engine.dispose()

    err.print(asyncio.run(run()))


@schema_app.command("export")
def schema_export() -> None:
    """Print the composed schema (core + enabled plugins) as SDL."""
    sys.stdout.write(str(build_schema(_plugins(Settings()))) + "\n")


@plugins_app.command("list")
def plugins_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the enabled plugins with their versions and hooks."""
    described = _plugins(Settings()).describe()
    if as_json:
        sys.stdout.write(json.dumps(described, indent=2) + "\n")
        return
    table = Table("name", "version", "requires core", "distribution", "hooks")
    for p in described:
        table.add_row(
            p["name"],
            p["version"],
            p["requiresCore"],
            p["distribution"] or "-",
            ", ".join(p["hooks"]),
        )
    Console().print(table)
