"""The front door stays true: committed schema, documented settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from crm_graph.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_schema_graphql_is_the_exported_schema_of_core_and_bundled_plugins(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        "CRM_DISABLED_PLUGINS": "loyalty",  # the example partner plugin is not bundled
    }
    env.pop("CRM_PLUGINS", None)
    exported = subprocess.run(
        [sys.executable, "-m", "crm_graph", "schema", "export"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    committed = (ROOT / "schema.graphql").read_text()
    assert exported == committed, "schema.graphql drifted: run `make schema` and commit it"


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"`CRM_{name.upper()}`" in readme, (
            f"CRM_{name.upper()} is not documented in README.md"
        )


def _command_paths(command: object, prefix: str = "crm-graph") -> list[str]:
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        return [prefix]
    return [
        path
        for name, sub in subcommands.items()
        for path in _command_paths(sub, f"{prefix} {name}")
    ]


def test_every_cli_command_is_documented_in_the_readme() -> None:
    import typer

    from crm_graph.cli import app

    readme = (ROOT / "README.md").read_text()
    for path in _command_paths(typer.main.get_command(app)):
        assert f"`{path}" in readme, f"{path} is not documented in README.md"
