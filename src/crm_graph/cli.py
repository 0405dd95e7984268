"""The ``crm-graph`` command: serve, migrate, demo, schema export, plugins list."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Annotated, NoReturn

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from crm_graph.auth.link_tokens import MissingSecretKey, secret_key
from crm_graph.cli_duplicates import duplicates_app
from crm_graph.cli_io import io_app
from crm_graph.cli_keys import keys_app
from crm_graph.db.engine import create_engine
from crm_graph.db.migrate import upgrade
from crm_graph.plugins_manager import PluginError, PluginSet, create_plugin_manager
from crm_graph.runtime import open_app
from crm_graph.schema.build import build_schema
from crm_graph.settings import Settings
from crm_graph.web.http_protocol import PROTOCOL as HTTP_PROTOCOL
from crm_graph.web.websocket_protocol import PROTOCOL

app = typer.Typer(help="crm-graph: a CRM backend served as a GraphQL API.", no_args_is_help=True)
schema_app = typer.Typer(help="The composed GraphQL schema.", no_args_is_help=True)
plugins_app = typer.Typer(help="Installed plugins.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(plugins_app, name="plugins")
app.add_typer(io_app)  # import, export
app.add_typer(keys_app, name="keys")
app.add_typer(duplicates_app, name="duplicates")
err = Console(stderr=True)


def _refuse(exc: Exception) -> NoReturn:
    err.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(2) from exc


def _plugins(settings: Settings) -> PluginSet:
    try:
        return create_plugin_manager(settings)
    except PluginError as exc:
        _refuse(exc)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    scheduler: Annotated[
        bool, typer.Option(help="Run plugins' scheduled jobs in this process (CRM_SCHEDULER).")
    ] = True,
) -> None:
    """Serve GraphQL at http://HOST:PORT/graphql."""
    if not scheduler:  # the workers read their settings from the environment
        os.environ["CRM_SCHEDULER"] = "false"
    settings = Settings()
    # Fail fast, with a clear message, before uvicorn starts workers.
    _plugins(settings)
    try:
        secret_key(settings)
    except MissingSecretKey as exc:
        _refuse(exc)
    uvicorn.run(
        "crm_graph.web.asgi:app",
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_level="info",
        access_log=settings.access_log,
        proxy_headers=False,  # X-Forwarded-For only from CRM_TRUSTED_PROXIES (see web/app.py)
        # Compression is per socket: it would redo, for every subscriber, the work that shared
        # event answers do once (crm_graph.schema.fanout), to save little on small messages.
        ws_per_message_deflate=False,
        ws=PROTOCOL,  # lets the event hub write shared answers to idle sockets at once
        http=HTTP_PROTOCOL,  # a response's head and body in one write
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
    customers: Annotated[int, typer.Option(help="How many demo customers.", min=1)] = 400,
    seed: Annotated[int, typer.Option(help="Random seed (the data is deterministic).")] = 7,
) -> None:
    """Seed deterministic demo data into the configured database (idempotent), then each
    enabled plugin's (e.g. analytics trains its models)."""
    from crm_graph.demo import plugin_demo_data, seed_demo

    async def run() -> list[str]:
        async with open_app(Settings()) as app:
            summary = await seed_demo(app.engine, customers=customers, seed=seed)
            return [summary, *await plugin_demo_data(app, seed)]

    try:
        lines = asyncio.run(run())
    except PluginError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    for line in lines:
        err.print(line, soft_wrap=True)


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


def _command_names(cli: typer.Typer) -> list[str]:
    names = [c.name or c.callback.__name__.replace("_", "-") for c in cli.registered_commands]
    return names + [g.name for g in cli.registered_groups if g.name]


def add_plugin_commands(cli: typer.Typer, plugins: PluginSet) -> None:
    """Let every enabled plugin add its commands (``crm_cli``); a name used twice stops here."""
    plugins.hook.crm_cli(cli=cli)
    names = _command_names(cli)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise PluginError(f"plugins add commands whose names are taken: {', '.join(twice)}")


def main() -> None:
    """The ``crm-graph`` entry point: the core commands plus those enabled plugins add."""
    try:
        plugins = create_plugin_manager(Settings())
    except (PluginError, ValidationError):
        plugins = None  # the core commands report the problem themselves
    if plugins is not None:
        try:
            add_plugin_commands(app, plugins)
        except PluginError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise SystemExit(2) from exc
    app()
