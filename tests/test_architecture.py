"""The import contracts of pyproject.toml hold: the layers, and plugins use only the plugin API.

`make lint` runs `lint-imports` too; this test makes a broken contract fail the suite itself.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import crm_graph

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_plugins_are_forbidden_every_crm_graph_module_but_the_plugin_api() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["id"] == "plugins")
    modules = {f"crm_graph.{m.name}" for m in pkgutil.iter_modules(crm_graph.__path__)}
    assert set(contract["forbidden_modules"]) == modules - {"crm_graph.plugin"}
