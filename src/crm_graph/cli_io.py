"""``crm-graph import`` and ``crm-graph export``: files in and out of the configured database.

Exit status of an import: 0 when every row was accepted, 1 when rows were rejected (see
``FILE.rejects.csv``), 2 when the file cannot be imported at all.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from contextlib import ExitStack
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated

import click
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text
from typer.core import TyperCommand

from crm_graph.db.engine import create_engine
from crm_graph.domain.errors import Collector
from crm_graph.domain.values import parse_datetime
from crm_graph.io.exporters import export
from crm_graph.io.importer import DEFAULT_BATCH, ImportOptions, Summary, run_import
from crm_graph.io.kinds import CORE_KINDS, KindConflict, data_kinds
from crm_graph.io.sources import SourceError, detect_format
from crm_graph.plugins_manager import PluginError, PluginSet, create_plugin_manager
from crm_graph.settings import Settings

io_app = typer.Typer()
err = Console(stderr=True)
SHOWN_COLUMNS = 20  # ignored columns named in the report; a wide file's are counted


def _kind_names() -> list[str]:
    """The kinds of the registry (:mod:`crm_graph.io.kinds`): the core's and those the enabled
    plugins add, looked up when the command line needs them (they follow ``CRM_PLUGINS``)."""
    try:
        return list(data_kinds(_plugins()))
    except (PluginError, ValidationError, KindConflict):
        return [kind.name for kind in CORE_KINDS]  # the command itself reports the problem


def _known_kind(value: str) -> str:
    kinds = _kind_names()
    if value not in kinds:
        raise typer.BadParameter(f"{value!r} is not one of: {', '.join(kinds)}")
    return value


class KindCommand(TyperCommand):
    """A command taking a ``KIND`` whose help names every kind there is, plugins' too."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        for param in self.params:
            if param.name == "kind":
                param.help = f"{KIND_HELP}: {', '.join(_kind_names())}."
        super().format_help(ctx, formatter)


def _plugins() -> PluginSet:
    return create_plugin_manager(Settings())


KIND_HELP = "The kind of records (an enabled plugin may add kinds)"


class Format(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


class RowsColumn(ProgressColumn):
    """Rows read and rows per second."""

    def render(self, task: Task) -> Text:
        rows = task.fields.get("rows", 0)
        rate = rows / task.elapsed if task.elapsed else 0.0
        return Text(f"{rows:,} rows  {rate:,.0f} rows/s", style="progress.data.speed")


@io_app.command("import", cls=KindCommand)
def import_command(
    kind: Annotated[str, typer.Argument(help=KIND_HELP, callback=_known_kind)],
    file: Annotated[Path, typer.Argument(help="CSV with a header row, or JSON Lines.")],
    format: Annotated[
        Format | None, typer.Option(help="Default: jsonl for .jsonl/.ndjson, csv otherwise.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Validate everything and report the counts; write nothing.")
    ] = False,
    strict: Annotated[
        bool, typer.Option(help="Any rejected row aborts the import with nothing written.")
    ] = False,
    create_customers: Annotated[
        bool,
        typer.Option(help="Create customers that orders or interactions refer to but are absent."),
    ] = True,
    batch_size: Annotated[int, typer.Option(min=1, max=50_000, help="Rows per batch.")] = (
        DEFAULT_BATCH
    ),
    delimiter: Annotated[str, typer.Option(help="CSV cell separator.")] = ",",
    encoding: Annotated[str, typer.Option(help="Text encoding of the file.")] = "utf-8-sig",
) -> None:
    """Import customers, products, orders, interactions or a plugin's kind (importing twice is a
    no-op).

    Rejected rows go to FILE.rejects.csv with their row number and the reason.
    """
    settings = Settings()
    plugins = _plugins_or_exit()
    options = ImportOptions(
        kind=kind,
        path=file,
        format=(format.value if format else detect_format(file)),
        batch_size=batch_size,
        dry_run=dry_run,
        strict=strict,
        create_customers=create_customers,
        delimiter=delimiter,
        encoding=encoding,
    )

    async def run() -> Summary:
        engine = create_engine(settings.database_url)
        try:
            with ExitStack() as stack:
                progress = _progress_bar(stack, kind, file)
                return await run_import(engine, settings, options, progress, plugins)
        finally:
            await engine.dispose()

    try:
        summary = asyncio.run(run())
    except SourceError as exc:
        err.print(f"[red]error:[/red] {file}: {exc}")
        raise typer.Exit(2) from exc
    _report(summary, options)
    if summary.rejected:
        raise typer.Exit(1)


def _plugins_or_exit() -> PluginSet:
    """The enabled plugins, whose kinds join the core's; a problem with them exits with 2."""
    try:
        plugins = _plugins()
        data_kinds(plugins)
    except (PluginError, ValidationError, KindConflict) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    return plugins


def _progress_bar(stack: ExitStack, kind: str, file: Path) -> Callable[[int, int], None] | None:
    """A live bar on a terminal (bytes read, rows, rows/s); nothing when output is redirected."""
    if not err.is_terminal:
        return None
    bar = stack.enter_context(
        Progress(
            TextColumn(f"importing {kind}"),
            BarColumn(),
            TaskProgressColumn(),
            RowsColumn(),
            TimeElapsedColumn(),
            console=err,
        )
    )
    task = bar.add_task("import", total=file.stat().st_size if file.is_file() else None, rows=0)

    def advance(rows: int, position: int) -> None:
        bar.update(task, completed=position, rows=rows)

    return advance


def _report(summary: Summary, options: ImportOptions) -> None:
    say = partial(err.print, soft_wrap=True)
    say(
        f"{summary.rows} rows read; {summary.kind}: {summary.inserted} inserted, "
        f"{summary.updated} updated, {summary.unchanged} unchanged; "
        f"{summary.rejected} rows rejected"
    )
    if summary.created_customers:
        say(f"{summary.created_customers} customers created from references")
    if summary.ignored_columns:
        ignored = summary.ignored_columns
        more = f" and {len(ignored) - SHOWN_COLUMNS} more" if len(ignored) > SHOWN_COLUMNS else ""
        say(f"ignored columns: {', '.join(ignored[:SHOWN_COLUMNS])}{more}")
    if summary.rejects_path is not None:
        say(f"rejected rows, with the reasons: {summary.rejects_path}")
    if options.dry_run:
        say("dry run: nothing was written")
    elif options.strict and summary.rejected:
        say("[red]strict: rows were rejected, so nothing was written[/red]")


@io_app.command("export", cls=KindCommand)
def export_command(
    kind: Annotated[str, typer.Argument(help=KIND_HELP, callback=_known_kind)],
    format: Annotated[Format, typer.Option(help="csv or jsonl.")] = Format.csv,
    since: Annotated[
        str | None, typer.Option(help="Only records changed since (ISO 8601 or YYYYMMDD).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    escape_formulas: Annotated[
        bool,
        typer.Option(
            help="CSV: prefix cells a spreadsheet would run as formulas (=, +, -, @, tab, CR; "
            "not numbers) with ' (the import removes it)."
        ),
    ] = True,
) -> None:
    """Export records in the import's format (what is exported imports back the same)."""
    settings = Settings()
    plugins = _plugins_or_exit()
    errors = Collector()
    changed_since = parse_datetime(since, errors, "--since") if since is not None else None
    if errors.errors:
        err.print(f"[red]error:[/red] --since: {errors.errors[0].message}")
        raise typer.Exit(2)

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            with ExitStack() as stack:
                out = (
                    stack.enter_context(output.open("w", newline="", encoding="utf-8"))
                    if output is not None
                    else sys.stdout
                )
                return await export(
                    engine,
                    data_kinds(plugins)[kind],
                    out,
                    format.value,
                    changed_since,
                    escape_formulas=escape_formulas,
                )
        finally:
            await engine.dispose()

    count = asyncio.run(run())
    err.print(f"exported {count} {kind}" + (f" to {output}" if output else ""), soft_wrap=True)
