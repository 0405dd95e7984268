"""``crm-graph keys``: create, list and revoke API keys from the command line.

Each change is written with an audit row (actor ``system``), like the GraphQL mutations.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from crm_graph.auth import keys
from crm_graph.auth.permissions import build_policy
from crm_graph.auth.unit import recorded
from crm_graph.db.models import utcnow
from crm_graph.domain import api_keys
from crm_graph.domain.errors import ValidationFailed
from crm_graph.plugins_manager import PluginError
from crm_graph.runtime import open_app

keys_app = typer.Typer(
    help="API keys (sent as `Authorization: Bearer <key>`).", no_args_is_help=True
)
err = Console(stderr=True)
DURATION = re.compile(r"^(\d+)([dhm])$")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_expiry(text: str) -> datetime:
    """``30d``, ``12h``, ``90m`` from now, or an ISO 8601 date or time (UTC when unzoned)."""
    match = DURATION.match(text.strip())
    if match:
        return utcnow() + timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise typer.BadParameter("use 30d, 12h, 90m or an ISO 8601 date/time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _run(work: Any) -> Any:
    """Run ``work(app)`` on an app opened from the environment; user errors exit with 2."""

    async def main() -> Any:
        async with open_app() as app:
            return await work(app)

    try:
        return asyncio.run(main())
    except (ValidationFailed, PluginError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


@keys_app.command("create")
def create(
    role: Annotated[str, typer.Option(help="The key's role, e.g. admin, sales, integration.")],
    name: Annotated[str | None, typer.Option(help="Unique among active keys.")] = None,
    user: Annotated[
        str | None, typer.Option(help="Owner id for the records it creates (default: the name).")
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="30d, 12h, 90m or an ISO 8601 time; default: never.")
    ] = None,
    replace: Annotated[
        bool, typer.Option(help="Revoke the active key of the same name first.")
    ] = False,
) -> None:
    """Create a key and print it, alone on the last line: it is never shown again."""
    expires_at = parse_expiry(expires) if expires else None
    key_name = name or f"{role}-{secrets.token_hex(3)}"

    async def work(app: Any) -> tuple[Any, str]:
        roles = set(build_policy(app.settings, app.plugins).roles)
        async with app.write() as session, recorded(session, app.settings, "createApiKey", None):
            return await api_keys.create_key(
                session,
                name=key_name,
                role=role,
                roles=roles,
                user_id=user,
                expires_at=expires_at,
                replace=replace,
            )

    key, secret = _run(work)
    until = key.expires_at.isoformat() if key.expires_at else "never"
    sys.stdout.write(
        f"API key {key.name!r} (id {key.id}, role {key.role}, user {key.user_id}, "
        f"expires {until}); store it now, it is not shown again:\n{secret}\n"
    )


@keys_app.command("list")
def list_keys(
    include_revoked: Annotated[bool, typer.Option("--all", help="Show revoked keys too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List keys (never their secrets)."""

    async def work(app: Any) -> list[Any]:
        async with app.read() as session:
            return await keys.list_keys(session, include_revoked)

    rows = [
        {
            "id": k.id,
            "name": k.name,
            "role": k.role,
            "userId": k.user_id,
            "prefix": k.prefix,
            "createdAt": k.created_at.isoformat(),
            "expiresAt": k.expires_at.isoformat() if k.expires_at else None,
            "lastUsedAt": k.last_used_at.isoformat() if k.last_used_at else None,
            "revokedAt": k.revoked_at.isoformat() if k.revoked_at else None,
        }
        for k in _run(work)
    ]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(*rows[0].keys()) if rows else Table("id", "name", "role")
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row.values()))
    Console().print(table)


@keys_app.command("revoke")
def revoke(name_or_id: Annotated[str, typer.Argument(metavar="NAME_OR_ID")]) -> None:
    """Revoke a key: it is refused from its very next request."""

    async def work(app: Any) -> Any:
        async with app.write() as session, recorded(session, app.settings, "revokeApiKey", None):
            return await api_keys.revoke_key(session, name_or_id)

    key = _run(work)
    err.print(f"revoked API key {key.name!r} (id {key.id})")
