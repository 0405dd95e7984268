"""Loading the analytics plugin, as every ``crm-graph`` command and the server do, leaves scipy
and scikit-learn unloaded (about 100 MB and a second): they load when a model is trained,
evaluated or scored. numpy is not among them: core's duplicate matcher (domain/matching.py)
scores every customer write with it."""

from __future__ import annotations

import os
import subprocess
import sys

# What ``crm-graph`` does before any command runs, then what ``crm-graph serve`` builds.
LOAD_LIKE_THE_CLI = """
import sys

from crm_graph.web.app import create_app
from crm_graph.cli import add_plugin_commands, app
from crm_graph.plugins_manager import create_plugin_manager
from crm_graph.settings import Settings

plugins = create_plugin_manager(Settings())
assert "analytics" in plugins.names, plugins.names  # with every other bundled plugin
add_plugin_commands(app, plugins)
assert "analytics" in [group.name for group in app.registered_groups]
schema = str(create_app(Settings()).state.schema)
assert "trainAnalyticsModels" in schema and "churnRisk" in schema
print(" ".join(name for name in ("scipy", "sklearn") if name in sys.modules))
"""


def test_loading_the_plugin_does_not_import_the_models_libraries(
    cli_env: dict[str, str],
) -> None:
    env = {**os.environ, **cli_env}
    env.pop("CRM_PLUGINS", None)
    result = subprocess.run(
        [sys.executable, "-c", LOAD_LIKE_THE_CLI],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported at start-up: {result.stdout.strip()}"
